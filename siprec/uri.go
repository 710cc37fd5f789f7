package siprec

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Errors of the recording server URI parser; match them with errors.Is.
var (
	// ErrInvalidURI is matched by every *URIError: a recording server URI
	// that is not a sip: or sips: URI with a host (WebSocket and HTTP URLs,
	// bare hosts, bad ports, unknown transports...).
	ErrInvalidURI = errors.New("siprec: invalid recording server URI")
	// ErrNoRecorderURL reports that no recording server URI was given at
	// all: an empty Call Recording Server field, an empty X-Srs-Url header,
	// or a Start without recorders.
	ErrNoRecorderURL = errors.New("siprec: missing recording server URL (X-Srs-Url): no recording server URI given")
)

// acceptedForms says what a recording server URI may look like; every
// URIError ends with it.
const acceptedForms = "use sip:host[:port][;params] or sips:host[:port][;params] " +
	"(for example sip:srs.example.com, sip:192.0.2.10:5060;transport=tcp, sips:srs.example.com), " +
	"or a comma-separated list of them"

// URIError is the error of ParseURI and ParseURIList: which URI of the list
// is wrong, where, and why. It matches ErrInvalidURI.
type URIError struct {
	// Input is the URI as given (one item of a list, spaces trimmed), with
	// the password of a user:password@ part replaced by "***" (see
	// maskPassword), so that the error can be logged and sent back.
	Input string
	// Item is the 1-based position of the URI in a comma-separated list
	// (1 for a single URI).
	Item int
	// Column is the 1-based byte position in the whole input (as given,
	// before masking) where the problem was found. An input with a password
	// is refused at the ':' before the password, which masking keeps in
	// place, so the column points at the same character in Input.
	Column int
	// Reason says what is wrong.
	Reason string
}

// Error names the bad URI, its position, what is wrong and what is accepted.
func (e *URIError) Error() string {
	return fmt.Sprintf("%v %q (item %d, column %d): %s; %s", ErrInvalidURI, e.Input, e.Item, e.Column, e.Reason, acceptedForms)
}

// Unwrap returns ErrInvalidURI.
func (e *URIError) Unwrap() error { return ErrInvalidURI }

// URI is a recording server address: a SIP or SIPS URI (RFC 3261 §19.1)
// with a host name or IP address, an optional user part, an optional port
// and optional URI parameters such as ;transport=tcp. It is a small
// comparable value in the style of net/netip: the zero URI is invalid,
// ParseURI makes one, String and MarshalText write it back in canonical form
// (scheme and host name lower-case, parameter names lower-case, the
// transport value lower-case, port without leading zeros), and parsing that
// form gives the same URI.
type URI struct {
	secure bool
	user   string     // user part as written, "" when absent
	host   string     // host name, lower-case; "" when addr is set
	addr   netip.Addr // IP literal host
	port   uint16     // 0: absent
	params string     // canonical ";name=value" list, or ""
}

// ParseURI parses one recording server URI: sip: or sips:, an optional
// user@, a host name, IPv4 address or [IPv6] address, an optional port and
// optional ;name=value parameters. The transport parameter must be udp, tcp
// or tls (sips: only tcp or tls). WebSocket (ws://, wss://) and HTTP
// (http://, https://) URLs, bare hosts and IP addresses without a scheme,
// other schemes, passwords and URI headers (?...) are refused with a
// *URIError that says why. An empty string gives ErrNoRecorderURL.
func ParseURI(s string) (URI, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return URI{}, ErrNoRecorderURL
	}
	off := strings.Index(s, t)
	return parseURI(t, 1, off)
}

// ParseURIList parses a single recording server URI or a comma-separated
// list of them ("sip:srs1.example.com,sip:srs2.example.com"), as the Call
// Recording Server field and the X-Srs-Url header carry them. Spaces around
// items are ignored. An empty input gives ErrNoRecorderURL; an empty item, a
// URI listed twice, or an invalid URI gives a *URIError naming the item.
// A comma inside a URI must be escaped as %2C.
func ParseURIList(s string) (URIList, error) {
	if strings.TrimSpace(s) == "" {
		return nil, ErrNoRecorderURL
	}
	var list URIList
	start := 0
	for item := 1; ; item++ {
		end := strings.IndexByte(s[start:], ',')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		raw := s[start:end]
		t := strings.TrimSpace(raw)
		off := start + strings.Index(raw, t)
		if t == "" {
			if perr := splitPassword(s, start, end, item); perr != nil {
				return nil, perr
			}
			return nil, &URIError{Input: t, Item: item, Column: start + 1, Reason: "the list has an empty item (two commas in a row, or a comma at the start or end)"}
		}
		u, err := parseURI(t, item, off)
		if err != nil {
			if perr := splitPassword(s, start, end, item); perr != nil {
				return nil, perr
			}
			return nil, err
		}
		for _, prev := range list {
			if prev == u {
				return nil, &URIError{Input: t, Item: item, Column: off + 1, Reason: "this recording server is listed twice (as " + prev.String() + ")"}
			}
		}
		list = append(list, u)
		if end == len(s) {
			return list, nil
		}
		start = end + 1
	}
}

// splitPassword returns the error for item number item of the list s, which
// is s[start:end], when a password crosses the item's bounds: a password
// with a ',' is split by the list syntax, and the item's own error would
// quote a piece of it. The error names the URI with its password masked,
// from the item to the '@', and its column is the ':' before the password. It returns nil when no password crosses.
func splitPassword(s string, start, end, item int) *URIError {
	for _, sp := range passwordSpans(s) {
		colon := sp[0] - 1
		if colon >= end || sp[1] < start || colon >= start && sp[1] < end {
			continue // after the item, before it, or inside it
		}
		uriEnd := len(s)
		if i := strings.IndexByte(s[sp[1]:], ','); i >= 0 {
			uriEnd = sp[1] + i
		}
		uriStart := strings.LastIndexByte(s[:min(start, colon)], ',') + 1
		return &URIError{Input: maskPassword(strings.TrimSpace(s[uriStart:uriEnd])), Item: item, Column: colon + 1,
			Reason: "a password in the URI (user:password@) is not accepted"}
	}
	return nil
}

// parseURI parses s (trimmed), which starts at byte off of the whole input
// and is item number item of it.
func parseURI(s string, item, off int) (URI, error) {
	fail := func(at int, format string, args ...any) (URI, error) {
		return URI{}, &URIError{Input: maskPassword(s), Item: item, Column: off + at + 1, Reason: fmt.Sprintf(format, args...)}
	}
	colon := strings.IndexByte(s, ':')
	scheme := ""
	if colon > 0 {
		scheme = strings.ToLower(s[:colon])
	}
	rest := ""
	if colon >= 0 {
		rest = s[colon+1:]
	}
	switch {
	case colon > 0 && strings.HasPrefix(rest, "//"):
		switch scheme {
		case "ws", "wss":
			return fail(0, "WebSocket URLs (%s://) are not supported: a recording server is reached over SIP, not WebSocket", scheme)
		case "http", "https":
			return fail(0, "HTTP URLs (%s://) are not supported: a recording server is reached over SIP, not HTTP", scheme)
		case "sip", "sips":
			return fail(colon+1, "a %s: URI has no \"//\" after the scheme: write %s:host", scheme, scheme)
		default:
			return fail(0, "%s:// URLs are not supported: only SIP URIs address a recording server", scheme)
		}
	case scheme == "sip" || scheme == "sips":
	case colon < 0 || !isScheme(scheme) || isDigits(rest) || strings.HasPrefix(s, "["):
		what := "a bare host name"
		if h := strings.TrimPrefix(hostOf(s), "["); h != "" && (h[0] >= '0' && h[0] <= '9' || strings.Contains(h, ":")) {
			what = "a bare IP address"
		}
		return fail(0, "%s is not a SIP URI: the sip: or sips: scheme is missing (write sip:%s)", what, maskPassword(s))
	case scheme == "tel":
		return fail(0, "a tel: URI names a phone number, not a recording server")
	default:
		return fail(0, "the scheme %q is not supported: only sip: and sips: URIs address a recording server", s[:colon])
	}

	u := URI{secure: scheme == "sips"}
	pos := colon + 1 // index in s of what rest starts with
	// A password is refused first, before anything after it, so that the
	// error's column points before the part maskPassword hides.
	userinfo, _, _ := strings.Cut(rest, "?")
	if at := strings.LastIndexByte(userinfo, '@'); at >= 0 {
		if i := strings.IndexByte(userinfo[:at], ':'); i >= 0 {
			return fail(pos+i, "a password in the URI (user:password@) is not accepted")
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		return fail(pos+q, "URI headers (%q) are not accepted in a recording server URI", rest[q:])
	}
	// The user part ends at the last '@' (RFC 3261 allows ';' in it).
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user := rest[:at]
		if user == "" {
			return fail(pos, "the user part before '@' is empty")
		}
		if i := badUserChar(user); i >= 0 {
			return fail(pos+i, "the user part %q has a character not allowed in a SIP URI (%q)", user, user[i])
		}
		u.user = user
		rest = rest[at+1:]
		pos += at + 1
	}
	hostport, params, hasParams := strings.Cut(rest, ";")
	if hostport == "" {
		return fail(pos, "the host is missing")
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return fail(pos, "the IPv6 address %q has no closing ']'", hostport)
		}
		host = hostport[:end+1]
		if tail := hostport[end+1:]; tail != "" {
			if tail[0] != ':' {
				return fail(pos+end+1, "unexpected %q after the IPv6 address", tail)
			}
			port = tail[1:]
			if port == "" {
				return fail(pos+end+1, "the port after ':' is empty")
			}
		}
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return fail(pos, "%q is not an IPv6 address", host)
		}
		u.addr = a
	} else {
		if i := strings.IndexByte(hostport, ':'); i >= 0 {
			host, port = hostport[:i], hostport[i+1:]
			if port == "" {
				return fail(pos+i, "the port after ':' is empty")
			}
		}
		if host == "" {
			return fail(pos, "the host is missing")
		}
		if looksNumeric(host) {
			a, err := netip.ParseAddr(host)
			if err != nil || !a.Is4() {
				return fail(pos, "%q is not a valid IPv4 address", host)
			}
			u.addr = a
		} else {
			if reason := checkHostname(host); reason != "" {
				return fail(pos, "the host %q is not a valid host name: %s", host, reason)
			}
			u.host = strings.ToLower(host)
		}
	}
	if port != "" {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 || !isDigits(port) {
			return fail(pos+len(host)+1, "the port %q is not a number from 1 to 65535", port)
		}
		u.port = uint16(p)
	}
	if hasParams {
		ppos := pos + len(hostport) + 1
		canon, err := canonParams(params, u.secure)
		if err != nil {
			return fail(ppos+err.at, "%s", err.reason)
		}
		u.params = canon
	}
	return u, nil
}

// maskPassword returns s, a recording server URI or a comma-separated list
// of them as given, with the password of every user:password@ part replaced
// by "***" ("sip:src:***@srs.example.com"), so that a refused input can be
// logged or quoted in an error. It masks generously (see passwordSpans).
func maskPassword(s string) string {
	spans := passwordSpans(s)
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	done := 0
	for _, sp := range spans {
		b.WriteString(s[done:sp[0]])
		b.WriteString("***")
		done = sp[1]
	}
	b.WriteString(s[done:])
	return b.String()
}

// passwordSpans returns the [start, end) byte ranges of s that may hold a
// password: for every '@', from after the first ':' that follows the scheme
// (the first "sip:", "sips:" or "scheme://" since the previous '@', or the
// previous '@' itself when there is none) up to the '@'. So a password is
// found even in a URI without a scheme, or one that holds a ',' (RFC 3261
// allows it) and is split by the list syntax.
func passwordSpans(s string) [][2]int {
	var spans [][2]int
	from := 0
	for {
		at := strings.IndexByte(s[from:], '@')
		if at < 0 {
			return spans
		}
		at += from
		start := userinfoStart(s, from, at)
		if c := strings.IndexByte(s[start:at], ':'); c >= 0 {
			spans = append(spans, [2]int{start + c + 1, at})
		}
		from = at + 1
	}
}

// userinfoStart returns where the user part that ends at s[at] starts: after
// the first "sip:", "sips:" or "//" in s[from:at], else at from.
func userinfoStart(s string, from, at int) int {
	seg := strings.ToLower(s[from:at])
	start := -1
	for _, m := range []string{"sip:", "sips:", "//"} {
		if i := strings.Index(seg, m); i >= 0 && (start < 0 || i+len(m) < start) {
			start = i + len(m)
		}
	}
	if start < 0 {
		return from
	}
	return from + start
}

type paramError struct {
	at     int
	reason string
}

// canonParams checks the ;-separated parameters (without the first ';') and
// returns their canonical form: ";name" or ";name=value" each, names
// lower-case, the transport value lower-case.
func canonParams(params string, secure bool) (string, *paramError) {
	var b strings.Builder
	seen := map[string]bool{}
	at := 0
	for _, p := range strings.Split(params, ";") {
		name, value, hasValue := strings.Cut(p, "=")
		name = strings.ToLower(name)
		switch {
		case name == "":
			return "", &paramError{at, "a URI parameter has no name (\";;\" or a trailing ';')"}
		case badParamChar(name) >= 0:
			return "", &paramError{at, fmt.Sprintf("the URI parameter name %q has a character not allowed in a SIP URI", name)}
		case hasValue && value == "":
			return "", &paramError{at, fmt.Sprintf("the URI parameter %q has an empty value", name)}
		case hasValue && badParamChar(value) >= 0:
			return "", &paramError{at, fmt.Sprintf("the value %q of the URI parameter %q has a character not allowed in a SIP URI", value, name)}
		case seen[name]:
			return "", &paramError{at, fmt.Sprintf("the URI parameter %q is given twice", name)}
		}
		seen[name] = true
		if name == "transport" {
			value = strings.ToLower(value)
			switch value {
			case "udp", "tcp", "tls":
				if secure && value == "udp" {
					return "", &paramError{at, "a sips: URI needs TLS: transport=udp is not possible"}
				}
			case "ws", "wss":
				return "", &paramError{at, "transport=" + value + " (WebSocket) is not supported: use udp, tcp or tls"}
			default:
				return "", &paramError{at, fmt.Sprintf("transport=%q is not supported: use udp, tcp or tls", value)}
			}
		}
		b.WriteByte(';')
		b.WriteString(name)
		if hasValue {
			b.WriteByte('=')
			b.WriteString(value)
		}
		at += len(p) + 1
	}
	return b.String(), nil
}

// IsValid reports whether u was parsed (the zero URI is not valid).
func (u URI) IsValid() bool { return u.host != "" || u.addr.IsValid() }

// Scheme returns "sip" or "sips" ("" for the zero URI).
func (u URI) Scheme() string {
	switch {
	case !u.IsValid():
		return ""
	case u.secure:
		return "sips"
	}
	return "sip"
}

// IsSecure reports whether u is a sips: URI.
func (u URI) IsSecure() bool { return u.secure }

// User returns the user part, "" when there is none.
func (u URI) User() string { return u.user }

// Host returns the host: a lower-case host name, or the IP address as
// text (IPv6 without brackets).
func (u URI) Host() string {
	if u.addr.IsValid() {
		return u.addr.String()
	}
	return u.host
}

// Addr returns the host's IP address when the host is an IP literal.
func (u URI) Addr() (netip.Addr, bool) { return u.addr, u.addr.IsValid() }

// Port returns the port, 0 when the URI gives none (then RFC 3263 decides:
// DNS SRV, or 5060 / 5061 for TLS).
func (u URI) Port() uint16 { return u.port }

// Param returns the value of the URI parameter name (case-insensitive) and
// whether it is present ("" for a parameter without value, such as ;lr).
func (u URI) Param(name string) (string, bool) {
	name = strings.ToLower(name)
	for p := range strings.SplitSeq(strings.TrimPrefix(u.params, ";"), ";") {
		n, v, _ := strings.Cut(p, "=")
		if n == name && p != "" {
			return v, true
		}
	}
	return "", false
}

// Transport returns the transport parameter ("udp", "tcp" or "tls"), or ""
// when the URI has none.
func (u URI) Transport() string {
	t, _ := u.Param("transport")
	return t
}

// String returns the canonical form of u, "" for the zero URI.
func (u URI) String() string {
	if !u.IsValid() {
		return ""
	}
	var b strings.Builder
	b.Grow(16 + len(u.user) + len(u.host) + len(u.params))
	b.WriteString(u.Scheme())
	b.WriteByte(':')
	if u.user != "" {
		b.WriteString(u.user)
		b.WriteByte('@')
	}
	switch {
	case u.addr.Is6():
		b.WriteByte('[')
		b.WriteString(u.addr.String())
		b.WriteByte(']')
	case u.addr.IsValid():
		b.WriteString(u.addr.String())
	default:
		b.WriteString(u.host)
	}
	if u.port != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(u.port)))
	}
	b.WriteString(u.params)
	return b.String()
}

// MarshalText implements encoding.TextMarshaler: the canonical form, empty
// for the zero URI.
func (u URI) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseURI; empty
// text gives the zero URI.
func (u *URI) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*u = URI{}
		return nil
	}
	v, err := ParseURI(string(text))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// URIList is a list of recording servers, recorded in parallel. Its text
// form is the comma-separated list ParseURIList reads, so it can be a flag
// (flag.TextVar) or a configuration field.
type URIList []URI

// String returns the canonical URIs joined by commas.
func (l URIList) String() string {
	parts := make([]string, len(l))
	for i, u := range l {
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// MarshalText implements encoding.TextMarshaler.
func (l URIList) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseURIList; empty
// text gives an empty list.
func (l *URIList) UnmarshalText(text []byte) error {
	if strings.TrimSpace(string(text)) == "" {
		*l = nil
		return nil
	}
	v, err := ParseURIList(string(text))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

func isScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return !strings.Contains(s, ".") // "srs.example.com:5060" is a host, not a scheme
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hostOf returns the host part of a bare "host[:port][;...]" for messages.
func hostOf(s string) string {
	s, _, _ = strings.Cut(s, ";")
	if strings.HasPrefix(s, "[") {
		return s
	}
	if strings.Count(s, ":") > 1 { // bare IPv6
		return s
	}
	h, _, _ := strings.Cut(s, ":")
	return h
}

// looksNumeric reports whether host is made of digits and dots only, so it
// must be an IPv4 address (RFC 3261's toplabel starts with a letter).
func looksNumeric(host string) bool {
	for i := 0; i < len(host); i++ {
		if c := host[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkHostname checks RFC 3261 §25.1's hostname: dot-separated labels of
// letters, digits and hyphens (not at either end), the last one starting
// with a letter, an optional trailing dot. It returns what is wrong, or "".
func checkHostname(h string) string {
	if len(h) > 253 {
		return "longer than 253 characters"
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	for i, l := range labels {
		switch {
		case l == "":
			return "it has an empty label"
		case len(l) > 63:
			return "a label is longer than 63 characters"
		case l[0] == '-' || l[len(l)-1] == '-':
			return "a label starts or ends with '-'"
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '-' {
				return fmt.Sprintf("%q is not allowed in a host name", c)
			}
		}
		if i == len(labels)-1 && !isAlpha(l[0]) {
			return "the last label must start with a letter"
		}
	}
	return ""
}

// badUserChar returns the index of the first character not allowed in the
// user part (RFC 3261 §25.1: unreserved, escaped, user-unreserved), or -1.
// ',' is excluded since it separates list items.
func badUserChar(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlpha(c), c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()&=+$;?/", c) >= 0:
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			i += 2
		default:
			return i
		}
	}
	return -1
}

// badParamChar returns the index of the first character not allowed in a
// URI parameter name or value (RFC 3261 §25.1 paramchar), or -1.
func badParamChar(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlpha(c), c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()[]/:&+$", c) >= 0:
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			i += 2
		default:
			return i
		}
	}
	return -1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
}
