package rbac

import (
	"errors"
	"fmt"

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
	p, err := secret.File(path, MinPepperLen)
	switch {
	case errors.Is(err, secret.ErrShortFile):
		return "", fmt.Errorf("%w: %s is shorter than %d characters; remove it to make a new one (every API key then stops working)", ErrBadPepper, path, MinPepperLen)
	case err != nil:
		return "", fmt.Errorf("rbac: pepper: %w", err)
	}
	return p, nil
}
