package netguard

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// hostRefresh is how old the list of this host's addresses may grow before
// a check reloads it, so that an address added to an interface while the
// server runs is refused within that time.
const hostRefresh = 10 * time.Second

// hostAddrs knows this host's own addresses (those of its interfaces) and
// its default gateways, which a flow must not reach although they may be
// public: a service bound to all interfaces answers on each of them, and
// the gateway is often a router with an admin page. The list is loaded on
// the first check and reloaded, by one caller at a time while the others
// use the previous list, once it is older than maxAge.
type hostAddrs struct {
	// load returns the addresses, each with the Reason it is refused for.
	load   func() map[netip.Addr]string
	maxAge time.Duration

	mu   sync.Mutex // held by the one caller that reloads
	snap atomic.Pointer[hostSnapshot]
}

// hostSnapshot is one load of the host's addresses.
type hostSnapshot struct {
	addrs map[netip.Addr]string
	at    time.Time
}

// thisHost is the running host's addresses, used by Check.
var thisHost = &hostAddrs{load: loadHostAddrs, maxAge: hostRefresh}

// warm loads the addresses now if they were never loaded, so that the
// first dial does not pay for it.
func (h *hostAddrs) warm() {
	if h.snap.Load() == nil {
		h.reload(nil)
	}
}

// reason returns why ip is one of the host's addresses (ReasonThisHost or
// ReasonGateway), or "". ip is unmapped and without zone.
func (h *hostAddrs) reason(ip netip.Addr) string {
	s := h.snap.Load()
	if s == nil || time.Since(s.at) > h.maxAge {
		s = h.reload(s)
	}
	return s.addrs[ip]
}

// reload loads the addresses unless another caller is doing so; then it
// returns old, or waits for the first load when there is none.
func (h *hostAddrs) reload(old *hostSnapshot) *hostSnapshot {
	if old != nil && !h.mu.TryLock() {
		return old
	}
	if old == nil {
		h.mu.Lock()
	}
	defer h.mu.Unlock()
	if s := h.snap.Load(); s != nil && s != old && time.Since(s.at) <= h.maxAge {
		return s // loaded by the caller we waited for
	}
	s := &hostSnapshot{addrs: h.load(), at: time.Now()}
	h.snap.Store(s)
	return s
}

// loadHostAddrs reads the addresses of the host's interfaces and, on
// Linux, its default gateways. What cannot be read is left out: the
// registries still refuse the private and loopback addresses most hosts
// have.
func loadHostAddrs() map[netip.Addr]string {
	out := map[netip.Addr]string{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out[p.Addr().WithZone("").Unmap()] = ReasonThisHost
			}
		}
	}
	for _, file := range []struct {
		path  string
		parse func(io.Reader) []netip.Addr
	}{{"/proc/net/route", parseRoute4}, {"/proc/net/ipv6_route", parseRoute6}} {
		f, err := os.Open(file.path)
		if err != nil {
			continue
		}
		for _, gw := range file.parse(f) {
			if _, own := out[gw]; !own {
				out[gw] = ReasonGateway
			}
		}
		f.Close()
	}
	return out
}

// parseRoute4 returns the gateways of the default routes in a Linux
// /proc/net/route table: rows of interface, destination, gateway, flags,
// ..., mask, with addresses printed as 8 hex digits of a number in the
// host's byte order.
func parseRoute4(r io.Reader) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		v, err := strconv.ParseUint(f[2], 16, 32)
		if err != nil {
			continue
		}
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], uint32(v))
		gw := netip.AddrFrom4(b)
		if !gw.IsUnspecified() {
			out = append(out, gw)
		}
	}
	return out
}

// parseRoute6 returns the gateways of the default routes in a Linux
// /proc/net/ipv6_route table: rows of destination, prefix length, source,
// source prefix length, next hop, ..., with addresses as 32 hex digits in
// network order.
func parseRoute6(r io.Reader) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[1] != "00" || strings.Trim(f[0], "0") != "" {
			continue
		}
		b, err := hex.DecodeString(f[4])
		if err != nil || len(b) != 16 {
			continue
		}
		gw := netip.AddrFrom16([16]byte(b)).Unmap()
		if !gw.IsUnspecified() {
			out = append(out, gw)
		}
	}
	return out
}
