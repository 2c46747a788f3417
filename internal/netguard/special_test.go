package netguard

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// noHost classifies without the host's own addresses, so that the tables
// below hold on any machine.
var noHost = &hostAddrs{maxAge: 1 << 62, load: func() map[netip.Addr]string { return nil }}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		bit := i * 8
		switch {
		case bit >= p.Bits():
			b[i] = 0xff
		case bit+8 > p.Bits():
			b[i] |= 0xff >> (p.Bits() - bit)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestSpecialTable checks the first and last address of every range of the
// registries: a range that is not globally reachable is refused with its
// reason, a global one is reached unless a more specific range or the IPv4
// address it carries says otherwise.
func TestSpecialTable(t *testing.T) {
	t.Parallel()
	for _, r := range special {
		if r.prefix.Addr().Is4In6() {
			continue // IPv4-mapped addresses are checked as IPv4 addresses
		}
		for _, ip := range []netip.Addr{r.prefix.Addr(), lastAddr(r.prefix)} {
			want := r.reason
			if inner, _ := lookupSpecial(ip); inner.prefix != r.prefix {
				want = inner.reason // an address shared with a more specific range
			}
			if isMetadata(ip) {
				want = ReasonMetadata
			}
			got, emb := classify(ip, noHost)
			if emb.IsValid() {
				continue // checked in TestEmbeddedIPv4
			}
			if got != want {
				t.Errorf("%s (%s, %s): reason %q, want %q", ip, r.name, r.rfc, got, want)
			}
		}
	}
}

// TestCheckRegistries lists the addresses of the issue that passed the
// guard, and a sample of each class, with the reason each is refused for.
func TestCheckRegistries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip, want string
	}{
		// Reported as passing.
		{"::127.0.0.1", ReasonLoopback},
		{"2002:7f00:1::", ReasonLoopback},
		{"2002:c000:0201::1", ReasonDocumentation},
		{"fec0::1", ReasonPrivate},
		{"::ffff:0:7f00:1", ReasonLoopback},
		{"::ffff:0:808:808", ReasonReserved},
		{"192.0.2.1", ReasonDocumentation},
		{"198.18.0.1", ReasonBenchmarking},
		{"198.19.255.255", ReasonBenchmarking},
		{"240.0.0.1", ReasonReserved},
		{"255.255.255.254", ReasonReserved},
		// IPv4 registry.
		{"192.0.0.1", ReasonReserved},
		{"192.0.0.8", ReasonReserved},
		{"192.0.0.9", ""},
		{"192.0.0.10", ""},
		{"192.0.0.170", ReasonReserved},
		{"192.0.0.255", ReasonReserved},
		{"192.31.196.1", ""},
		{"192.52.193.1", ""},
		{"192.88.99.1", ReasonReserved},
		{"192.175.48.1", ""},
		{"198.51.100.7", ReasonDocumentation},
		{"203.0.113.7", ReasonDocumentation},
		{"239.255.255.255", ReasonMulticast},
		{"1.1.1.1", ""},
		// IPv6 registry.
		{"64:ff9b:1::808:808", ReasonPrivate},
		{"100::1", ReasonReserved},
		{"100:0:0:1::1", ReasonReserved},
		{"2001:1::1", ""},
		{"2001:1::4", ReasonReserved},
		{"2001:2::1", ReasonBenchmarking},
		{"2001:3::1", ""},
		{"2001:4:112::1", ""},
		{"2001:10::1", ReasonReserved},
		{"2001:20::1", ""},
		{"2001:30::1", ""},
		{"2001:db8::1", ReasonDocumentation},
		{"2620:4f:8000::1", ""},
		{"3fff::1", ReasonDocumentation},
		{"3fff:fff::1", ReasonDocumentation},
		{"5f00::1", ReasonReserved},
		{"ff05::2", ReasonMulticast},
		// Outside 2000::/3: unassigned.
		{"4000::1", ReasonReserved},
		{"1::1", ReasonReserved},
		{"e000::1", ReasonReserved},
		{"2a00:1450:4001::1", ""},
	}
	for _, tt := range tests {
		got, _ := classify(netip.MustParseAddr(tt.ip), noHost)
		if got != tt.want {
			t.Errorf("classify(%s) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

// embed4 builds the IPv6 forms that carry an IPv4 address.
var embed4 = []struct {
	name string
	// global: the form itself is globally reachable, so a public IPv4
	// address in it is reached.
	global bool
	make   func(v4 [4]byte) netip.Addr
}{
	{"IPv4-compatible", false, func(v [4]byte) netip.Addr {
		return netip.AddrFrom16([16]byte{12: v[0], 13: v[1], 14: v[2], 15: v[3]})
	}},
	{"IPv4-translated", false, func(v [4]byte) netip.Addr {
		return netip.AddrFrom16([16]byte{8: 0xff, 9: 0xff, 12: v[0], 13: v[1], 14: v[2], 15: v[3]})
	}},
	{"NAT64", true, func(v [4]byte) netip.Addr {
		return netip.AddrFrom16([16]byte{0: 0, 1: 0x64, 2: 0xff, 3: 0x9b, 12: v[0], 13: v[1], 14: v[2], 15: v[3]})
	}},
	{"NAT64 local use", false, func(v [4]byte) netip.Addr {
		return netip.AddrFrom16([16]byte{1: 0x64, 2: 0xff, 3: 0x9b, 5: 1, 12: v[0], 13: v[1], 14: v[2], 15: v[3]})
	}},
	{"6to4", true, func(v [4]byte) netip.Addr {
		return netip.AddrFrom16([16]byte{0: 0x20, 1: 0x02, 2: v[0], 3: v[1], 4: v[2], 5: v[3], 15: 1})
	}},
	{"Teredo client", true, func(v [4]byte) netip.Addr {
		// Server 8.8.8.8; the client address and port are inverted.
		return netip.AddrFrom16([16]byte{0: 0x20, 1: 0x01, 4: 8, 5: 8, 6: 8, 7: 8, 10: 0xff, 11: 0xff, 12: ^v[0], 13: ^v[1], 14: ^v[2], 15: ^v[3]})
	}},
	{"Teredo server", true, func(v [4]byte) netip.Addr {
		return netip.AddrFrom16([16]byte{0: 0x20, 1: 0x01, 4: v[0], 5: v[1], 6: v[2], 7: v[3], 12: ^byte(8), 13: ^byte(8), 14: ^byte(4), 15: ^byte(4)})
	}},
	{"IPv4-mapped", true, func(v [4]byte) netip.Addr {
		return netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: v[0], 13: v[1], 14: v[2], 15: v[3]})
	}},
}

// TestEmbeddedIPv4 checks every IPv6 form that carries an IPv4 address:
// a refused IPv4 address is refused in every form, with the reason of the
// IPv4 address and the address named in the error; a public one is reached
// in the forms that are themselves global.
func TestEmbeddedIPv4(t *testing.T) {
	t.Parallel()
	refused := map[string]string{
		"127.0.0.1":       ReasonLoopback,
		"10.1.2.3":        ReasonPrivate,
		"169.254.169.254": ReasonMetadata,
		"192.0.2.33":      ReasonDocumentation,
		"198.18.5.5":      ReasonBenchmarking,
		"240.1.2.3":       ReasonReserved,
		"100.64.0.1":      ReasonCGNAT,
	}
	for _, form := range embed4 {
		for v4, want := range refused {
			ip := form.make(netip.MustParseAddr(v4).As4())
			err := Check(nil, "h", ip)
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Errorf("%s %s (%s) was allowed", form.name, ip, v4)
				continue
			}
			if be.Reason != want {
				t.Errorf("%s %s: reason %q, want %q", form.name, ip, be.Reason, want)
			}
			if form.name != "IPv4-mapped" && (be.Embedded.String() != v4 || !strings.Contains(be.Error(), "carries the IPv4 address "+v4)) {
				t.Errorf("%s %s: error %q does not name %s", form.name, ip, be.Error(), v4)
			}
		}
		ip := form.make(netip.MustParseAddr("8.8.4.4").As4())
		if got, _ := classify(ip, noHost); (got == "") != form.global {
			t.Errorf("%s %s carrying a public address: reason %q", form.name, ip, got)
		}
	}
}

// FuzzClassify checks that classify never panics, that an IPv6 address is
// refused whenever an IPv4 address it carries is, and that every embedding
// of a refused IPv4 address is refused.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"::127.0.0.1", "2002:7f00:1::", "2001:0:808:808:0:ffff:80ff:fffe", "64:ff9b::a00:1", "64:ff9b:1:a00:1::",
		"::ffff:0:7f00:1", "fec0::1", "2606:4700:4700::1111", "8.8.8.8", "192.0.2.1", "::", "::1", "fe80::1%eth0",
	} {
		f.Add(netip.MustParseAddr(s).AsSlice())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		reason, emb := classify(ip, noHost)
		if !ok {
			if reason != ReasonInvalid {
				t.Fatalf("invalid address %x: reason %q", b, reason)
			}
			return
		}
		if emb.IsValid() && (!emb.Is4() || reason == "") {
			t.Fatalf("%s: embedded %s with reason %q", ip, emb, reason)
		}
		for _, v4 := range embeddedIPv4(ip.Unmap()) {
			if r, _ := classify(v4, noHost); r != "" && reason == "" {
				t.Fatalf("%s is allowed but carries %s, refused as %s", ip, v4, r)
			}
		}
		if ip.Is4() {
			if r, _ := classify(ip, noHost); r != "" {
				for _, form := range embed4 {
					if got, _ := classify(form.make(ip.As4()), noHost); got == "" {
						t.Fatalf("%s is refused as %s but its %s form %s is allowed", ip, r, form.name, form.make(ip.As4()))
					}
				}
			}
		}
	})
}

// TestSecurityDocListsEveryRange checks that docs/security.md shows every
// range of the table, so that the two cannot drift apart.
func TestSecurityDocListsEveryRange(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range special {
		text := r.prefix.String()
		if r.prefix.Addr().Is4In6() {
			text = "::ffff:0:0/96"
		}
		if !strings.Contains(string(doc), "| `"+text+"` | "+r.name+" |") {
			t.Errorf("docs/security.md does not list %s (%s)", text, r.name)
		}
	}
}
