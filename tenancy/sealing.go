package tenancy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/voicegw/voicegw/rbac/secret"
)

// Errors of sealing; match them with errors.Is.
var (
	// ErrNoSealingKey: the key that sealed a store's secrets is not there
	// (its key file is missing). A store never makes a new key for a
	// database that holds sealed secrets, and never stores secrets in
	// clear instead.
	ErrNoSealingKey = errors.New("tenancy: sealing key missing")
	// ErrWrongSealingKey: the key given is not the one that sealed the
	// secrets (or a sealed value was altered).
	ErrWrongSealingKey = errors.New("tenancy: wrong sealing key")
)

// SealingKeySize is the size of a sealing key: AES-256.
const SealingKeySize = 32

// SealingKeyFileMode is the mode of a key file: readable by its owner only.
const SealingKeyFileMode fs.FileMode = 0o600

// SealingKey encrypts the secrets an account store keeps so that they stay
// usable (webhook secrets sign requests, bucket credentials open buckets)
// without lying in clear in the database: AES-256-GCM (NIST SP 800-38D),
// a random 96-bit nonce per value, and the value's place (table, column,
// account SID) as additional data, so that a sealed value moved to another
// account or column does not open. Keep the key outside the database: a
// stolen database file (a backup, a copy sent for support) is then of no
// use without it. It is safe for concurrent use.
type SealingKey struct {
	aead cipher.AEAD
	id   string
}

// NewSealingKey returns the sealing key made of key (SealingKeySize bytes,
// from a secrets manager for example).
func NewSealingKey(key []byte) (*SealingKey, error) {
	if len(key) != SealingKeySize {
		return nil, fmt.Errorf("%w: want %d bytes, got %d", ErrWrongSealingKey, SealingKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongSealingKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongSealingKey, err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("voicegw tenancy sealing key id"))
	return &SealingKey{aead: aead, id: hex.EncodeToString(m.Sum(nil)[:8])}, nil
}

// ParseSealingKey reads a key in the form of a key file: SealingKeySize
// bytes in standard base64 (spaces and newlines around are ignored).
func ParseSealingKey(text secret.String) (*SealingKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text.Reveal()))
	if err != nil || len(raw) != SealingKeySize {
		return nil, fmt.Errorf("%w: not a sealing key (want %d bytes in base64)", ErrWrongSealingKey, SealingKeySize)
	}
	return NewSealingKey(raw)
}

// LoadSealingKey reads the key file at path (made by CreateSealingKey).
// A file readable by others is narrowed to SealingKeyFileMode. A missing
// file is ErrNoSealingKey.
func LoadSealingKey(path string) (*SealingKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: key file %s does not exist", ErrNoSealingKey, path)
	}
	if err != nil {
		return nil, fmt.Errorf("tenancy: sealing key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != SealingKeyFileMode {
		if err := os.Chmod(path, SealingKeyFileMode); err != nil {
			return nil, fmt.Errorf("tenancy: sealing key: %w", err)
		}
	}
	k, err := ParseSealingKey(secret.String(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// CreateSealingKey makes a new random key, writes it to a new file at path
// (mode SealingKeyFileMode, its directory made 0700 when missing) and
// returns it. It never overwrites an existing file.
func CreateSealingKey(path string) (*SealingKey, error) {
	raw := make([]byte, SealingKeySize)
	_, _ = rand.Read(raw) // never fails (Go 1.24+)
	k, err := NewSealingKey(raw)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("tenancy: sealing key: %w", err)
	}
	// written whole before it appears: a gateway starting beside this one
	// reads the key, never an empty file
	if err := secret.WriteNewFile(path, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), SealingKeyFileMode); err != nil {
		return nil, fmt.Errorf("tenancy: sealing key: %w", err)
	}
	return k, nil
}

// NewRandomSealingKey returns a random key that lives only in memory (for a
// database that lives only in memory too).
func NewRandomSealingKey() *SealingKey {
	raw := make([]byte, SealingKeySize)
	_, _ = rand.Read(raw)      // never fails (Go 1.24+)
	k, _ := NewSealingKey(raw) // the size is right
	return k
}

// ID returns the key's fingerprint (16 hex digits, derived one-way: it
// reveals nothing of the key), which a store records to tell a wrong key
// from a corrupt value.
func (k *SealingKey) ID() string { return k.id }

// sealVersion starts every sealed value.
const sealVersion = 1

// Seal encrypts plain for the place named by where (for example
// "tenancy_accounts.webhook_secret/" and the account SID): version byte,
// the key's ID (8 bytes), nonce, ciphertext and tag.
func (k *SealingKey) Seal(plain []byte, where string) []byte {
	id, _ := hex.DecodeString(k.id)
	out := make([]byte, 0, 1+len(id)+k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	out = append(out, sealVersion)
	out = append(out, id...)
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails (Go 1.24+)
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plain, []byte(where))
}

// Open decrypts what Seal sealed for the same place. A value sealed with
// another key, or altered, or moved to another place, is
// ErrWrongSealingKey; the error names the key IDs, never a secret.
func (k *SealingKey) Open(sealed []byte, where string) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+8+ns+k.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: %s: not a sealed value", ErrWrongSealingKey, where)
	}
	if id := hex.EncodeToString(sealed[1:9]); id != k.id {
		return nil, fmt.Errorf("%w: %s was sealed with key %s, this key is %s", ErrWrongSealingKey, where, id, k.id)
	}
	plain, err := k.aead.Open(nil, sealed[9:9+ns], sealed[9+ns:], []byte(where))
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not open with key %s (altered, or moved from another place)", ErrWrongSealingKey, where, k.id)
	}
	return plain, nil
}
