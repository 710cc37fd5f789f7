// Package secret holds values that must never appear in logs, errors or API
// output: passwords, API keys, HA1 digests, nonce keys, webhook secrets,
// bucket credentials and SRTP keys. It is the one secret type of voicegw:
// every package that takes or returns a secret uses String or Bytes from
// here (tenancy's webhook secrets, rbac's API keys, sip's passwords and HA1
// values, storage's bucket credentials, media's SRTP keys, the clients of
// siprec and insights).
//
// It lives under rbac because secrets are what access control is made of,
// but it is a leaf: it imports only the standard library, and every package
// of the module may import it (internal/layering holds that rule), so
// storage, sip and media use it without depending on rbac.
//
// String is a string type whose every printed form is redacted: fmt with any
// verb (%v, %s, %q, %x, %#v ...), slog (LogValue) and errors built with fmt.
// JSON and text marshalling give the masked show-back form (Mask: the first
// four characters of a secret longer than eight, then X; shorter secrets
// entirely X), so a configuration can be shown back to the operator who
// entered it, and Keep recognises that form when it is submitted back.
// Unmarshalling takes the plain value. The plain value is reached only
// through Reveal, so code that needs it says so where it happens; stores that
// must keep the real value serialize Reveal() explicitly.
//
// Bytes is the same for binary key material (media's SRTP master keys),
// redacted in every form, JSON and text included: never shown, not even in
// part.
//
// One limit: fmt cannot call methods on unexported struct fields, so a
// struct holding a secret in an unexported field prints it plainly under
// %v. Keep secrets in exported fields of anything that may be printed, or do
// not print the struct.
package secret

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// Redacted is what every printed form of a non-empty String shows.
const Redacted = "[REDACTED]"

// maskVisible is how many leading characters Mask keeps.
const maskVisible = 4

// maskChar replaces every hidden character of a masked value.
const maskChar = 'X'

// String is a secret string. Its zero value is the empty secret.
//
// Printing it with fmt (any verb), logging it with slog, or marshalling it to
// JSON or text yields a redacted form; JSON and text marshalling yield the
// masked form (see Mask) so a configuration can be shown back to the operator
// who entered it. Unmarshalling accepts the plain value. Stores that must keep
// the real value serialize Reveal() explicitly.
type String string

// Reveal returns the plain secret. Call it only where the secret is used:
// computing a hash, dialling a server, signing a request.
func (s String) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s String) IsZero() bool { return s == "" }

// String implements fmt.Stringer with the redacted form.
func (s String) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer, so %#v is redacted too.
func (s String) GoString() string {
	if s == "" {
		return `""`
	}
	return `"` + Redacted + `"`
}

// Format implements fmt.Formatter: every verb prints the redacted form.
func (s String) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.String())
	case 'v':
		if f.Flag('#') {
			_, _ = f.Write([]byte(s.GoString()))
			return
		}
		_, _ = f.Write([]byte(s.String()))
	default:
		_, _ = f.Write([]byte(s.String()))
	}
}

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Mask returns the form shown back to an operator: the first few characters,
// then one X per hidden character. Short secrets are masked completely.
func (s String) Mask() string { return Mask(string(s)) }

// MarshalText implements encoding.TextMarshaler with the masked form.
func (s String) MarshalText() ([]byte, error) { return []byte(s.Mask()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it takes the plain value.
func (s *String) UnmarshalText(b []byte) error {
	*s = String(b)
	return nil
}

// Equal compares two secrets in constant time (for equal lengths).
func (s String) Equal(o String) bool {
	return subtle.ConstantTimeCompare([]byte(s), []byte(o)) == 1
}

// Keep returns the secret a configuration should hold after an operator
// submitted a value for it: when submitted is the masked form of the stored
// secret (the operator saved the form without retyping it) or empty, the
// stored secret is kept; otherwise the submitted value replaces it.
func (s String) Keep(submitted String) String {
	if submitted == "" || (s != "" && string(submitted) == s.Mask()) {
		return s
	}
	return submitted
}

// Mask returns v with every character after the first four replaced by X;
// values of eight characters or fewer are replaced completely, so a short
// secret reveals nothing.
func Mask(v string) string {
	n := utf8.RuneCountInString(v)
	if n == 0 {
		return ""
	}
	visible := maskVisible
	if n <= 2*maskVisible {
		visible = 0
	}
	var b strings.Builder
	b.Grow(len(v))
	i := 0
	for _, r := range v {
		if i < visible {
			b.WriteRune(r)
		} else {
			b.WriteRune(maskChar)
		}
		i++
	}
	return b.String()
}
