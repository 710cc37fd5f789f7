package sip

import (
	"net/netip"
	"strconv"
	"strings"

	sipgosip "github.com/emiago/sipgo/sip"
)

// SourceOf returns the transport address req came from: the remote address
// of the connection or datagram it arrived on, as sipgo's transport
// recorded it. For a request built or parsed locally, which has none, it
// is read from the top Via: its received and rport parameters (RFC 3581)
// when present, else its sent-by host and port (the transport's default
// port when none is given). IPv4-mapped IPv6 addresses are unmapped; an
// IPv6 zone is kept. The result is invalid (IsValid false) when no address
// can be read: a Via whose host is a domain name, a malformed source, or
// a port that is not a number from 0 to 65535.
//
// It is the one place voicegw reads a request's source: sipgo's
// Request.Source formats a Via's IPv6 host without brackets
// ("2001:db8::1:5060"), which no address parser can take back.
func SourceOf(req *sipgosip.Request) netip.AddrPort {
	if req == nil {
		return netip.AddrPort{}
	}
	if src := req.MessageData.Source(); src != "" {
		return parseSource(src)
	}
	via := req.Via()
	if via == nil {
		return netip.AddrPort{}
	}
	host, port := via.Host, via.Port
	if port == 0 {
		port = int(sipgosip.DefaultPort(req.Transport()))
	}
	if via.Params != nil {
		if v, ok := via.Params.Get("received"); ok && v != "" {
			host = v
		}
		if v, ok := via.Params.Get("rport"); ok && v != "" {
			p, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return netip.AddrPort{}
			}
			port = int(p)
		}
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if err != nil || port < 0 || port > 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port))
}

// parseSource reads a transport's source (net.Addr.String: "ip:port",
// IPv6 in brackets). A host that is not an IP address, an IPv4 address in
// brackets, or a port that is not a decimal number up to 65535 gives an
// invalid AddrPort: not a port clamped to 65535 or 0.
func parseSource(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
