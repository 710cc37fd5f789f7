package tenancy

import (
	"fmt"
	"strings"

	"github.com/voicegw/voicegw/internal/uuid"
)

// SID identifies an account or an application: a random (version 4) UUID in
// its canonical lowercase form, for example
// "2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4". The zero SID is "".
type SID string

// NewSID returns a fresh random SID.
func NewSID() SID { return SID(uuid.New()) }

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
