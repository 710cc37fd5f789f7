package siprec

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrMalformedBody is matched by errors for a multipart body that cannot be
// split into parts (no boundary parameter, no delimiter line), and for parts
// that cannot be written (a header value with a line break, a part that
// holds the boundary). A server answers 400.
var ErrMalformedBody = errors.New("siprec: malformed multipart body")

// Part is one body part of a multipart/mixed SIP body (RFC 2046 §5.1.1, as
// used by RFC 7866 §8.1).
type Part struct {
	// ContentType and ContentDisposition are the part's header values as
	// written (parameters included); "" when absent.
	ContentType        string
	ContentDisposition string // see ContentType
	// Body is the part's content: everything between the blank line after
	// its headers and the line break before the next delimiter.
	Body []byte
}

// MediaType returns the part's media type, lower-cased and without
// parameters ("application/sdp").
func (p Part) MediaType() string { return mediaType(p.ContentType) }

// Disposition returns the part's disposition type, lower-cased and without
// parameters ("recording-session").
func (p Part) Disposition() string { return mediaType(p.ContentDisposition) }

// mediaType returns the lower-cased value of a header before any parameter.
func mediaType(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// param returns the value of parameter name of a header value such as
// `multipart/mixed; boundary="x y"`: quoted (with backslash escapes) or bare
// (up to the next ';', so that bare boundaries with characters RFC 2045
// would want quoted, such as '=', are still read).
func param(v, name string) (string, bool) {
	i := strings.IndexByte(v, ';')
	if i < 0 {
		return "", false
	}
	rest := v[i+1:]
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t")
		eq := strings.IndexAny(rest, "=;")
		if eq < 0 {
			return "", false
		}
		key := strings.TrimSpace(rest[:eq])
		if rest[eq] == ';' {
			rest = rest[eq+1:]
			continue
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			j := 1
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' && j+1 < len(rest) {
					j++
				}
				b.WriteByte(rest[j])
			}
			val = b.String()
			rest = rest[min(j+1, len(rest)):]
			if k := strings.IndexByte(rest, ';'); k >= 0 {
				rest = rest[k+1:]
			} else {
				rest = ""
			}
		} else {
			k := strings.IndexByte(rest, ';')
			if k < 0 {
				k = len(rest)
			}
			val = strings.TrimSpace(rest[:k])
			rest = rest[min(k+1, len(rest)):]
		}
		if strings.EqualFold(key, name) {
			return val, true
		}
	}
	return "", false
}

// ParseMultipart splits a multipart body into its parts. contentType is the
// message's Content-Type header value; its boundary may be quoted or bare.
// Line ends may be CRLF or LF (mixed, even); the preamble and epilogue are
// ignored; a missing closing delimiter is tolerated (the last part then ends
// at the end of the body, less one line break). Part bodies are slices of
// body.
func ParseMultipart(contentType string, body []byte) ([]Part, error) {
	mt := mediaType(contentType)
	if !strings.HasPrefix(mt, "multipart/") {
		return nil, fmt.Errorf("%w: content type %q is not multipart", ErrMalformedBody, contentType)
	}
	boundary, ok := param(contentType, "boundary")
	if !ok || boundary == "" {
		return nil, fmt.Errorf("%w: content type %q has no boundary parameter", ErrMalformedBody, contentType)
	}
	delim := []byte("--" + boundary)
	_, end, closing, ok := nextDelimiter(body, delim, 0)
	if !ok {
		return nil, fmt.Errorf("%w: no delimiter line %q in the body", ErrMalformedBody, delim)
	}
	var parts []Part
	pos := end
	for !closing {
		s, e, c, found := nextDelimiter(body, delim, pos)
		var content []byte
		if found {
			content = body[pos:trimLineBreak(body, pos, s)]
		} else {
			content = body[pos:trimLineBreak(body, pos, len(body))]
		}
		parts = append(parts, parsePart(content))
		if !found {
			break
		}
		pos, closing = e, c
	}
	return parts, nil
}

// trimLineBreak returns the end of a part's content that runs up to at: the
// CRLF or LF before at belongs to the delimiter.
func trimLineBreak(body []byte, from, at int) int {
	if at > from && body[at-1] == '\n' {
		at--
		if at > from && body[at-1] == '\r' {
			at--
		}
	}
	return at
}

// nextDelimiter finds the next delimiter line at or after from: "--boundary"
// at the start of a line, optionally "--" (closing), optional spaces or tabs,
// then a line end or the end of the body. It returns where the line starts
// and where the next line starts.
func nextDelimiter(body, delim []byte, from int) (start, end int, closing, ok bool) {
	for i := from; i <= len(body); {
		j := bytes.Index(body[i:], delim)
		if j < 0 {
			return 0, 0, false, false
		}
		k := i + j
		if k == 0 || body[k-1] == '\n' {
			m := k + len(delim)
			c := bytes.HasPrefix(body[m:], []byte("--"))
			if c {
				m += 2
			}
			for m < len(body) && (body[m] == ' ' || body[m] == '\t') {
				m++
			}
			switch {
			case m == len(body):
				return k, m, c, true
			case body[m] == '\n':
				return k, m + 1, c, true
			case body[m] == '\r' && m+1 < len(body) && body[m+1] == '\n':
				return k, m + 2, c, true
			case body[m] == '\r' && m+1 == len(body):
				return k, m + 1, c, true
			}
		}
		i = k + 1
	}
	return 0, 0, false, false
}

// parsePart reads the headers of a part (up to the first empty line; folded
// lines are joined) and returns the part. A part without an empty line is
// all headers.
func parsePart(content []byte) Part {
	var p Part
	rest := content
	for len(rest) > 0 {
		nl := bytes.IndexByte(rest, '\n')
		var line []byte
		if nl < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:nl], rest[nl+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			p.Body = rest
			if p.Body == nil {
				p.Body = []byte{}
			}
			return p
		}
		// Folded continuation lines.
		for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			nl := bytes.IndexByte(rest, '\n')
			var cont []byte
			if nl < 0 {
				cont, rest = rest, nil
			} else {
				cont, rest = rest[:nl], rest[nl+1:]
			}
			line = append(append(bytes.Clone(line), ' '), bytes.TrimSpace(cont)...)
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v := string(bytes.TrimSpace(value))
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "content-type":
			if p.ContentType == "" {
				p.ContentType = v
			}
		case "content-disposition":
			if p.ContentDisposition == "" {
				p.ContentDisposition = v
			}
		}
	}
	p.Body = []byte{}
	return p
}

// NewBoundary returns a random boundary: "voicegw-" and 32 hex digits.
func NewBoundary() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "voicegw-" + hex.EncodeToString(b[:])
}

// BuildMultipart writes parts as a multipart/mixed body with CRLF line ends
// and returns the Content-Type header value and the body. An empty boundary
// picks NewBoundary(). Parts are written with their Content-Type and
// Content-Disposition headers (when set) and their body unchanged, so
// ParseMultipart gives them back exactly. The boundary must be 1 to 70
// characters of RFC 2046's bchars and must not occur in any part.
func BuildMultipart(parts []Part, boundary string) (contentType string, body []byte, err error) {
	if boundary == "" {
		boundary = NewBoundary()
	}
	if err := checkBoundary(boundary); err != nil {
		return "", nil, err
	}
	size := 8 + len(boundary)
	delim := []byte("--" + boundary)
	for i, p := range parts {
		if strings.ContainsAny(p.ContentType, "\r\n") || strings.ContainsAny(p.ContentDisposition, "\r\n") {
			return "", nil, fmt.Errorf("%w: part %d has a line break in a header value", ErrMalformedBody, i)
		}
		if bytes.Contains(p.Body, delim) {
			return "", nil, fmt.Errorf("%w: part %d contains the boundary %q", ErrMalformedBody, i, boundary)
		}
		size += len(boundary) + len(p.ContentType) + len(p.ContentDisposition) + len(p.Body) + 64
	}
	b := make([]byte, 0, size)
	for _, p := range parts {
		b = append(b, "--"...)
		b = append(b, boundary...)
		b = append(b, "\r\n"...)
		if p.ContentType != "" {
			b = append(b, "Content-Type: "...)
			b = append(b, strings.TrimSpace(p.ContentType)...)
			b = append(b, "\r\n"...)
		}
		if p.ContentDisposition != "" {
			b = append(b, "Content-Disposition: "...)
			b = append(b, strings.TrimSpace(p.ContentDisposition)...)
			b = append(b, "\r\n"...)
		}
		b = append(b, "\r\n"...)
		b = append(b, p.Body...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "--"...)
	b = append(b, boundary...)
	b = append(b, "--\r\n"...)
	ct := "multipart/mixed;boundary=" + boundary
	if strings.ContainsAny(boundary, "'()+,/:=? ") {
		ct = `multipart/mixed;boundary="` + boundary + `"`
	}
	return ct, b, nil
}

// checkBoundary checks RFC 2046 §5.1.1's boundary syntax.
func checkBoundary(b string) error {
	if len(b) > 70 || strings.HasSuffix(b, " ") {
		return fmt.Errorf("%w: boundary %q: want 1 to 70 characters, not ending in a space", ErrMalformedBody, b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("'()+_,-./:=? ", c) >= 0 {
			continue
		}
		return fmt.Errorf("%w: boundary %q has character %q at %d", ErrMalformedBody, b, c, i)
	}
	return nil
}
