package rbac

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/voicegw/voicegw/rbac/secret"
)

// MinPepperLen is the shortest pepper PepperFile accepts from a file.
const MinPepperLen = 16

// ErrBadPepper is matched by PepperFile's error for a file that holds no
// usable pepper (shorter than MinPepperLen).
var ErrBadPepper = errors.New("rbac: the pepper file holds no usable pepper")

// PepperFile returns the pepper kept in the file at path (the
// KeyStoreOptions.Pepper of a gateway that keeps it beside its database, on
// disk rather than in it), and makes one when the file does not exist: 32
// random bytes in base64url, written with mode 0600 (its directory made
// with 0700). A file that holds less than MinPepperLen characters is an
// error matching ErrBadPepper: replacing the pepper would make every API
// key fail, so that is left to the operator.
func PepperFile(path string) (secret.String, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if p := strings.TrimSpace(string(b)); len(p) >= MinPepperLen {
			return secret.String(p), nil
		}
		return "", fmt.Errorf("%w: %s is shorter than %d characters; remove it to make a new one (every API key then stops working)", ErrBadPepper, path, MinPepperLen)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("rbac: pepper: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("rbac: pepper: %w", err)
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // never fails (Go 1.24+)
	p := base64.RawURLEncoding.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // made by another process meanwhile
		return PepperFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("rbac: pepper: %w", err)
	}
	if _, err = f.WriteString(p + "\n"); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("rbac: pepper: %w", err)
	}
	return secret.String(p), nil
}
