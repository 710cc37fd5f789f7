package secret

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// Bytes is secret binary material, such as an SRTP master key. Like String,
// every printed form is redacted (fmt with any verb, slog); unlike String,
// JSON and text marshalling are redacted too, not masked: key material is
// never shown back to anyone, not even in part. The plain bytes are reached
// only through Reveal.
type Bytes []byte

// Reveal returns the plain bytes (not a copy). Call it only where the secret
// is used: deriving keys, writing the protocol element that carries it.
func (b Bytes) Reveal() []byte { return b }

// IsZero reports whether there is no secret.
func (b Bytes) IsZero() bool { return len(b) == 0 }

// String implements fmt.Stringer with the redacted form.
func (b Bytes) String() string {
	if len(b) == 0 {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer, so %#v is redacted too.
func (b Bytes) GoString() string { return `"` + b.String() + `"` }

// Format implements fmt.Formatter: every verb prints the redacted form.
func (b Bytes) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q':
		fmt.Fprintf(f, "%q", b.String())
	case verb == 'v' && f.Flag('#'):
		_, _ = f.Write([]byte(b.GoString()))
	default:
		_, _ = f.Write([]byte(b.String()))
	}
}

// LogValue implements slog.LogValuer.
func (b Bytes) LogValue() slog.Value { return slog.StringValue(b.String()) }

// MarshalText implements encoding.TextMarshaler with the redacted form, so
// JSON and other text encodings never carry the secret.
func (b Bytes) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// Equal compares two secrets in constant time (for equal lengths).
func (b Bytes) Equal(o Bytes) bool { return subtle.ConstantTimeCompare(b, o) == 1 }
