package netguard

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		parse func(f *os.File) []netip.Addr
		want  []string
	}{
		// This machine's tables: a TEST-NET-1 network and a ULA one.
		{"testdata/proc/route", func(f *os.File) []netip.Addr { return parseRoute4(f) }, []string{"192.0.2.1"}},
		{"testdata/proc/ipv6_route", func(f *os.File) []netip.Addr { return parseRoute6(f) }, []string{"fd00::1"}},
		// Two default routes, one through a public router; routes to a
		// network (10.0.0.0/8 via 10.0.0.1) are not default routes.
		{"testdata/proc/route-public", func(f *os.File) []netip.Addr { return parseRoute4(f) }, []string{"81.34.69.1", "192.168.1.254"}},
	}
	for _, tt := range tests {
		f, err := os.Open(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range tt.parse(f) {
			got = append(got, a.String())
		}
		f.Close()
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: gateways %q, want %q", tt.file, got, tt.want)
		}
	}
}

// TestCheckRefusesThisHost checks that every address of this machine's
// interfaces, and its default gateway, is refused, whatever range it is in.
func TestCheckRefusesThisHost(t *testing.T) {
	t.Parallel()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("no interface addresses here: %v", err)
	}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		if err := Check(nil, "h", p.Addr()); !IsBlocked(err) {
			t.Errorf("this host's address %s was allowed", p.Addr())
		}
	}
	if f, err := os.Open("/proc/net/route"); err == nil {
		for _, gw := range parseRoute4(f) {
			if err := Check(nil, "h", gw); !IsBlocked(err) {
				t.Errorf("the default gateway %s was allowed", gw)
			}
		}
		f.Close()
	}
}

// TestHostAddrs checks the host rule on a public address, which only this
// rule refuses, and that the list is reloaded once it is old and not
// before.
func TestHostAddrs(t *testing.T) {
	t.Parallel()
	own, gw, other := netip.MustParseAddr("81.34.69.20"), netip.MustParseAddr("81.34.69.1"), netip.MustParseAddr("81.34.69.21")
	var loads atomic.Int32
	h := &hostAddrs{maxAge: time.Hour, load: func() map[netip.Addr]string {
		loads.Add(1)
		return map[netip.Addr]string{own: ReasonThisHost, gw: ReasonGateway}
	}}
	tests := []struct {
		ip       netip.Addr
		want     string
		embedded bool
	}{
		{own, ReasonThisHost, false},
		{gw, ReasonGateway, false},
		{other, "", false},
		{netip.MustParseAddr("::ffff:81.34.69.20"), ReasonThisHost, false},
		{netip.MustParseAddr("2002:5122:4514::1"), ReasonThisHost, true},
		{netip.MustParseAddr("64:ff9b::5122:4501"), ReasonGateway, true},
	}
	for _, tt := range tests {
		got, emb := classify(tt.ip, h)
		if got != tt.want || emb.IsValid() != tt.embedded {
			t.Errorf("classify(%s) = %q %v, want %q (embedded %v)", tt.ip, got, emb, tt.want, tt.embedded)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("%d loads for checks within maxAge, want 1", n)
	}
	old := h.snap.Load()
	h.snap.Store(&hostSnapshot{addrs: old.addrs, at: old.at.Add(-2 * time.Hour)})
	classify(other, h)
	if n := loads.Load(); n != 2 {
		t.Errorf("%d loads after the list aged, want 2", n)
	}
}
