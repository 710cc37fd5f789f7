package sip

import (
	"bytes"
	"strings"

	sipgosip "github.com/emiago/sipgo/sip"
)

// rawRequest is what the Guard's fast path (PacketConnConfig.Guard) reads
// of a request datagram, without sipgo and without allocating: slices of
// the datagram. readRawRequest fills it only for the plain requests the
// fast path may answer; anything unusual (folded or bare-LF lines, a
// header it needs written twice, an unknown method, a Request-URI that is
// not a plain sip: or sips: host, a top Via not over UDP, a body that
// disagrees with Content-Length) is left to sipgo, which reads everything.
type rawRequest struct {
	size   int                    // bytes of the datagram
	method sipgosip.RequestMethod // one of sipgo's constants
	host   []byte                 // Request-URI host, as written
	vias   [maxRawVias][]byte     // values of the Via header lines, in order
	nvia   int
	from   []byte // values of From, To, Call-ID and CSeq, trimmed
	to     []byte
	callID []byte
	cseq   []byte
	toTag  []byte // the To tag; nil when To has none
	hasTag bool
	// top Via: its first via-parm ends at topEnd in vias[0]; branch is its
	// branch parameter; port its sent-by port (0: none written); rport is
	// -1 without an rport parameter, 0 with an empty one, else its value,
	// and rportEnd is the offset just past the "rport" name in vias[0].
	topEnd   int
	branch   []byte
	port     int
	rport    int
	rportEnd int
	// credentials: an Authorization or Proxy-Authorization header.
	credentials bool
}

// maxRawVias is how many Via header lines the fast path copies; a request
// with more goes to sipgo.
const maxRawVias = 8

// readRawRequest reads data into r and reports whether the fast path may
// answer it.
func readRawRequest(data []byte, r *rawRequest) bool {
	*r = rawRequest{size: len(data), rport: -1}
	end := bytes.Index(data, endOfHead)
	if end < 0 {
		return false
	}
	head := data[:end+2] // every line with its CRLF
	body := len(data) - end - 4
	if bytes.IndexByte(head, 0) >= 0 {
		return false
	}

	// start line: Method SP Request-URI SP SIP/2.0
	nl := bytes.Index(head, crlf)
	line := head[:nl]
	if hasCTL(line) || bytes.IndexByte(line, '\t') >= 0 {
		return false
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return false
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return false
	}
	sp2 += sp1 + 1
	if string(line[sp2+1:]) != "SIP/2.0" {
		return false
	}
	if r.method = knownMethod(line[:sp1]); r.method == "" {
		return false
	}
	if r.host = requestURIHost(line[sp1+1 : sp2]); r.host == nil {
		return false
	}

	contentLength := -1
	var nfrom, nto, ncallID, ncseq int
	for rest := head[nl+2:]; len(rest) > 0; {
		nl := bytes.Index(rest, crlf)
		line := rest[:nl]
		rest = rest[nl+2:]
		if len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			return false // a folded line
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
			return false
		}
		name := bytes.TrimRight(line[:colon], " \t")
		value := bytes.Trim(line[colon+1:], " \t")
		if !isTokenBytes(name) || hasCTL(value) {
			return false
		}
		var lower [24]byte
		if len(name) > len(lower) {
			continue
		}
		for i, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		switch string(lower[:len(name)]) {
		case "via", "v":
			if r.nvia == maxRawVias || !validVia(value) {
				return false
			}
			r.vias[r.nvia] = value
			r.nvia++
		case "from", "f":
			r.from, nfrom = value, nfrom+1
		case "to", "t":
			r.to, nto = value, nto+1
		case "call-id", "i":
			r.callID, ncallID = value, ncallID+1
		case "cseq":
			r.cseq, ncseq = value, ncseq+1
		case "authorization", "proxy-authorization":
			r.credentials = true
		case "content-length", "l":
			if contentLength >= 0 {
				return false
			}
			if contentLength = atoiBytes(value); contentLength < 0 {
				return false
			}
		}
	}
	if r.nvia == 0 || nfrom != 1 || nto != 1 || ncallID != 1 || ncseq != 1 || len(r.callID) == 0 || len(r.from) == 0 {
		return false
	}
	if contentLength >= 0 && contentLength != body {
		return false
	}
	// CSeq: a number, then the request's method
	sp := bytes.IndexAny(r.cseq, " \t")
	if sp <= 0 || atoiBytes(r.cseq[:sp]) < 0 || string(bytes.TrimLeft(r.cseq[sp:], " \t")) != string(r.method) {
		return false
	}
	var ok bool
	if r.toTag, r.hasTag, ok = headerTag(r.to); !ok {
		return false
	}
	if _, _, ok = headerTag(r.from); !ok {
		return false
	}
	return readTopVia(r)
}

// knownMethod returns sipgo's constant for a method written in upper case,
// or "".
func knownMethod(b []byte) sipgosip.RequestMethod {
	switch string(b) {
	case "INVITE":
		return sipgosip.INVITE
	case "ACK":
		return sipgosip.ACK
	case "CANCEL":
		return sipgosip.CANCEL
	case "BYE":
		return sipgosip.BYE
	case "REGISTER":
		return sipgosip.REGISTER
	case "OPTIONS":
		return sipgosip.OPTIONS
	case "SUBSCRIBE":
		return sipgosip.SUBSCRIBE
	case "NOTIFY":
		return sipgosip.NOTIFY
	case "REFER":
		return sipgosip.REFER
	case "INFO":
		return sipgosip.INFO
	case "MESSAGE":
		return sipgosip.MESSAGE
	case "PRACK":
		return sipgosip.PRACK
	case "UPDATE":
		return sipgosip.UPDATE
	case "PUBLISH":
		return sipgosip.PUBLISH
	}
	return ""
}

// requestURIHost returns the host of a Request-URI in the plain form the
// fast path reads (sipURIHost), or nil.
func requestURIHost(uri []byte) []byte {
	host, ok := sipURIHost(uri)
	if !ok {
		return nil
	}
	return host
}

// sipURIHost reads a sip: or sips: URI of the plain form real user agents
// write — [user[:password]@]host[:port][;name[=value]]…, the user part of
// unreserved and escaped characters, a host name or IPv4 address, token
// parameters, no headers — and returns its host. Any other URI (IPv6
// references, '?' headers, quoting, other schemes) is not read: ok false.
func sipURIHost(u []byte) (host []byte, ok bool) {
	var rest []byte
	switch {
	case len(u) > 4 && asciiEqualFold(u[:4], "sip:"):
		rest = u[4:]
	case len(u) > 5 && asciiEqualFold(u[:5], "sips:"):
		rest = u[5:]
	default:
		return nil, false
	}
	if at := bytes.IndexByte(rest, '@'); at >= 0 {
		if at == 0 {
			return nil, false
		}
		for _, c := range rest[:at] {
			if !isUserChar(c) {
				return nil, false
			}
		}
		rest = rest[at+1:]
	}
	end := len(rest)
	if i := bytes.IndexAny(rest, ":;"); i >= 0 {
		end = i
	}
	host, rest = rest[:end], rest[end:]
	if len(host) == 0 {
		return nil, false
	}
	for _, c := range host {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return nil, false
		}
	}
	if len(rest) > 0 && rest[0] == ':' {
		end := len(rest)
		if i := bytes.IndexByte(rest, ';'); i >= 0 {
			end = i
		}
		if p := atoiBytes(rest[1:end]); p < 0 || p > 65535 || end > 6 {
			return nil, false
		}
		rest = rest[end:]
	}
	if _, _, ok := readParams(rest); !ok {
		return nil, false
	}
	return host, true
}

// isUserChar reports whether c may appear in the user part (with its
// password) of a URI the fast path reads: RFC 3261's unreserved and
// user-unreserved characters, '%' of escapes, and ':'.
func isUserChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.!~*'()%&=+$,:", c) >= 0
}

// readParams reads ;name[=value]… (tokens, no spaces) and returns the tag
// parameter's value; ok is false for anything else.
func readParams(p []byte) (tag []byte, hasTag, ok bool) {
	for len(p) > 0 {
		if p[0] != ';' {
			return nil, false, false
		}
		end := len(p)
		if i := bytes.IndexByte(p[1:], ';'); i >= 0 {
			end = i + 1
		}
		name, value, hasValue := bytes.Cut(p[1:end], []byte{'='})
		if !isTokenBytes(name) || (hasValue && !isTokenBytes(value)) {
			return nil, false, false
		}
		if string(name) == "tag" { // case-sensitive, as sipgo reads it
			if hasTag || !hasValue {
				return nil, false, false
			}
			tag, hasTag = value, true
		}
		p = p[end:]
	}
	return tag, hasTag, true
}

// headerTag reads a From or To value of the plain form the fast path
// reads — [display-name] <URI>;params, or URI;params, the URI as
// sipURIHost reads it, the display name quoted without escapes or made of
// tokens — and returns its tag parameter; ok is false for anything else.
func headerTag(v []byte) (tag []byte, has, ok bool) {
	lt := bytes.IndexByte(v, '<')
	if lt < 0 {
		if bytes.IndexByte(v, '"') >= 0 {
			return nil, false, false
		}
		end := len(v)
		if i := bytes.IndexByte(v, ';'); i >= 0 {
			end = i
		}
		if _, ok := sipURIHost(v[:end]); !ok {
			return nil, false, false
		}
		return readParams(v[end:])
	}
	if name := bytes.Trim(v[:lt], " \t"); len(name) > 0 {
		if name[0] == '"' {
			if len(name) < 2 || name[len(name)-1] != '"' || bytes.ContainsAny(name[1:len(name)-1], "\"\\") {
				return nil, false, false
			}
		} else {
			for _, c := range name {
				if !isTokenChar(c) && c != ' ' {
					return nil, false, false
				}
			}
		}
	}
	gt := bytes.IndexByte(v[lt:], '>')
	if gt < 0 {
		return nil, false, false
	}
	if _, ok := sipURIHost(v[lt+1 : lt+gt]); !ok {
		return nil, false, false
	}
	return readParams(v[lt+gt+1:])
}

// validVia reports whether every via-parm of a Via value is of the plain
// form the fast path copies: SIP/2.0/transport, a host name or IPv4
// address with an optional port, token parameters.
func validVia(v []byte) bool {
	for len(v) > 0 {
		end := len(v)
		if i := bytes.IndexByte(v, ','); i >= 0 {
			end = i
		}
		parm := bytes.Trim(v[:end], " \t")
		if end < len(v) {
			v = v[end+1:]
		} else {
			v = nil
		}
		const proto = "SIP/2.0/"
		if len(parm) <= len(proto) || !asciiEqualFold(parm[:len(proto)], proto) {
			return false
		}
		parm = parm[len(proto):]
		sp := bytes.IndexAny(parm, " \t")
		if sp <= 0 || !isTokenBytes(parm[:sp]) {
			return false
		}
		parm = bytes.TrimLeft(parm[sp:], " \t")
		semi := len(parm)
		if i := bytes.IndexByte(parm, ';'); i >= 0 {
			semi = i
		}
		hostport := parm[:semi]
		host := hostport
		if c := bytes.IndexByte(hostport, ':'); c >= 0 {
			host = hostport[:c]
			if p := atoiBytes(hostport[c+1:]); p <= 0 || p > 65535 || len(hostport)-c-1 > 5 {
				return false
			}
		}
		if len(host) == 0 {
			return false
		}
		for _, c := range host {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
				return false
			}
		}
		if _, _, ok := readParams(parm[semi:]); !ok {
			return false
		}
	}
	return true
}

// readTopVia reads the first via-parm of the first Via line: SIP/2.0/UDP,
// its sent-by port, branch and rport.
func readTopVia(r *rawRequest) bool {
	v := r.vias[0]
	if bytes.IndexByte(v, '"') >= 0 {
		return false
	}
	r.topEnd = len(v)
	if i := bytes.IndexByte(v, ','); i >= 0 {
		r.topEnd = i
	}
	top := v[:r.topEnd]
	const proto = "SIP/2.0/UDP"
	if len(top) <= len(proto) || !asciiEqualFold(top[:len(proto)], proto) || (top[len(proto)] != ' ' && top[len(proto)] != '\t') {
		return false
	}
	semi := bytes.IndexByte(top, ';')
	if semi < 0 {
		return false // no branch
	}
	sentBy := bytes.Trim(top[len(proto):semi], " \t")
	if len(sentBy) == 0 || sentBy[0] == '[' {
		return false
	}
	if c := bytes.IndexByte(sentBy, ':'); c >= 0 {
		if r.port = atoiBytes(sentBy[c+1:]); r.port <= 0 || r.port > 65535 {
			return false
		}
	}
	// the parameters, each from its ';' to the next, offsets in v
	for off := semi; off < len(top); {
		end := len(top)
		if i := bytes.IndexByte(top[off+1:], ';'); i >= 0 {
			end = off + 1 + i
		}
		p := top[off+1 : end]
		name, value, hasValue := bytes.Cut(p, []byte{'='})
		if len(name) == 0 || !isTokenBytes(name) {
			return false // no spaces around a name: sipgo would keep them
		}
		value = bytes.TrimSpace(value)
		switch {
		case string(name) == "branch": // case-sensitive, as sipgo reads it
			if r.branch != nil || len(value) == 0 {
				return false
			}
			r.branch = value
		case string(name) == "rport":
			if r.rport >= 0 {
				return false
			}
			if !hasValue {
				r.rport, r.rportEnd = 0, off+1+len(name)
			} else if r.rport = atoiBytes(value); r.rport <= 0 || r.rport > 65535 {
				return false
			}
		case asciiEqualFold(name, "received"), asciiEqualFold(name, "maddr"):
			// sipgo would rewrite or route by them: it decides
			return false
		}
		off = end
	}
	return r.branch != nil
}

// atoiBytes reads a decimal number of at most 9 digits, or -1.
func atoiBytes(b []byte) int {
	if len(b) == 0 || len(b) > 9 {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func isTokenBytes(b []byte) bool {
	for _, c := range b {
		if !isTokenChar(c) {
			return false
		}
	}
	return len(b) > 0
}

func hasCTL(b []byte) bool {
	for _, c := range b {
		if isCTL(c) && c != '\t' {
			return true
		}
	}
	return false
}

// asciiEqualFold reports whether b equals s, ASCII case-insensitively.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
