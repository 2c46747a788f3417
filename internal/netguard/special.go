package netguard

import (
	"net/netip"
	"slices"
)

// specialRange is one entry of the IANA special-purpose address registries
// (https://www.iana.org/assignments/iana-ipv4-special-registry and
// iana-ipv6-special-registry), or of the ranges those registries leave out
// but that no public service uses (multicast, deprecated forms).
type specialRange struct {
	prefix netip.Prefix
	// name is the registry's name for the range.
	name string
	// rfc is the registry's reference.
	rfc string
	// global is the registry's "Globally Reachable": a global range is
	// reached like any public address (its embedded IPv4 address, if any,
	// is still checked).
	global bool
	// reason is the Reason a refusal gives; empty when global.
	reason string
}

// special lists the IPv4 and IPv6 special-purpose ranges, most specific
// first (see init), so that the first range containing an address is the
// registry's answer for it. docs/security.md shows the same table.
var special = []specialRange{
	// IPv4 special-purpose address registry.
	{netip.MustParsePrefix("0.0.0.0/8"), `"This network"`, "RFC 791 §3.2", false, ReasonUnspecified},
	{netip.MustParsePrefix("0.0.0.0/32"), `"This host on this network"`, "RFC 1122 §3.2.1.3", false, ReasonUnspecified},
	{netip.MustParsePrefix("10.0.0.0/8"), "Private-Use", "RFC 1918", false, ReasonPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), "Shared Address Space", "RFC 6598", false, ReasonCGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), "Loopback", "RFC 1122 §3.2.1.3", false, ReasonLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), "Link Local", "RFC 3927", false, ReasonLinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), "Private-Use", "RFC 1918", false, ReasonPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF Protocol Assignments", "RFC 6890 §2.1", false, ReasonReserved},
	{netip.MustParsePrefix("192.0.0.0/29"), "IPv4 Service Continuity Prefix", "RFC 7335", false, ReasonReserved},
	{netip.MustParsePrefix("192.0.0.8/32"), "IPv4 dummy address", "RFC 7600", false, ReasonReserved},
	{netip.MustParsePrefix("192.0.0.9/32"), "Port Control Protocol Anycast", "RFC 7723", true, ""},
	{netip.MustParsePrefix("192.0.0.10/32"), "Traversal Using Relays around NAT Anycast", "RFC 8155", true, ""},
	{netip.MustParsePrefix("192.0.0.170/32"), "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", false, ReasonReserved},
	{netip.MustParsePrefix("192.0.0.171/32"), "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", false, ReasonReserved},
	{netip.MustParsePrefix("192.0.2.0/24"), "Documentation (TEST-NET-1)", "RFC 5737", false, ReasonDocumentation},
	{netip.MustParsePrefix("192.31.196.0/24"), "AS112-v4", "RFC 7535", true, ""},
	{netip.MustParsePrefix("192.52.193.0/24"), "AMT", "RFC 7450", true, ""},
	{netip.MustParsePrefix("192.88.99.0/24"), "Deprecated (6to4 Relay Anycast)", "RFC 7526", false, ReasonReserved},
	{netip.MustParsePrefix("192.168.0.0/16"), "Private-Use", "RFC 1918", false, ReasonPrivate},
	{netip.MustParsePrefix("192.175.48.0/24"), "Direct Delegation AS112 Service", "RFC 7534", true, ""},
	{netip.MustParsePrefix("198.18.0.0/15"), "Benchmarking", "RFC 2544", false, ReasonBenchmarking},
	{netip.MustParsePrefix("198.51.100.0/24"), "Documentation (TEST-NET-2)", "RFC 5737", false, ReasonDocumentation},
	{netip.MustParsePrefix("203.0.113.0/24"), "Documentation (TEST-NET-3)", "RFC 5737", false, ReasonDocumentation},
	{netip.MustParsePrefix("240.0.0.0/4"), "Reserved", "RFC 1112 §4", false, ReasonReserved},
	{netip.MustParsePrefix("255.255.255.255/32"), "Limited Broadcast", "RFC 8190, RFC 919 §7", false, ReasonBroadcast},
	// IPv4 multicast address space registry.
	{netip.MustParsePrefix("224.0.0.0/4"), "Multicast", "RFC 5771", false, ReasonMulticast},

	// IPv6 special-purpose address registry.
	{netip.MustParsePrefix("::1/128"), "Loopback Address", "RFC 4291", false, ReasonLoopback},
	{netip.MustParsePrefix("::/128"), "Unspecified Address", "RFC 4291", false, ReasonUnspecified},
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped Address", "RFC 4291", false, ReasonReserved},
	{netip.MustParsePrefix("64:ff9b::/96"), "IPv4-IPv6 Translat.", "RFC 6052", true, ""},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "IPv4-IPv6 Translat. (local use)", "RFC 8215", false, ReasonPrivate},
	{netip.MustParsePrefix("100::/64"), "Discard-Only Address Block", "RFC 6666", false, ReasonReserved},
	{netip.MustParsePrefix("100:0:0:1::/64"), "Dummy IPv6 Prefix", "RFC 9780", false, ReasonReserved},
	{netip.MustParsePrefix("2001::/23"), "IETF Protocol Assignments", "RFC 2928", false, ReasonReserved},
	{netip.MustParsePrefix("2001::/32"), "TEREDO", "RFC 4380, RFC 8190", true, ""},
	{netip.MustParsePrefix("2001:1::1/128"), "Port Control Protocol Anycast", "RFC 7723", true, ""},
	{netip.MustParsePrefix("2001:1::2/128"), "Traversal Using Relays around NAT Anycast", "RFC 8155", true, ""},
	{netip.MustParsePrefix("2001:1::3/128"), "DNS-SD Service Registration Protocol Anycast", "RFC 9665", true, ""},
	{netip.MustParsePrefix("2001:2::/48"), "Benchmarking", "RFC 5180", false, ReasonBenchmarking},
	{netip.MustParsePrefix("2001:3::/32"), "AMT", "RFC 7450", true, ""},
	{netip.MustParsePrefix("2001:4:112::/48"), "AS112-v6", "RFC 7535", true, ""},
	{netip.MustParsePrefix("2001:10::/28"), "Deprecated (previously ORCHID)", "RFC 4843", false, ReasonReserved},
	{netip.MustParsePrefix("2001:20::/28"), "ORCHIDv2", "RFC 7343", true, ""},
	{netip.MustParsePrefix("2001:30::/28"), "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", true, ""},
	{netip.MustParsePrefix("2001:db8::/32"), "Documentation", "RFC 3849", false, ReasonDocumentation},
	{netip.MustParsePrefix("2002::/16"), "6to4", "RFC 3056", true, ""},
	{netip.MustParsePrefix("2620:4f:8000::/48"), "Direct Delegation AS112 Service", "RFC 7534", true, ""},
	{netip.MustParsePrefix("3fff::/20"), "Documentation", "RFC 9637", false, ReasonDocumentation},
	{netip.MustParsePrefix("5f00::/16"), "Segment Routing (SRv6) SIDs", "RFC 9602", false, ReasonReserved},
	{netip.MustParsePrefix("fc00::/7"), "Unique-Local", "RFC 4193, RFC 8190", false, ReasonPrivate},
	{netip.MustParsePrefix("fe80::/10"), "Link-Local Unicast", "RFC 4291", false, ReasonLinkLocal},
	// Left out of the registry but never a public service.
	{netip.MustParsePrefix("::/96"), "IPv4-compatible Address (deprecated)", "RFC 4291 §2.5.5.1", false, ReasonReserved},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated Address", "RFC 2765 §2.1", false, ReasonReserved},
	{netip.MustParsePrefix("fec0::/10"), "Site-Local (deprecated)", "RFC 3879", false, ReasonPrivate},
	{netip.MustParsePrefix("ff00::/8"), "Multicast", "RFC 4291", false, ReasonMulticast},
}

// globalUnicast is the only IPv6 space IANA allocates to the public
// internet (IPv6 address space registry); addresses outside it and outside
// the table's global ranges are unassigned or reserved.
var globalUnicast = netip.MustParsePrefix("2000::/3")

func init() {
	// Most specific first: a global /32 inside a refused /24 wins.
	slices.SortStableFunc(special, func(a, b specialRange) int { return b.prefix.Bits() - a.prefix.Bits() })
}

// lookupSpecial returns the most specific special-purpose range holding
// ip, an unmapped address without zone, and whether there is one.
func lookupSpecial(ip netip.Addr) (specialRange, bool) {
	for _, r := range special {
		if r.prefix.Contains(ip) {
			return r, true
		}
	}
	return specialRange{}, false
}

// rangeReason returns why ip, an unmapped address without zone, is refused
// by the registries alone, or "" if it is globally reachable.
func rangeReason(ip netip.Addr) string {
	if r, ok := lookupSpecial(ip); ok {
		return r.reason
	}
	if ip.Is6() && !globalUnicast.Contains(ip) {
		return ReasonReserved
	}
	return ""
}

// IPv6 ranges whose addresses carry an IPv4 address.
var (
	compat6    = netip.MustParsePrefix("::/96")
	translated = netip.MustParsePrefix("::ffff:0:0:0/96")
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	teredo     = netip.MustParsePrefix("2001::/32")
)

// embeddedIPv4 returns the IPv4 addresses that an IPv6 address carries and
// that a translator or tunnel would deliver to: IPv4-compatible (::a.b.c.d)
// and IPv4-translated (::ffff:0:a.b.c.d) addresses, NAT64 (64:ff9b::/96,
// and 64:ff9b:1::/48 in the /96 layout: its other RFC 6052 layouts cannot
// be told apart, and the whole /48 is refused as local use), 6to4 (the
// 2002:AABB:CCDD:: router) and Teredo (its server, and its client, whose
// bits are inverted). IPv4-mapped addresses are unmapped by the caller. ip
// is an unmapped address without zone.
func embeddedIPv4(ip netip.Addr) []netip.Addr {
	if !ip.Is6() {
		return nil
	}
	b := ip.As16()
	v4 := func(i, j, k, l int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[j], b[k], b[l]}) }
	switch {
	case compat6.Contains(ip):
		if ip == netip.IPv6Unspecified() || ip == netip.IPv6Loopback() {
			return nil
		}
		return []netip.Addr{v4(12, 13, 14, 15)}
	case translated.Contains(ip), nat64.Contains(ip), nat64Local.Contains(ip):
		return []netip.Addr{v4(12, 13, 14, 15)}
	case sixToFour.Contains(ip):
		return []netip.Addr{v4(2, 3, 4, 5)}
	case teredo.Contains(ip):
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		return []netip.Addr{v4(4, 5, 6, 7), client}
	}
	return nil
}
