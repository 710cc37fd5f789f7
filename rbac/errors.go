package rbac

import (
	"errors"
	"fmt"

	"github.com/voicegw/voicegw/internal/errwalk"
)

// Errors of this package; match them with errors.Is.
var (
	// ErrInvalid is wrapped by every validation error (see FieldError).
	ErrInvalid = errors.New("rbac: invalid value")
	// ErrNotFound: no such member, role or API key.
	ErrNotFound = errors.New("rbac: not found")
	// ErrExists: a unique field is taken (role name in its account, member
	// email, API key name for its owner, API key secret).
	ErrExists = errors.New("rbac: already exists")
	// ErrConflict: an update carried a stale revision.
	ErrConflict = errors.New("rbac: revision conflict (modified concurrently)")
	// ErrInUse: a role still held by members cannot be deleted.
	ErrInUse = errors.New("rbac: in use")
	// ErrForbidden: the principal may not do this (see Authorize,
	// CheckFields, KeyStore.Create).
	ErrForbidden = errors.New("rbac: forbidden")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("rbac: store closed")
	// ErrWeakSecret: a chosen API key secret fails CheckSecretStrength. It
	// wraps ErrInvalid.
	ErrWeakSecret = fmt.Errorf("%w: API key secret too weak", ErrInvalid)

	// ErrInvalidKey is wrapped by every refusal of a presented API key;
	// an HTTP API answers 401 to all of them alike.
	ErrInvalidKey = errors.New("rbac: invalid API key")
	// ErrUnknownKey: no key has this secret (never had, or deleted).
	ErrUnknownKey = fmt.Errorf("%w: unknown", ErrInvalidKey)
	// ErrKeyExpired: the key's ValidUntil has passed.
	ErrKeyExpired = fmt.Errorf("%w: expired", ErrInvalidKey)
	// ErrKeyRevoked: the key was revoked.
	ErrKeyRevoked = fmt.Errorf("%w: revoked", ErrInvalidKey)
)

// FieldError names the field an operation refused. Err is ErrInvalid,
// ErrExists or ErrForbidden.
type FieldError struct {
	// Entity is "role", "member", "api_key" or "account".
	Entity string
	// Field is the field's JSON name.
	Field string
	// Value is the refused value ("" for secrets).
	Value string
	// Reason says what is wrong.
	Reason string
	// Err is the sentinel.
	Err error
}

// Error implements error.
func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("rbac: %s field %s: %s", e.Entity, e.Field, e.Reason)
	}
	return fmt.Sprintf("rbac: %s field %s (%q): %s", e.Entity, e.Field, e.Value, e.Reason)
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrors returns every FieldError inside err, in order.
func FieldErrors(err error) []*FieldError { return errwalk.All[*FieldError](err) }

func invalid(entity, field, value, reason string) *FieldError {
	return &FieldError{Entity: entity, Field: field, Value: value, Reason: reason, Err: ErrInvalid}
}

// Taken builds the FieldError a driver returns when a unique field clashes.
func Taken(entity, field, value string) *FieldError {
	return &FieldError{Entity: entity, Field: field, Value: value, Reason: "already exists", Err: ErrExists}
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
