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
	// ReasonReserved covers the special-purpose ranges that are not
	// globally reachable and have no more specific reason, and IPv6
	// addresses outside the allocated 2000::/3.
	ReasonReserved      = "reserved"
	ReasonDocumentation = "documentation"
	ReasonBenchmarking  = "benchmarking"
	// ReasonThisHost is an address of one of the server's own interfaces.
	ReasonThisHost = "this host"
	// ReasonGateway is the server's default gateway.
	ReasonGateway = "default gateway"
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
	// Embedded is the IPv4 address that IP carries (IPv4-compatible,
	// NAT64, 6to4, Teredo, ...) when it is that address that was refused;
	// otherwise it is the zero Addr.
	Embedded netip.Addr
}

// Error says what was refused and how to allow it.
func (e *BlockedError) Error() string {
	reason := e.Reason
	if e.Embedded.IsValid() {
		reason = fmt.Sprintf("%s: it carries the IPv4 address %s", e.Reason, e.Embedded)
	}
	return fmt.Sprintf("refusing to connect to %s (%s) for host %q: set SLUICE_ALLOW_NET to allow it",
		e.IP, reason, e.Host)
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

// blockedReason returns why ip is refused by default, or "" if it is a
// public address that may be reached, and the embedded IPv4 address the
// reason is about, if any. See classify.
func blockedReason(ip netip.Addr) (string, netip.Addr) {
	return classify(ip, thisHost)
}

// classify returns why ip is refused by default, or "": a cloud-metadata
// address; an IPv6 address carrying an IPv4 address (embeddedIPv4) that
// is refused; an address of a special-purpose range that is not globally
// reachable (the special table), or an IPv6 address outside 2000::/3; or
// one of host's addresses. IPv4-mapped IPv6 addresses are checked as the
// IPv4 address they map. The second result is the embedded IPv4 address
// the reason is about, or the zero Addr.
func classify(ip netip.Addr, host *hostAddrs) (string, netip.Addr) {
	if !ip.IsValid() {
		return ReasonInvalid, netip.Addr{}
	}
	ip = ip.WithZone("").Unmap()
	if isMetadata(ip) {
		return ReasonMetadata, netip.Addr{}
	}
	for _, v4 := range embeddedIPv4(ip) {
		if r, _ := classify(v4, host); r != "" {
			return r, v4
		}
	}
	if r := rangeReason(ip); r != "" {
		return r, netip.Addr{}
	}
	if host != nil {
		return host.reason(ip), netip.Addr{}
	}
	return "", netip.Addr{}
}

// Check returns a *BlockedError if a connection to ip for the request host
// is refused by default (see classify: special-purpose ranges that are not
// globally reachable, embedded IPv4 addresses, cloud metadata, this host's
// own addresses and gateway) and allow does not open it. It returns nil for
// addresses that may be reached. Dialers other than the HTTP client (SMTP,
// databases) use it to apply the same policy.
func Check(allow *Allow, host string, ip netip.Addr) error {
	reason, embedded := blockedReason(ip)
	if reason == "" || allow.Allows(host, ip) {
		return nil
	}
	return &BlockedError{Host: host, IP: ip.WithZone("").Unmap(), Reason: reason, Embedded: embedded}
}
