// Package signing signs and verifies webhook requests.
//
// A signature covers a Unix timestamp and the exact body bytes:
//
//	v1 = hex(HMAC-SHA256(secret, timestamp + "." + body))
//
// and travels in one header in the form voice platforms already use:
//
//	Voicegw-Signature: t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
// A header may carry several v1 values (a sender signing with both the old
// and the new secret during rotation); verification accepts the request when
// any v1 matches any of the receiver's secrets. Unknown schemes (v0, v2…) are
// ignored so senders can add stronger ones later.
//
// tenancy exposes this as its public webhook API; sip uses it for the
// registration webhook.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header is the HTTP header that carries the signature.
const Header = "Voicegw-Signature"

// Scheme is the signature scheme this package writes and checks.
const Scheme = "v1"

// DefaultTolerance is how far a timestamp may lie from the receiver's clock,
// in either direction, when the caller gives no tolerance.
const DefaultTolerance = 5 * time.Minute

// maxHeaderLen bounds the header a verifier is willing to parse.
const maxHeaderLen = 4096

// Errors returned by ParseHeader and Verify; match them with errors.Is.
var (
	ErrNoSignature     = errors.New("signing: no signature header")
	ErrMalformedHeader = errors.New("signing: malformed signature header")
	ErrTimestampTooOld = errors.New("signing: timestamp outside tolerance (too old)")
	ErrTimestampTooNew = errors.New("signing: timestamp outside tolerance (in the future)")
	ErrNoMatch         = errors.New("signing: no signature matches")
	ErrNoSecret        = errors.New("signing: no secret to verify with")
)

// Signature is a parsed signature header.
type Signature struct {
	// Timestamp is the signing time in Unix seconds.
	Timestamp int64
	// V1 holds the v1 signatures, raw bytes (not hex), in header order.
	V1 [][]byte
}

// Compute returns the raw v1 MAC for a timestamp and body.
func Compute(secret []byte, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	var ts [20]byte
	m.Write(strconv.AppendInt(ts[:0], timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the header value for body signed at t with every secret given
// (normally one; two during a rotation).
func Sign(t time.Time, body []byte, secrets ...[]byte) string {
	s := Signature{Timestamp: t.Unix()}
	for _, sec := range secrets {
		s.V1 = append(s.V1, Compute(sec, s.Timestamp, body))
	}
	return s.String()
}

// String returns the canonical header form: t first, then each v1 in order.
func (s Signature) String() string {
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(s.Timestamp, 10))
	for _, v := range s.V1 {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(v))
	}
	return b.String()
}

// ParseHeader parses a header value. Elements are comma-separated key=value
// pairs; surrounding spaces are allowed. Exactly one t is required, and at
// least one v1; elements of other schemes are skipped.
func ParseHeader(h string) (Signature, error) {
	var s Signature
	if strings.TrimSpace(h) == "" {
		return s, ErrNoSignature
	}
	if len(h) > maxHeaderLen {
		return s, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformedHeader, len(h), maxHeaderLen)
	}
	seenT := false
	for _, el := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(el), "=")
		if !ok || k == "" {
			return Signature{}, fmt.Errorf("%w: element %q is not key=value", ErrMalformedHeader, el)
		}
		switch k {
		case "t":
			if seenT {
				return Signature{}, fmt.Errorf("%w: more than one t", ErrMalformedHeader)
			}
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ts < 0 || (len(v) > 1 && v[0] == '0') || v[0] == '+' {
				return Signature{}, fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrMalformedHeader, v)
			}
			s.Timestamp, seenT = ts, true
		case Scheme:
			mac, err := hex.DecodeString(v)
			if err != nil || len(mac) != sha256.Size {
				return Signature{}, fmt.Errorf("%w: v1 %q is not a hex SHA-256 MAC", ErrMalformedHeader, v)
			}
			s.V1 = append(s.V1, mac)
		}
	}
	if !seenT {
		return Signature{}, fmt.Errorf("%w: no t", ErrMalformedHeader)
	}
	if len(s.V1) == 0 {
		return Signature{}, fmt.Errorf("%w: no v1 signature", ErrMalformedHeader)
	}
	return s, nil
}

// Verify checks header against body with any of secrets. The timestamp must
// lie within tolerance of now in either direction (DefaultTolerance when
// tolerance is zero). Every candidate is compared in constant time.
func Verify(header string, body []byte, now time.Time, tolerance time.Duration, secrets ...[]byte) error {
	if len(secrets) == 0 {
		return ErrNoSecret
	}
	s, err := ParseHeader(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	age := now.Sub(time.Unix(s.Timestamp, 0))
	switch {
	case age > tolerance:
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrTimestampTooOld, age.Round(time.Second), tolerance)
	case -age > tolerance:
		return fmt.Errorf("%w: signed %s ahead, tolerance %s", ErrTimestampTooNew, (-age).Round(time.Second), tolerance)
	}
	match := 0
	for _, sec := range secrets {
		want := Compute(sec, s.Timestamp, body)
		for _, got := range s.V1 {
			match |= boolInt(hmac.Equal(want, got))
		}
	}
	if match == 0 {
		return ErrNoMatch
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
