package tenancy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// SID identifies an account or an application: a random (version 4) UUID in
// its canonical lowercase form, for example
// "2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4". The zero SID is "".
type SID string

// NewSID returns a fresh random SID.
func NewSID() SID {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return SID(s[:])
}

// ParseSID parses a UUID in the 8-4-4-4-12 hex form (either case) and
// returns it in canonical lowercase form. The error names the input.
func ParseSID(s string) (SID, error) {
	if len(s) != 36 {
		return "", fmt.Errorf("%w: SID %q: want 36 characters (UUID), got %d", ErrInvalid, s, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", fmt.Errorf("%w: SID %q: want '-' at position %d", ErrInvalid, s, i)
			}
		default:
			if !isHex(c) {
				return "", fmt.Errorf("%w: SID %q: %q at position %d is not hex", ErrInvalid, s, c, i)
			}
		}
	}
	return SID(strings.ToLower(s)), nil
}

// String returns the SID.
func (s SID) String() string { return string(s) }

// IsZero reports whether s is the zero SID.
func (s SID) IsZero() bool { return s == "" }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
