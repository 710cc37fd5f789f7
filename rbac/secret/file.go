package secret

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrShortFile is matched by File's error for a file that holds fewer
// characters than the caller's minimum.
var ErrShortFile = errors.New("secret: the file holds too short a secret")

// File returns the secret kept in the file at path, and makes one when the
// file does not exist: 32 random bytes in base64url (43 characters), written
// with mode 0600, its directory made with 0700. Two processes starting
// together get the same secret (the file is created exclusively). A file
// holding fewer than minLen characters (surrounding space aside) is an
// error matching ErrShortFile: replacing a secret others rely on (API key
// peppers, link signatures) is left to the operator. Errors name the path,
// never the secret.
func File(path string, minLen int) (String, error) {
	s, err := file(path, minLen)
	if errors.Is(err, os.ErrExist) {
		// Made by another process meanwhile: read it once more. Still not
		// readable then, the path is a link to nothing (a dangling
		// symlink), which is not this function's to replace.
		if s, err = file(path, minLen); errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("secret file %s exists but cannot be read (a link to a missing file?): %w", path, err)
		}
	}
	return s, err
}

// file reads the secret at path, or makes it when it does not exist; an
// error matching os.ErrExist means another process made it meanwhile.
func file(path string, minLen int) (String, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= minLen {
			return String(s), nil
		}
		return "", fmt.Errorf("%w: %s is shorter than %d characters", ErrShortFile, path, minLen)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // never fails (Go 1.24+)
	s := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := WriteNewFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", err
	}
	return String(s), nil
}

// WriteNewFile creates the file at path holding data with mode perm, all at
// once: the data is written and synced to a temporary file in the same
// directory, which is then linked to path, so another process never reads
// it empty or half-written. It never replaces a file: when path exists it
// returns an error matching os.ErrExist.
func WriteNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err = f.Chmod(perm); err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Link(tmp, path)
}
