package siprec

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// ErrResolve is matched by the error of Resolve when a recording server's
// host name gives no address: no SRV record leads to an address and the
// A/AAAA lookup fails or is empty.
var ErrResolve = errors.New("siprec: cannot resolve recording server")

// Resolver looks up DNS records for RFC 3263 server location. *net.Resolver
// satisfies it (net.DefaultResolver is what a nil Resolver means); tests and
// embedders with their own DNS pass something else.
type Resolver interface {
	// LookupSRV is net.Resolver.LookupSRV: the SRV records of
	// _service._proto.name.
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
	// LookupNetIP is net.Resolver.LookupNetIP with network "ip".
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Transport names, as Target.Transport carries them.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// Target is one place to send a recording server's INVITE to: an address
// and the transport RFC 3263 chose for it.
type Target struct {
	// Addr is the IP address and port to send to.
	Addr      netip.AddrPort
	Transport string // TransportUDP, TransportTCP or TransportTLS
}

// String returns "transport:address", such as "tcp:192.0.2.10:5060".
func (t Target) String() string { return t.Transport + ":" + t.Addr.String() }

// maxTargets bounds how many addresses one URI resolves to.
const maxTargets = 16

// Resolve locates the recording server of u following RFC 3263 §4 (without
// NAPTR, which recording servers do not publish in practice):
//
//   - an IP address host is used as it is, with the URI's port or the
//     default (5060, or 5061 for TLS);
//   - a host name with a port is resolved with A/AAAA;
//   - a host name without a port is looked up with SRV first:
//     _sips._tcp for sips:, else _sip._udp then _sip._tcp (only the one of
//     the transport parameter when there is one); the targets are taken in
//     priority order (ties in the order the resolver gave, which for
//     net.Resolver is weighted at random as RFC 2782 asks), each resolved
//     with A/AAAA; without SRV records, A/AAAA of the host on the default
//     port.
//
// The transport is the transport parameter, else the SRV record's, else
// TLS for sips: and UDP for sip: (the client moves a request that is too
// large for UDP to TCP, RFC 3261 §18.1.1). r nil means net.DefaultResolver.
// The targets are in the order to try them (RFC 3263 §4.3: the next on a
// transport failure or 503). Errors match ErrResolve.
func Resolve(ctx context.Context, r Resolver, u URI) ([]Target, error) {
	if !u.IsValid() {
		return nil, fmt.Errorf("%w: the URI is empty", ErrInvalidURI)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	tp := u.Transport()
	if tp == "" && u.secure {
		tp = TransportTLS
	}
	defaultPort := func(tp string) uint16 {
		if tp == TransportTLS || u.secure {
			return 5061
		}
		return 5060
	}
	orUDP := func(tp string) string {
		if tp == "" {
			return TransportUDP
		}
		return tp
	}
	if a, ok := u.Addr(); ok {
		t := orUDP(tp)
		return []Target{{Addr: netip.AddrPortFrom(a, cmp.Or(u.port, defaultPort(t))), Transport: t}}, nil
	}
	if u.port != 0 {
		t := orUDP(tp)
		addrs, err := lookupIP(ctx, r, u.host)
		if err != nil {
			return nil, err
		}
		return targetsOf(nil, addrs, u.port, t), nil
	}

	type srvQuery struct{ service, proto, transport string }
	var queries []srvQuery
	switch {
	case u.secure:
		queries = []srvQuery{{"sips", "tcp", TransportTLS}}
	case tp == TransportUDP:
		queries = []srvQuery{{"sip", "udp", TransportUDP}}
	case tp == TransportTCP:
		queries = []srvQuery{{"sip", "tcp", TransportTCP}}
	case tp == TransportTLS:
		queries = []srvQuery{{"sips", "tcp", TransportTLS}}
	default:
		queries = []srvQuery{{"sip", "udp", TransportUDP}, {"sip", "tcp", TransportTCP}}
	}
	var targets []Target
	var lookupErrs []error
	for _, q := range queries {
		_, srvs, err := r.LookupSRV(ctx, q.service, q.proto, u.host)
		if err != nil || len(srvs) == 0 {
			if err != nil && !isNotFound(err) {
				lookupErrs = append(lookupErrs, err)
			}
			continue
		}
		srvs = slices.Clone(srvs)
		slices.SortStableFunc(srvs, func(a, b *net.SRV) int { return cmp.Compare(a.Priority, b.Priority) })
		for _, s := range srvs {
			host := strings.TrimSuffix(s.Target, ".")
			if host == "" { // "." : the service is decidedly not available here
				continue
			}
			var addrs []netip.Addr
			if a, err := netip.ParseAddr(host); err == nil {
				addrs = []netip.Addr{a}
			} else if addrs, err = lookupIP(ctx, r, host); err != nil {
				lookupErrs = append(lookupErrs, err)
				continue
			}
			targets = targetsOf(targets, addrs, s.Port, q.transport)
		}
		if len(targets) > 0 {
			return targets, nil // the first transport with SRV records wins (RFC 3263 §4.1)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrResolve, u.host, err)
	}
	t := orUDP(tp)
	addrs, err := lookupIP(ctx, r, u.host)
	if err != nil {
		return nil, errors.Join(append([]error{err}, lookupErrs...)...)
	}
	return targetsOf(nil, addrs, defaultPort(t), t), nil
}

func lookupIP(ctx context.Context, r Resolver, host string) ([]netip.Addr, error) {
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrResolve, host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w %s: no A or AAAA record", ErrResolve, host)
	}
	return addrs, nil
}

// targetsOf appends a target per address, skipping duplicates, up to
// maxTargets.
func targetsOf(targets []Target, addrs []netip.Addr, port uint16, transport string) []Target {
	for _, a := range addrs {
		t := Target{Addr: netip.AddrPortFrom(a.Unmap(), port), Transport: transport}
		if len(targets) < maxTargets && !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	return targets
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
