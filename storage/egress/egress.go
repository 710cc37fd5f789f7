// Package egress guards outbound connections to addresses that a tenant
// chooses (an S3-compatible bucket endpoint, a webhook URL) against
// server-side request forgery: a Policy refuses, at connect time, loopback,
// link-local (169.254.0.0/16 holds the cloud metadata endpoints),
// unspecified, multicast and broadcast addresses, the cloud metadata
// endpoints that lie outside link-local (fd00:ec2::254, 100.100.100.200)
// and, when asked, the private ranges, except the prefixes and addresses
// an operator allows.
//
// The check runs in net.Dialer.Control, on the address the dialer is about
// to connect to after name resolution, so a host name that resolves to
// 127.0.0.1 (or that re-resolves there between a check and the connect:
// DNS rebinding) is refused like the literal address, and so is every
// redirect an HTTP client follows. IPv4-mapped IPv6 addresses
// (::ffff:127.0.0.1) and the NAT64 well-known prefix (64:ff9b::/96) are
// judged by the IPv4 address they carry.
//
// The package is a public leaf (internal/layering): it imports only the
// standard library, so storage, tenancy and every package above them use it.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is matched (errors.Is) by the error of a connection a Policy
// refused; the error is a *RefusedError naming the address.
var ErrRefused = errors.New("egress: address refused")

// ErrBadAllow is matched by the error of Policy.AddAllow for an entry that
// is neither a prefix, an address nor an address:port.
var ErrBadAllow = errors.New("egress: bad allow entry")

// RefusedError is the error of a connection a Policy refused.
type RefusedError struct {
	// Addr is the address the dialer was about to connect to.
	Addr netip.AddrPort
	// Range names why it is refused: "loopback", "link-local",
	// "unspecified", "multicast", "broadcast", "cloud metadata",
	// "private", "reserved".
	Range string
}

// Error implements error.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("egress: connection to %s refused: %s address (not in the egress allowlist)", e.Addr, e.Range)
}

// Unwrap returns ErrRefused.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Policy decides which addresses outbound connections may reach. The zero
// value refuses loopback, link-local, unspecified (0.0.0.0/8, ::),
// multicast, broadcast and the other IPv4-compatible (::/96) addresses and
// the cloud metadata endpoints fd00:ec2::254 and 100.100.100.200, and
// permits everything else, private ranges included. A nil *Policy
// permits everything. A Policy must not be changed once in use.
type Policy struct {
	// RefusePrivate also refuses the private ranges: 10.0.0.0/8,
	// 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 (carrier-grade NAT),
	// fc00::/7 (unique local) and fec0::/10 (site-local). Default false.
	RefusePrivate bool
	// Allow lists prefixes that are always permitted, whatever range they
	// lie in (a private object store, a test server on 127.0.0.1).
	// Default: none.
	Allow []netip.Prefix
	// AllowAddrPorts lists single addresses with their port that are
	// always permitted. Default: none.
	AllowAddrPorts []netip.AddrPort
}

// AddAllow parses entries and adds them to the allowlist: a prefix
// ("10.0.0.0/8", "::1/128"), an address ("127.0.0.1", a /32 or /128) or an
// address with a port ("127.0.0.1:9000", "[::1]:9000"). A bad entry
// returns an error wrapping ErrBadAllow that names it; the entries before
// it are added.
func (p *Policy) AddAllow(entries ...string) error {
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if pf, err := netip.ParsePrefix(e); err == nil {
			p.Allow = append(p.Allow, pf.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			p.Allow = append(p.Allow, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if ap, err := netip.ParseAddrPort(e); err == nil {
			p.AllowAddrPorts = append(p.AllowAddrPorts, ap)
			continue
		}
		return fmt.Errorf("%w: %q: want a prefix (10.0.0.0/8), an address or an address:port", ErrBadAllow, e)
	}
	return nil
}

var (
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
	v4compat = netip.MustParsePrefix("::/96")
	private  = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("fec0::/10"),
	}
	// Cloud metadata endpoints outside link-local: AWS's over IPv6 (in
	// fc00::/7) and Alibaba Cloud's (in 100.64.0.0/10).
	metadata  = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	broadcast = netip.MustParseAddr("255.255.255.255")
)

// Check returns nil when the policy permits a connection to ap, else a
// *RefusedError.
func (p *Policy) Check(ap netip.AddrPort) error {
	if p == nil {
		return nil
	}
	a := ap.Addr().WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	for _, pf := range p.Allow {
		if pf.Addr().Is4In6() && pf.Bits() >= 96 {
			pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
		}
		if pf.Contains(a) {
			return nil
		}
	}
	for _, allowed := range p.AllowAddrPorts {
		if allowed.Port() == ap.Port() && allowed.Addr().WithZone("").Unmap() == a {
			return nil
		}
	}
	if r := p.refused(a); r != "" {
		return &RefusedError{Addr: netip.AddrPortFrom(a, ap.Port()), Range: r}
	}
	return nil
}

// refused names the range that refuses a ("" when none does).
func (p *Policy) refused(a netip.Addr) string {
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		if r := p.refused(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})); r != "" {
			return r
		}
	}
	switch {
	case !a.IsValid():
		return "reserved"
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsUnspecified() || thisNet.Contains(a):
		return "unspecified"
	case a.IsMulticast(): // link-local and interface-local multicast included
		return "multicast"
	case a == broadcast:
		return "broadcast"
	case a.Is6() && v4compat.Contains(a):
		return "reserved" // ::a.b.c.d: deprecated IPv4-compatible
	}
	for _, m := range metadata {
		if a == m {
			return "cloud metadata"
		}
	}
	if p.RefusePrivate {
		for _, pf := range private {
			if pf.Contains(a) {
				return "private"
			}
		}
	}
	return ""
}

// Control is a net.Dialer.Control function that refuses the addresses the
// policy refuses. address is the resolved "ip:port" the dialer connects to.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Not an IP socket address (a Unix socket): nothing to judge by IP.
		if strings.HasPrefix(network, "tcp") || strings.HasPrefix(network, "udp") {
			return fmt.Errorf("%w: %q is not an IP address", ErrRefused, address)
		}
		return nil
	}
	return p.Check(ap)
}

// Dialer returns a copy of base (nil: a dialer with a 10 s timeout and
// 30 s keep-alive) that checks each connection with p before it is made,
// then runs base's own Control or ControlContext if it has one.
func (p *Policy) Dialer(base *net.Dialer) *net.Dialer {
	var d net.Dialer
	if base != nil {
		d = *base
	} else {
		d = net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	}
	prevCtl, prevCtx := d.Control, d.ControlContext
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := p.Control(network, address, c); err != nil {
			return err
		}
		switch {
		case prevCtx != nil:
			return prevCtx(ctx, network, address, c)
		case prevCtl != nil:
			return prevCtl(network, address, c)
		}
		return nil
	}
	return &d
}

// Transport returns a copy of base (nil: http.DefaultTransport's settings)
// that dials through p.Dialer(nil), whatever dialer base had. Its Proxy is nil: a proxy would be the
// only address checked, and the proxy would then reach what the policy
// refuses. A caller who needs a proxy sets Proxy on the copy and makes the
// proxy enforce the same rules. A custom DialTLSContext of base is dropped
// (it would bypass the check).
func (p *Policy) Transport(base *http.Transport) *http.Transport {
	var t *http.Transport
	if base != nil {
		t = base.Clone()
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.Proxy = nil
	t.DialTLSContext = nil
	t.DialTLS = nil //nolint:staticcheck // dropped for the same reason
	t.Dial = nil    //nolint:staticcheck // dropped for the same reason
	t.DialContext = p.Dialer(nil).DialContext
	return t
}

// Client returns an http.Client with the given overall timeout (0: none)
// whose connections p checks (see Transport).
func (p *Policy) Client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: p.Transport(nil)}
}
