package netguard

import (
	"fmt"
	"net/netip"
	"strings"
)

// Allow is a parsed SLUICE_ALLOW_NET list: the addresses and host names that
// outbound requests may reach although they would be refused by default.
// A nil *Allow allows nothing beyond the default policy. An Allow is
// immutable after ParseAllow and safe for concurrent use.
type Allow struct {
	prefixes []netip.Prefix
	hosts    []string // exact host names, lower case, no trailing dot
	suffixes []string // from "*.corp.example": ".corp.example"
}

// ParseAllow parses the value of SLUICE_ALLOW_NET: a comma-separated list of
// CIDRs ("10.0.0.0/8", "fd00::/8"), single IPs ("127.0.0.1", "::1") and host
// names ("localhost", "*.corp.example"). Host names are compared with the
// request host, case-insensitively; "*.corp.example" matches every name
// below corp.example but not corp.example itself. Blank entries are ignored,
// so an empty string gives an empty list. The error names the first bad entry.
func ParseAllow(s string) (*Allow, error) {
	a := &Allow{}
	for raw := range strings.SplitSeq(s, ",") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		if err := a.add(entry); err != nil {
			return nil, fmt.Errorf("SLUICE_ALLOW_NET entry %q: %w", entry, err)
		}
	}
	return a, nil
}

func (a *Allow) add(entry string) error {
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return fmt.Errorf("not a valid CIDR (want e.g. 10.0.0.0/8 or fd00::/8)")
		}
		a.prefixes = append(a.prefixes, canonicalPrefix(p.Masked()))
		return nil
	}
	ipText := entry
	if strings.HasPrefix(ipText, "[") && strings.HasSuffix(ipText, "]") {
		ipText = ipText[1 : len(ipText)-1]
	}
	if ip, err := netip.ParseAddr(ipText); err == nil {
		ip = ip.WithZone("").Unmap()
		a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
		return nil
	}
	if strings.Contains(entry, ":") {
		return fmt.Errorf("not an IP, CIDR or host name (ports are not supported)")
	}
	name := strings.TrimSuffix(strings.ToLower(entry), ".")
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		if err := validHostName(rest); err != nil {
			return err
		}
		a.suffixes = append(a.suffixes, "."+rest)
		return nil
	}
	if err := validHostName(name); err != nil {
		return err
	}
	a.hosts = append(a.hosts, name)
	return nil
}

// canonicalPrefix turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104)
// into its IPv4 form, because addresses are unmapped before they are checked.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// validHostName reports whether name (lower case, no trailing dot) is a DNS
// name made of letters, digits, hyphens and underscores whose last label is
// not all digits, so that a mistyped IP such as 10.0.0.256 is refused rather
// than taken for a name.
func validHostName(name string) error {
	if name == "" {
		return fmt.Errorf("empty host name")
	}
	if len(name) > 253 {
		return fmt.Errorf("host name longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return fmt.Errorf("host name has an empty label")
		}
		if len(l) > 63 {
			return fmt.Errorf("host name label %q is longer than 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("host name label %q starts or ends with a hyphen", l)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("not an IP, CIDR or host name (unexpected character %q)", r)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("not a valid IP address and not a host name")
	}
	return nil
}

// Allows reports whether a connection to ip for the request host is opened
// by the list: ip lies in one of its CIDRs or IPs, or host matches one of
// its host names. Cloud-metadata addresses are opened only by a CIDR or IP
// entry, never by a host name, so that allowing "*.corp.example" cannot
// expose instance credentials through a hostile DNS answer.
func (a *Allow) Allows(host string, ip netip.Addr) bool {
	if a == nil {
		return false
	}
	ip = ip.WithZone("").Unmap()
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	if isMetadata(ip) {
		return false
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	for _, h := range a.hosts {
		if host == h {
			return true
		}
	}
	for _, s := range a.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// String returns the list in canonical form, the inverse of ParseAllow: CIDRs
// and IPs first, then host names, comma-separated. It holds no secrets and
// is safe to log.
func (a *Allow) String() string {
	if a == nil {
		return ""
	}
	parts := make([]string, 0, len(a.prefixes)+len(a.hosts)+len(a.suffixes))
	for _, p := range a.prefixes {
		if p.IsSingleIP() {
			parts = append(parts, p.Addr().String())
		} else {
			parts = append(parts, p.String())
		}
	}
	parts = append(parts, a.hosts...)
	for _, s := range a.suffixes {
		parts = append(parts, "*"+s)
	}
	return strings.Join(parts, ",")
}
