package rbac

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/voicegw/voicegw/rbac/secret"
	"golang.org/x/crypto/argon2"
)

// Members sign in with their email and a password (seed 002: "email address
// used for authentication"). The store keeps only an Argon2id hash of the
// password (RFC 9106), in the PHC string format
// "$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH", so a hash made with other
// parameters still verifies after the defaults change.

// Limits of a member's password (CheckPassword).
const (
	MinPasswordLen = 12  // characters
	MaxPasswordLen = 256 // bytes
)

var (
	// ErrWrongPassword is the one answer VerifyPassword gives to an unknown
	// email, a member without a password and a wrong password alike, so a
	// sign-in form cannot tell which emails exist.
	ErrWrongPassword = errors.New("rbac: wrong email or password")
	// ErrWeakPassword: a new password fails CheckPassword. It wraps
	// ErrInvalid.
	ErrWeakPassword = fmt.Errorf("%w: password too weak", ErrInvalid)
	// ErrNoPasswords: the MemberDriver does not implement PasswordDriver,
	// so its members cannot have passwords.
	ErrNoPasswords = errors.New("rbac: the member store keeps no passwords (its driver is not a PasswordDriver)")
	// ErrInvalidHash: a stored hash is not an Argon2id PHC string this
	// package can verify.
	ErrInvalidHash = errors.New("rbac: invalid password hash")
)

// PasswordDriver is what a MemberDriver also implements to keep members'
// password hashes. The hash is an opaque string (at most 512 bytes) stored
// with the member: deleting the member deletes it, and no Member value
// carries it (so no API answer can leak it). Missing members are
// ErrNotFound (wrapped), as in MemberDriver. rbac/storetest's member suite
// checks it.
type PasswordDriver interface {
	// SetPasswordHash replaces the member's password hash ("" removes it).
	SetPasswordHash(ctx context.Context, memberID, hash string) error
	// PasswordHash returns the member's password hash, "" when it has none.
	PasswordHash(ctx context.Context, memberID string) (string, error)
}

// PasswordParams are the Argon2id parameters of new password hashes and the
// bound on hashes computed at once. The zero value works; each field's
// default is OWASP's first Argon2id recommendation (19 MiB, 2 passes, 1 lane).
type PasswordParams struct {
	// Memory is in KiB. Default: 19456 (19 MiB).
	Memory uint32
	// Time is the number of passes. Default: 2.
	Time uint32
	// Threads is the number of lanes. Default: 1.
	Threads uint8
	// MaxConcurrent bounds the hashes a MemberStore computes at once, so a
	// flood of sign-ins cannot take Memory times their number: the others
	// wait (or give up with their context). Default: 4.
	MaxConcurrent int
}

func (p PasswordParams) withDefaults() PasswordParams {
	if p.Memory == 0 {
		p.Memory = 19456
	}
	if p.Time == 0 {
		p.Time = 2
	}
	if p.Threads == 0 {
		p.Threads = 1
	}
	if p.MaxConcurrent <= 0 {
		p.MaxConcurrent = 4
	}
	return p
}

const (
	saltLen = 16
	hashLen = 32
	// Bounds on the parameters a stored hash may ask for, so a tampered
	// row cannot make a check take gigabytes or minutes.
	maxHashMemory = 1 << 20 // KiB: 1 GiB
	maxHashTime   = 64
)

var phc = base64.RawStdEncoding

// PasswordHash is a parsed Argon2id PHC string.
type PasswordHash struct {
	Memory, Time uint32
	Threads      uint8
	Salt, Key    []byte
}

// ParsePasswordHash parses "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH" (SALT and
// HASH in unpadded standard base64). Errors wrap ErrInvalidHash and never
// quote the hash.
func ParsePasswordHash(s string) (PasswordHash, error) {
	var h PasswordHash
	bad := func(why string) (PasswordHash, error) {
		return PasswordHash{}, fmt.Errorf("%w: %s", ErrInvalidHash, why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if parts[1] != "argon2id" {
		return bad("not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	ps := strings.Split(parts[3], ",")
	if len(ps) != 3 {
		return bad("want m=…,t=…,p=…")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(ps[i], name+"=")
		if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
			return bad("want m=…,t=…,p=…")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameter " + name + " is not a number")
		}
		vals[i] = n
	}
	if vals[0] < 8 || vals[0] > maxHashMemory || vals[1] < 1 || vals[1] > maxHashTime || vals[2] < 1 || vals[2] > 255 || vals[0] < 8*vals[2] {
		return bad("parameters out of range")
	}
	h.Memory, h.Time, h.Threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	// Canonical base64 only (the decoder skips CR and LF).
	var err error
	if h.Salt, err = phc.Strict().DecodeString(parts[4]); err != nil || len(h.Salt) < 8 || len(h.Salt) > 64 || phc.EncodeToString(h.Salt) != parts[4] {
		return bad("bad salt")
	}
	if h.Key, err = phc.Strict().DecodeString(parts[5]); err != nil || len(h.Key) < 16 || len(h.Key) > 64 || phc.EncodeToString(h.Key) != parts[5] {
		return bad("bad hash")
	}
	return h, nil
}

// String returns the PHC string.
func (h PasswordHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.Memory, h.Time, h.Threads,
		phc.EncodeToString(h.Salt), phc.EncodeToString(h.Key))
}

// Verify reports, in constant time over the key, whether password hashes to h.
func (h PasswordHash) Verify(password secret.String) bool {
	k := argon2.IDKey([]byte(password.Reveal()), h.Salt, h.Time, h.Memory, h.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(k, h.Key) == 1
}

// HashPassword returns the Argon2id hash of password with a fresh random
// salt and params (zero fields take their defaults).
func HashPassword(password secret.String, params PasswordParams) PasswordHash {
	p := params.withDefaults()
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	return PasswordHash{Memory: p.Memory, Time: p.Time, Threads: p.Threads, Salt: salt,
		Key: argon2.IDKey([]byte(password.Reveal()), salt, p.Time, p.Memory, p.Threads, hashLen)}
}

// CheckPassword refuses a password that is too short (fewer than
// MinPasswordLen characters), too long (more than MaxPasswordLen bytes), not
// UTF-8, holding a control character, or made of fewer than 5 distinct
// characters. The error wraps ErrWeakPassword and never holds the password.
func CheckPassword(password secret.String) error {
	s := password.Reveal()
	n := utf8.RuneCountInString(s)
	distinct := map[rune]bool{}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: it holds a control character", ErrWeakPassword)
		}
		distinct[r] = true
	}
	switch {
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: not UTF-8 text", ErrWeakPassword)
	case n < MinPasswordLen:
		return fmt.Errorf("%w: %d characters, want at least %d", ErrWeakPassword, n, MinPasswordLen)
	case len(s) > MaxPasswordLen:
		return fmt.Errorf("%w: %d bytes, want at most %d", ErrWeakPassword, len(s), MaxPasswordLen)
	case len(distinct) < 5:
		return fmt.Errorf("%w: only %d distinct characters", ErrWeakPassword, len(distinct))
	}
	return nil
}

func (s *MemberStore) passwords() (PasswordDriver, error) {
	pd, ok := s.d.(PasswordDriver)
	if !ok {
		return nil, ErrNoPasswords
	}
	return pd, nil
}

// hashing runs f while holding one of the store's hashing slots.
func (s *MemberStore) hashing(ctx context.Context, f func()) error {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashSlots }()
	f()
	return nil
}

// SetPassword checks password (CheckPassword) and stores its Argon2id hash
// as the member's password, replacing any. Errors never hold the password.
func (s *MemberStore) SetPassword(ctx context.Context, memberID string, password secret.String) error {
	if err := s.ok(); err != nil {
		return err
	}
	pd, err := s.passwords()
	if err != nil {
		return err
	}
	if err := CheckPassword(password); err != nil {
		return &FieldError{Entity: "member", Field: "password", Reason: strings.TrimPrefix(err.Error(), ErrWeakPassword.Error()+": "), Err: err}
	}
	var h PasswordHash
	if err := s.hashing(ctx, func() { h = HashPassword(password, s.pw) }); err != nil {
		return err
	}
	if err := pd.SetPasswordHash(ctx, memberID, h.String()); err != nil {
		return fmt.Errorf("set password of member %q: %w", memberID, err)
	}
	s.log.DebugContext(ctx, "rbac: member password set", "id", memberID)
	return nil
}

// RemovePassword removes the member's password: it can no longer sign in.
func (s *MemberStore) RemovePassword(ctx context.Context, memberID string) error {
	if err := s.ok(); err != nil {
		return err
	}
	pd, err := s.passwords()
	if err != nil {
		return err
	}
	if err := pd.SetPasswordHash(ctx, memberID, ""); err != nil {
		return fmt.Errorf("remove password of member %q: %w", memberID, err)
	}
	return nil
}

// HasPassword reports whether the member has a password.
func (s *MemberStore) HasPassword(ctx context.Context, memberID string) (bool, error) {
	if err := s.ok(); err != nil {
		return false, err
	}
	pd, err := s.passwords()
	if err != nil {
		return false, err
	}
	h, err := pd.PasswordHash(ctx, memberID)
	if err != nil {
		return false, fmt.Errorf("member %q: %w", memberID, err)
	}
	return h != "", nil
}

// VerifyPassword returns the member with this email (any case) when
// password is its password. An unknown email, a member without a password
// and a wrong password all fail with ErrWrongPassword after the same work
// (a hash is computed in each case), so neither the answer nor its time
// tells which emails exist. Other errors mean the store could not answer.
func (s *MemberStore) VerifyPassword(ctx context.Context, email string, password secret.String) (*Member, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	pd, err := s.passwords()
	if err != nil {
		return nil, err
	}
	m, err := s.d.MemberByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("member %q: %w", email, err)
	}
	stored := ""
	if m != nil && err == nil {
		if stored, err = pd.PasswordHash(ctx, m.ID); err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("member %q: %w", email, err)
		}
	}
	h, perr := ParsePasswordHash(stored)
	if stored != "" && perr != nil {
		s.log.ErrorContext(ctx, "rbac: stored password hash unreadable", "member", m.ID, "error", perr)
	}
	if perr != nil {
		h = s.decoy
	}
	ok := false
	if err := s.hashing(ctx, func() { ok = h.Verify(password) }); err != nil {
		return nil, err
	}
	if !ok || perr != nil {
		return nil, ErrWrongPassword
	}
	return m, nil
}

// decoyHash is a hash no password matches (random salt and key) with the
// store's parameters: checking it costs what checking a real one costs.
func decoyHash(p PasswordParams) PasswordHash {
	h := PasswordHash{Memory: p.Memory, Time: p.Time, Threads: p.Threads, Salt: make([]byte, saltLen), Key: make([]byte, hashLen)}
	_, _ = rand.Read(h.Salt)
	_, _ = rand.Read(h.Key)
	return h
}
