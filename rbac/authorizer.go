package rbac

import (
	"errors"
	"fmt"
)

// Principal is who acts: a member or the holder of an API key, with the
// scope, the tenant it belongs to and the privileges of its role or service
// type.
type Principal struct {
	// Subject identifies the principal in logs: a member's email, or
	// "key:" and an API key's ID.
	Subject string
	// Scope is how far the principal reaches.
	Scope Scope
	// ServiceProvider is the principal's service provider (Service Provider
	// scope; for Account scope, the account's service provider if known).
	ServiceProvider string
	// Account is the principal's account SID (Account scope).
	Account string
	// Privileges are what the principal may do within its reach.
	Privileges Privileges
}

// Target is the tenant a request is about: an account (with its service
// provider, needed for Service Provider principals) or, with Account empty, a
// service provider as a whole (creating an account, listing its accounts).
// The zero Target is the platform itself, which only Admins reach.
type Target struct {
	ServiceProvider string
	Account         string
}

// Request is one question to the authorizer: may the principal do Action on
// Entity of Target, and does it hold the Advanced privileges? A request with
// Action 0 asks only for the advanced privileges (and the reach).
type Request struct {
	Target
	Entity   Entity
	Action   Action
	Advanced Advanced
}

// Decision is the authorizer's answer.
type Decision uint8

// Decisions.
const (
	// Deny is the zero Decision: refused for an unspecified reason.
	Deny Decision = iota
	// Allow: the request is allowed.
	Allow
	// DenyScope: the target is outside the principal's reach (another
	// account, another service provider's account, the platform).
	DenyScope
	// DenyPrivilege: within reach, but the role does not grant it.
	DenyPrivilege
	// DenyInvalid: the principal or the request is malformed (no scope,
	// unknown entity, no action and no advanced privilege).
	DenyInvalid
)

// String returns the decision's name.
func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case DenyScope:
		return "deny: out of scope"
	case DenyPrivilege:
		return "deny: privilege not granted"
	case DenyInvalid:
		return "deny: invalid request"
	}
	return "deny"
}

// Authorizer decides requests. Implementations must be safe for concurrent
// use; the default, Policy, does not allocate. Integrators plug in their own
// policy engine by implementing it.
type Authorizer interface {
	Decide(p *Principal, r Request) Decision
}

// Policy is the default Authorizer: scope containment, then the principal's
// privileges. The zero value is ready to use.
type Policy struct{}

var _ Authorizer = Policy{}

// Reaches reports whether target is within p's scope: an Admin reaches
// everything; a Service Provider principal the service provider it belongs to
// and its accounts; an Account principal its own account only.
func Reaches(p *Principal, t Target) bool {
	switch p.Scope {
	case ScopeAdmin:
		return true
	case ScopeServiceProvider:
		return p.ServiceProvider != "" && t.ServiceProvider == p.ServiceProvider
	case ScopeAccount:
		return p.Account != "" && t.Account == p.Account
	}
	return false
}

// Decide implements Authorizer. It does not allocate.
func (Policy) Decide(p *Principal, r Request) Decision {
	if p == nil || !p.Scope.Valid() || r.Entity >= NumEntities || (r.Action == 0 && r.Advanced == 0) || r.Action&^ActionAll != 0 {
		return DenyInvalid
	}
	if !Reaches(p, r.Target) {
		return DenyScope
	}
	if p.Privileges.Entities[r.Entity]&r.Action != r.Action || p.Privileges.Advanced&r.Advanced != r.Advanced {
		return DenyPrivilege
	}
	return Allow
}

// DeniedError is the error Authorize returns for a refused request. It wraps
// ErrForbidden.
type DeniedError struct {
	Subject  string
	Request  Request
	Decision Decision
}

// Error implements error.
func (e *DeniedError) Error() string {
	r := e.Request
	what := r.Action.String() + " " + r.Entity.String()
	if r.Advanced != 0 {
		what += " with " + r.Advanced.String()
	}
	return fmt.Sprintf("rbac: %s may not %s of account %q (service provider %q): %s", e.Subject, what, r.Account, r.ServiceProvider, e.Decision)
}

// Unwrap returns ErrForbidden.
func (e *DeniedError) Unwrap() error { return ErrForbidden }

// Authorize asks a (Policy when nil) and returns nil when it allows, a
// *DeniedError wrapping ErrForbidden otherwise.
func Authorize(a Authorizer, p *Principal, r Request) error {
	if a == nil {
		a = Policy{}
	}
	d := a.Decide(p, r)
	if d == Allow {
		return nil
	}
	subject := ""
	if p != nil {
		subject = p.Subject
	}
	return &DeniedError{Subject: subject, Request: r, Decision: d}
}

// FieldRules maps a field name to the narrowest scope allowed to set it.
// Fields not listed are governed by the entity's privileges alone.
type FieldRules map[string]Scope

// AccountFieldRules returns the field rules of an account's settings (seed 000
// "Settings"): the unit (and its maximum) and the licensed sessions are
// Admin-only. The names are those of tenancy.ChangedFields.
func AccountFieldRules() FieldRules {
	return FieldRules{"unit": ScopeAdmin, "max_units": ScopeAdmin, "licensed_sessions": ScopeAdmin}
}

// CheckFields refuses, field by field, the changed fields that p's scope may
// not set under rules. It returns nil, or one *FieldError per refused field
// (joined), each wrapping ErrForbidden, so a form can mark exactly those
// fields.
func CheckFields(p *Principal, rules FieldRules, changed []string) error {
	var errs []error
	for _, f := range changed {
		need, ok := rules[f]
		if !ok || (p != nil && p.Scope >= need) {
			continue
		}
		errs = append(errs, &FieldError{Entity: "account", Field: f, Reason: "only " + need.String() + " scope may change it", Err: ErrForbidden})
	}
	return errors.Join(errs...)
}
