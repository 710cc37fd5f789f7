package tenancy

import (
	"errors"
	"fmt"

	"github.com/voicegw/voicegw/internal/errwalk"
)

// Errors returned by this package; match them with errors.Is. Most arrive
// wrapped with context (the entity, the field, the value).
var (
	// ErrInvalid is wrapped by every validation error (see FieldError).
	ErrInvalid = errors.New("tenancy: invalid value")
	// ErrNotFound: no account or application with that SID, name or realm.
	ErrNotFound = errors.New("tenancy: not found")
	// ErrExists: a unique field (account name, SIP realm, application name
	// within an account) is already taken. Wrapped by a FieldError naming it.
	ErrExists = errors.New("tenancy: already exists")
	// ErrConflict: an update carried a stale Revision; re-read and retry.
	ErrConflict = errors.New("tenancy: revision conflict (modified concurrently)")
	// ErrInUse: an application is still selected by its account (for SIP
	// device calls or SIPREC calls) and cannot be deleted.
	ErrInUse = errors.New("tenancy: in use")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("tenancy: store closed")
)

// FieldError names the field an operation refused. Err is ErrInvalid for a
// validation failure and ErrExists for a uniqueness clash; errors.Is sees
// through to it.
//
// Value holds the offending input, quoted in the message; it is left empty
// for secrets, which never appear in errors.
type FieldError struct {
	// Entity is "account", "application", "smtp" or "call_attached_data".
	Entity string
	// Field is the field's JSON name, for example "sip_realm" or
	// "recording.format".
	Field string
	// Value is the refused value ("" for secrets).
	Value string
	// Reason says what is wrong in a few words.
	Reason string
	// Err is the sentinel: ErrInvalid or ErrExists.
	Err error
}

// Error implements error.
func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("tenancy: %s field %s: %s", e.Entity, e.Field, e.Reason)
	}
	return fmt.Sprintf("tenancy: %s field %s (%q): %s", e.Entity, e.Field, e.Value, e.Reason)
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrors returns every FieldError inside err (validation returns all the
// fields at fault at once, joined with errors.Join), in order.
func FieldErrors(err error) []*FieldError { return errwalk.All[*FieldError](err) }

// invalid builds a validation FieldError.
func invalid(entity, field, value, reason string) *FieldError {
	return &FieldError{Entity: entity, Field: field, Value: value, Reason: reason, Err: ErrInvalid}
}

// Taken builds the FieldError a driver returns when a unique field clashes.
func Taken(entity, field, value string) *FieldError {
	return &FieldError{Entity: entity, Field: field, Value: value, Reason: "already exists", Err: ErrExists}
}
