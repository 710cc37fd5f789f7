// Package uuid makes random (version 4) UUIDs, RFC 9562 §5.4, in their
// canonical lowercase 8-4-4-4-12 form: the IDs of accounts, applications,
// members, roles and API keys. It is the one UUID helper of the module.
package uuid

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a fresh random UUID, for example
// "2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4".
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10 (RFC 9562)
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
	return string(s[:])
}
