package netguard

import (
	"fmt"
	"net/netip"
)

// Reasons a BlockedError gives for refusing an address.
const (
	ReasonLoopback    = "loopback"
	ReasonPrivate     = "private"
	ReasonLinkLocal   = "link-local"
	ReasonMetadata    = "cloud metadata"
	ReasonUnspecified = "unspecified"
	ReasonMulticast   = "multicast"
	ReasonBroadcast   = "broadcast"
	ReasonCGNAT       = "carrier-grade NAT"
	ReasonInvalid     = "invalid address"
)

// BlockedError is returned, wrapped in the *url.Error of the client, when a
// request would connect to an address that the policy refuses. Find it with
// errors.As to tell a refused address from a network failure.
type BlockedError struct {
	// Host is the host name or IP literal of the request.
	Host string
	// IP is the resolved address that was refused.
	IP netip.Addr
	// Reason says which class of address IP belongs to, one of the Reason
	// constants, e.g. "loopback".
	Reason string
}

// Error says what was refused and how to allow it.
func (e *BlockedError) Error() string {
	return fmt.Sprintf("refusing to connect to %s (%s) for host %q: set SLUICE_ALLOW_NET to allow it",
		e.IP, e.Reason, e.Host)
}

// metadataAddrs are the instance-metadata endpoints of the common clouds.
// Most also fall in a blocked range; they are named so that the error says
// why and so that only an explicit IP or CIDR entry can open them.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, DigitalOcean, ...
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
}

func isMetadata(ip netip.Addr) bool {
	for _, m := range metadataAddrs {
		if ip == m {
			return true
		}
	}
	return false
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	broadcast   = netip.MustParseAddr("255.255.255.255")
	// nat64 embeds an IPv4 address in its last 32 bits (RFC 6052).
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// blockedReason returns why ip is refused by default, or "" if it is a
// public address that may be reached.
func blockedReason(ip netip.Addr) string {
	if !ip.IsValid() {
		return ReasonInvalid
	}
	ip = ip.WithZone("").Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		if r := blockedReason(netip.AddrFrom4([4]byte(b[12:]))); r != "" {
			return r
		}
	}
	switch {
	case isMetadata(ip):
		return ReasonMetadata
	case ip.IsLoopback():
		return ReasonLoopback
	case ip.IsUnspecified(), thisNetwork.Contains(ip):
		return ReasonUnspecified
	case ip.IsPrivate():
		return ReasonPrivate
	case ip.IsLinkLocalUnicast():
		return ReasonLinkLocal
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return ReasonMulticast
	case ip == broadcast:
		return ReasonBroadcast
	case cgnat.Contains(ip):
		return ReasonCGNAT
	}
	return ""
}

// Check returns a *BlockedError if a connection to ip for the request host
// is refused: ip is loopback, private, link-local, unspecified, multicast,
// carrier-grade NAT or a cloud-metadata address, and allow does not open it.
// It returns nil for addresses that may be reached. Dialers other than the
// HTTP client (SMTP, databases) use it to apply the same policy.
func Check(allow *Allow, host string, ip netip.Addr) error {
	reason := blockedReason(ip)
	if reason == "" || allow.Allows(host, ip) {
		return nil
	}
	return &BlockedError{Host: host, IP: ip.WithZone("").Unmap(), Reason: reason}
}
