package sip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors of the header parsers; match them with errors.Is.
var (
	// ErrNotDigest is returned for a header whose scheme is not Digest (for
	// example Basic). A server answers it with a fresh challenge.
	ErrNotDigest = errors.New("sip: authorization scheme is not Digest")
	// ErrMalformedHeader is returned for a Digest header that does not
	// follow the grammar of RFC 3261 §25.1 and RFC 7616 §3.4.
	ErrMalformedHeader = errors.New("sip: malformed digest header")
)

// maxAuthHeaderLen bounds what the parsers read; real headers are far shorter.
const maxAuthHeaderLen = 8 << 10

// Param is one auth-param as written: name=value or name="value".
type Param struct {
	// Name is the parameter name as written; names compare case-insensitively.
	Name string
	// Value is the unquoted, unescaped value.
	Value string
	// Quoted says whether the value was a quoted-string.
	Quoted bool
}

// Authorization is the value of an Authorization or Proxy-Authorization
// header with the Digest scheme (RFC 3261 §20.7, §20.28, §22.4; RFC 7616
// §3.4):
//
//	Digest username="alice", realm="example.test", nonce="…",
//	       uri="sip:example.test", response="…", algorithm=SHA-256,
//	       cnonce="…", qop=auth, nc=00000001
//
// The named fields hold the parameters the digest computation uses; every
// other parameter is kept in Params in the order written, so String writes
// back an equivalent header.
type Authorization struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm string // as written; "" means MD5 (RFC 3261 §20.7)
	CNonce    string
	Opaque    string
	QOP       string // "" for the RFC 2069 form
	NC        uint32 // nonce count; 0 when absent (counts start at 1)
	Params    []Param
}

// ParseAuthorization parses the value of an Authorization or
// Proxy-Authorization header. A scheme other than Digest gives ErrNotDigest;
// a Digest header that breaks the grammar, repeats a parameter, or has an nc
// that is not 8 hex digits gives ErrMalformedHeader, with the position (0-based byte offset) and
// the offending text. Missing parameters are not an error here: the
// verifier decides what it needs.
func ParseAuthorization(v string) (Authorization, error) {
	var a Authorization
	var buf [maxDigestParams]Param
	params, err := parseDigest(v, buf[:0])
	if err != nil {
		return a, err
	}
	for _, p := range params {
		switch {
		case strings.EqualFold(p.Name, "username"):
			a.Username = p.Value
		case strings.EqualFold(p.Name, "realm"):
			a.Realm = p.Value
		case strings.EqualFold(p.Name, "nonce"):
			a.Nonce = p.Value
		case strings.EqualFold(p.Name, "uri"):
			a.URI = p.Value
		case strings.EqualFold(p.Name, "response"):
			a.Response = p.Value
		case strings.EqualFold(p.Name, "algorithm"):
			a.Algorithm = p.Value
		case strings.EqualFold(p.Name, "cnonce"):
			a.CNonce = p.Value
		case strings.EqualFold(p.Name, "opaque"):
			a.Opaque = p.Value
		case strings.EqualFold(p.Name, "qop"):
			a.QOP = p.Value
		case strings.EqualFold(p.Name, "nc"):
			n, ok := parseNC(p.Value)
			if !ok {
				return Authorization{}, fmt.Errorf("%w: nc %q is not 8 hex digits counting from 00000001", ErrMalformedHeader, p.Value)
			}
			a.NC = n
		default:
			a.Params = append(a.Params, p)
		}
	}
	return a, nil
}

func parseNC(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint32(n), true
}

// String returns the header value: "Digest", the named parameters in a fixed
// order (quoted where RFC 3261 quotes them), then Params as written. Empty
// named fields are left out. ParseAuthorization(a.String()) gives back a.
func (a Authorization) String() string {
	var b strings.Builder
	b.WriteString("Digest ")
	n := 0
	add := func(name, value string, quoted bool) {
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		writeParam(&b, name, value, quoted)
	}
	for _, f := range []struct {
		name, value string
		quoted      bool
	}{
		{"username", a.Username, true},
		{"realm", a.Realm, true},
		{"nonce", a.Nonce, true},
		{"uri", a.URI, true},
		{"response", a.Response, true},
		{"algorithm", a.Algorithm, false},
		{"cnonce", a.CNonce, true},
		{"opaque", a.Opaque, true},
		{"qop", a.QOP, false},
	} {
		if f.value != "" {
			add(f.name, f.value, f.quoted)
		}
	}
	if a.NC != 0 {
		add("nc", fmt.Sprintf("%08x", a.NC), false)
	}
	for _, p := range a.Params {
		add(p.Name, p.Value, p.Quoted)
	}
	if n == 0 {
		// "Digest " alone does not parse; keep String's output parseable
		add("username", "", true)
	}
	return b.String()
}

// summary describes the answer for log lines, without the response (a
// hash of the password).
func (a Authorization) summary() string {
	return fmt.Sprintf("username=%q realm=%q uri=%q algorithm=%q qop=%q nc=%08x", a.Username, a.Realm, a.URI, a.Algorithm, a.QOP, a.NC)
}

// Challenge is the value of a WWW-Authenticate or Proxy-Authenticate header
// with the Digest scheme (RFC 3261 §20.27, §20.44; RFC 7616 §3.3):
//
//	Digest realm="example.test", nonce="…", algorithm=SHA-256, qop="auth"
type Challenge struct {
	Realm     string
	Domain    string
	Nonce     string
	Opaque    string
	Stale     bool
	Algorithm string   // "" means MD5
	QOP       []string // offered qop values, for example ["auth"]; empty for RFC 2069
	Params    []Param  // other parameters, in order
}

// ParseChallenge parses a WWW-Authenticate or Proxy-Authenticate value with
// the Digest scheme. Errors are those of ParseAuthorization.
func ParseChallenge(v string) (Challenge, error) {
	var c Challenge
	var buf [maxDigestParams]Param
	params, err := parseDigest(v, buf[:0])
	if err != nil {
		return c, err
	}
	for _, p := range params {
		switch strings.ToLower(p.Name) {
		case "realm":
			c.Realm = p.Value
		case "domain":
			c.Domain = p.Value
		case "nonce":
			c.Nonce = p.Value
		case "opaque":
			c.Opaque = p.Value
		case "stale":
			switch strings.ToLower(p.Value) {
			case "true":
				c.Stale = true
			case "false":
			default:
				return Challenge{}, fmt.Errorf("%w: stale=%q is neither true nor false", ErrMalformedHeader, p.Value)
			}
		case "algorithm":
			c.Algorithm = p.Value
		case "qop":
			for _, q := range strings.Split(p.Value, ",") {
				q = strings.TrimSpace(q)
				if q == "" || !isToken(q) {
					return Challenge{}, fmt.Errorf("%w: qop %q is not a list of tokens", ErrMalformedHeader, p.Value)
				}
				c.QOP = append(c.QOP, q)
			}
		default:
			c.Params = append(c.Params, p)
		}
	}
	return c, nil
}

// String returns the header value; ParseChallenge(c.String()) gives back c.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString("Digest ")
	n := 0
	add := func(name, value string, quoted bool) {
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		writeParam(&b, name, value, quoted)
	}
	if c.Realm != "" {
		add("realm", c.Realm, true)
	}
	if c.Domain != "" {
		add("domain", c.Domain, true)
	}
	if c.Nonce != "" {
		add("nonce", c.Nonce, true)
	}
	if c.Opaque != "" {
		add("opaque", c.Opaque, true)
	}
	if c.Stale {
		add("stale", "true", false)
	}
	if c.Algorithm != "" {
		add("algorithm", c.Algorithm, false)
	}
	if len(c.QOP) > 0 {
		add("qop", strings.Join(c.QOP, ","), true)
	}
	for _, p := range c.Params {
		add(p.Name, p.Value, p.Quoted)
	}
	if n == 0 {
		// "Digest " alone does not parse; keep String's output parseable
		return "Digest realm=\"\""
	}
	return b.String()
}

// writeParam writes name=value, quoting when asked or when the value is not
// a token (so the output always parses back to the same value).
func writeParam(b *strings.Builder, name, value string, quoted bool) {
	b.WriteString(name)
	b.WriteByte('=')
	if !quoted && value != "" && isLenientValue(value) {
		b.WriteString(value)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(value[i])
	}
	b.WriteByte('"')
}

// maxDigestParams bounds the parameters of a Digest header: real ones
// have a dozen at most, and each is checked against those before it.
const maxDigestParams = 32

// parseDigest parses `Digest` LWS auth-param *(COMMA auth-param),
// appending the parameters to params.
func parseDigest(v string, params []Param) ([]Param, error) {
	if len(v) > maxAuthHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformedHeader, len(v), maxAuthHeaderLen)
	}
	s := strings.TrimLeft(v, " \t")
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 || !strings.EqualFold(s[:i], "Digest") {
		if i == 0 {
			return nil, fmt.Errorf("%w: no scheme in %q", ErrNotDigest, clip(v))
		}
		return nil, fmt.Errorf("%w: scheme %q", ErrNotDigest, s[:i])
	}
	s = s[i:]
	if s == "" || (s[0] != ' ' && s[0] != '\t') {
		return nil, fmt.Errorf("%w: no parameters after Digest", ErrMalformedHeader)
	}
	p := digestParser{s: s, base: len(v) - len(s)}
	first := len(params)
	for {
		p.skipWS()
		name, err := p.token()
		if err != nil {
			return nil, err
		}
		p.skipWS()
		if !p.eat('=') {
			return nil, p.errorf("expected '=' after %q", name)
		}
		p.skipWS()
		var prm Param
		prm.Name = name
		if p.peek() == '"' {
			prm.Value, err = p.quoted()
			prm.Quoted = true
		} else {
			prm.Value, err = p.unquoted()
		}
		if err != nil {
			return nil, err
		}
		for _, q := range params[first:] {
			if strings.EqualFold(q.Name, name) {
				return nil, fmt.Errorf("%w: parameter %q appears twice", ErrMalformedHeader, name)
			}
		}
		if len(params)-first == maxDigestParams {
			return nil, fmt.Errorf("%w: more than %d parameters", ErrMalformedHeader, maxDigestParams)
		}
		params = append(params, prm)
		p.skipWS()
		if p.done() {
			return params, nil
		}
		if !p.eat(',') {
			return nil, p.errorf("expected ',' after the value of %q", name)
		}
	}
}

type digestParser struct {
	s    string
	i    int
	base int // offset of s in the original value, for error positions
}

func (p *digestParser) done() bool { return p.i >= len(p.s) }

func (p *digestParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *digestParser) eat(c byte) bool {
	if p.peek() == c && !p.done() {
		p.i++
		return true
	}
	return false
}

func (p *digestParser) skipWS() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *digestParser) errorf(format string, args ...any) error {
	rest := p.s[p.i:]
	if len(rest) > 20 {
		rest = rest[:20] + "…"
	}
	return fmt.Errorf("%w: at byte %d (%q): %s", ErrMalformedHeader, p.base+p.i, rest, fmt.Sprintf(format, args...))
}

func (p *digestParser) token() (string, error) {
	start := p.i
	for !p.done() && isTokenChar(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", p.errorf("expected a parameter name")
	}
	return p.s[start:p.i], nil
}

// unquoted reads a token. It is lenient like deployed servers: any visible
// character but '"' and ',' is taken, so uri=sip:a@b or nonce=abc== parse.
func (p *digestParser) unquoted() (string, error) {
	start := p.i
	for !p.done() && isLenientChar(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", p.errorf("expected a value")
	}
	return p.s[start:p.i], nil
}

func (p *digestParser) quoted() (string, error) {
	open := p.i
	p.i++ // opening quote
	var b strings.Builder
	start := p.i
	plain := true
	for !p.done() {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			if plain {
				return p.s[start : p.i-1], nil
			}
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", p.errorf("backslash at the end of a quoted string")
			}
			if plain {
				b.WriteString(p.s[start:p.i])
				plain = false
			}
			e := p.s[p.i+1]
			if isCTL(e) {
				return "", p.errorf("control character in a quoted string")
			}
			b.WriteByte(e)
			p.i += 2
		case isCTL(c) && c != '\t':
			return "", p.errorf("control character in a quoted string")
		default:
			if !plain {
				b.WriteByte(c)
			}
			p.i++
		}
	}
	p.i = open
	return "", p.errorf("unterminated quoted string")
}

func isCTL(c byte) bool { return c < 0x20 || c == 0x7f }

// isTokenChar reports whether c is a token character (RFC 3261 §25.1).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", c) >= 0
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}

func isLenientChar(c byte) bool {
	return c > ' ' && c != 0x7f && c != '"' && c != ','
}

func isLenientValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLenientChar(s[i]) {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
