package netguard

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseAllow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{" , ,", ""},
		{"127.0.0.1/32", "127.0.0.1"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"::1", "::1"},
		{"[::1]", "::1"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"fe80::1%eth0", "fe80::1"},
		{"fd00::/8", "fd00::/8"},
		{"LocalHost", "localhost"},
		{"api.corp.example.", "api.corp.example"},
		{"*.Corp.Example", "*.corp.example"},
		{"localhost, 10.0.0.0/8 ,*.corp.example", "10.0.0.0/8,localhost,*.corp.example"},
		{"my_host", "my_host"},
	}
	for _, tt := range tests {
		a, err := ParseAllow(tt.in)
		if err != nil {
			t.Errorf("ParseAllow(%q): %v", tt.in, err)
			continue
		}
		if got := a.String(); got != tt.want {
			t.Errorf("ParseAllow(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseAllowErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, entry, why string
	}{
		{"10.0.0.0/33", "10.0.0.0/33", "CIDR"},
		{"localhost,10.0.0/8", "10.0.0/8", "CIDR"},
		{"10.0.0.256", "10.0.0.256", "not a valid IP"},
		{"1.2.3", "1.2.3", "not a valid IP"},
		{"localhost:8080", "localhost:8080", "ports are not supported"},
		{"host name", "host name", "unexpected character"},
		{"*", "*", "unexpected character"},
		{"*.", "*.", "unexpected character"},
		{"*..x", "*..x", "empty label"},
		{"a..b", "a..b", "empty label"},
		{"-a.example", "-a.example", "hyphen"},
		{"foo.*.example", "foo.*.example", "unexpected character"},
		{"http://x.example", "http://x.example", "CIDR"},
		{strings.Repeat("a", 64) + ".example", strings.Repeat("a", 64) + ".example", "63"},
	}
	for _, tt := range tests {
		_, err := ParseAllow(tt.in)
		if err == nil {
			t.Errorf("ParseAllow(%q) succeeded", tt.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `SLUICE_ALLOW_NET entry "`+tt.entry+`"`) || !strings.Contains(msg, tt.why) {
			t.Errorf("ParseAllow(%q) error = %q, want it to name %q and say %q", tt.in, msg, tt.entry, tt.why)
		}
	}
}

func TestAllowAllows(t *testing.T) {
	t.Parallel()
	a, err := ParseAllow("10.0.0.0/8,localhost,*.corp.example,169.254.169.254")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseAllow("*.corp.example")
	tests := []struct {
		allow *Allow
		host  string
		ip    string
		want  bool
	}{
		{a, "x", "10.9.9.9", true},
		{a, "x", "::ffff:10.9.9.9", true},
		{a, "x", "11.0.0.1", false},
		{a, "localhost", "127.0.0.1", true},
		{a, "LOCALHOST.", "::1", true},
		{a, "localhost.example", "127.0.0.1", false},
		{a, "api.corp.example", "192.168.1.1", true},
		{a, "a.b.CORP.example", "192.168.1.1", true},
		{a, "corp.example", "192.168.1.1", false},
		{a, "evilcorp.example", "192.168.1.1", false},
		{a, "x", "169.254.169.254", true},
		// A host-name entry never opens a metadata address.
		{b, "api.corp.example", "169.254.169.254", false},
		{b, "api.corp.example", "fd00:ec2::254", false},
		{nil, "localhost", "127.0.0.1", false},
	}
	for _, tt := range tests {
		if got := tt.allow.Allows(tt.host, netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("%v.Allows(%q, %s) = %v, want %v", tt.allow, tt.host, tt.ip, got, tt.want)
		}
	}
}

// FuzzParseAllow checks that ParseAllow never panics and that a parsed list
// survives a round trip through String.
func FuzzParseAllow(f *testing.F) {
	for _, s := range []string{
		"", "127.0.0.1/32", "localhost", "*.corp.example", "::1", "[::1]",
		"10.0.0.0/8, fd00::/8 ,LocalHost.", "fe80::1%eth0", "::ffff:10.0.0.0/104",
		"10.0.0.256", "a..b", "*", "host:80",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAllow(s)
		if err != nil {
			if a != nil {
				t.Fatalf("ParseAllow(%q) returned a list and an error", s)
			}
			return
		}
		canon := a.String()
		b, err := ParseAllow(canon)
		if err != nil {
			t.Fatalf("ParseAllow(%q) ok, but its String %q does not parse: %v", s, canon, err)
		}
		if b.String() != canon {
			t.Fatalf("round trip of %q: %q != %q", s, b.String(), canon)
		}
		for _, ip := range []string{"127.0.0.1", "169.254.169.254", "::1"} {
			if a.Allows("x.example", netip.MustParseAddr(ip)) != b.Allows("x.example", netip.MustParseAddr(ip)) {
				t.Fatalf("round trip of %q changed what %s allows", s, ip)
			}
		}
	})
}
