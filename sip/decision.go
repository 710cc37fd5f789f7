package sip

import (
	sipgosip "github.com/emiago/sipgo/sip"
)

// DialogOwner knows the dialogs its handler serves, so the Guard can check
// an in-dialog request against the dialog's own tenant and user rather
// than against whatever its Request-URI names (GuardConfig.Dialogs). The
// SIPREC server (siprec.Server) is one.
type DialogOwner interface {
	// DialogIdentity returns the Identity the dialog of req was created
	// with (the Guard's Identity of its initial INVITE: Tenant, Realm, User
	// when it was digest-authenticated, Source) and true; false when req
	// belongs to no dialog it knows. It must be safe for concurrent use
	// and fast: it runs before every in-dialog request is decided.
	DialogIdentity(req *sipgosip.Request) (Identity, bool)
}

// DialogOwnerFunc adapts a function to DialogOwner.
type DialogOwnerFunc func(req *sipgosip.Request) (Identity, bool)

// DialogIdentity calls f.
func (f DialogOwnerFunc) DialogIdentity(req *sipgosip.Request) (Identity, bool) { return f(req) }

// Decision is the outcome of one request the Guard decided, as
// GuardConfig.OnDecision receives it.
type Decision struct {
	// Identity is the identity the request passed with (Err nil), or what
	// was known when it was refused: Source always, Tenant and Realm once
	// the tenant was found. User is set only on a pass.
	Identity Identity
	// Err is nil when the request passed, else why it was refused: one of
	// the errors documented on Guard (match with errors.Is).
	Err error
	// Code is the status code of the Guard's answer (401, 403, 407…); 0
	// when the request passed on to the handler or when the Guard sends
	// nothing (an ACK is never answered).
	Code int
	// InitialInvite is true for an INVITE without a To tag (a new call).
	InitialInvite bool
	// Reason names a refusal with one of the Reason constants (stable
	// strings, fit for a metric label); "" when the request passed.
	Reason string
}

// Passed reports whether the request went on to the handler.
func (d Decision) Passed() bool { return d.Err == nil }

// Challenged reports whether the answer was a digest challenge (401 or
// 407): the client is asked to (re)authenticate, which a well-behaved
// client then does, rather than refused outright.
func (d Decision) Challenged() bool {
	return d.Code == sipgosip.StatusUnauthorized || d.Code == sipgosip.StatusProxyAuthRequired
}

// The reasons of Decision.Reason. Each comes with one answer; the strings
// never change, so they can label metrics.
const (
	// ReasonSourceBlocked: the source is blocked after repeated failures (403).
	ReasonSourceBlocked = "source_blocked"
	// ReasonUnknownRealm: no tenant serves the request's realm (403).
	ReasonUnknownRealm = "unknown_realm"
	// ReasonSourceNotAllowed: the source is not on the tenant's allowlist
	// (for an in-dialog request, the dialog's tenant's) (403).
	ReasonSourceNotAllowed = "source_not_allowed"
	// ReasonCredentialsRequired: no digest answer for the realm (401/407).
	ReasonCredentialsRequired = "credentials_required"
	// ReasonStaleNonce: right credentials, expired nonce (401/407 stale=true).
	ReasonStaleNonce = "stale_nonce"
	// ReasonBadCredentials: wrong password or unknown user (401/407; counts
	// towards the lockout).
	ReasonBadCredentials = "bad_credentials"
	// ReasonNonceReplay: a nonce count or a qop-less answer seen before
	// (401/407; counts towards the lockout).
	ReasonNonceReplay = "nonce_replay"
	// ReasonCredentialsNotForUs: an answer to a nonce, realm, algorithm or
	// qop this server did not offer, or to a nonce sent to another address
	// (401/407 with a fresh challenge).
	ReasonCredentialsNotForUs = "credentials_not_for_us"
	// ReasonBadRequest: malformed or incomplete credentials, or a digest
	// uri of another server (400).
	ReasonBadRequest = "bad_request"
	// ReasonUnavailable: the tenant's registration webhook failed, or the
	// tenant lookup declined to look the realm up now (ErrTenantBusy) (503).
	ReasonUnavailable = "unavailable"
	// ReasonServerError: the tenant lookup or credential store failed (500).
	ReasonServerError = "server_error"
	// ReasonDialogUser: an in-dialog request from another address than its
	// dialog's carried credentials of another user (403).
	ReasonDialogUser = "dialog_user_mismatch"
	// ReasonDialogSource: an ACK or CANCEL from another address than its
	// digest-authenticated dialog's (CANCEL 403, ACK dropped).
	ReasonDialogSource = "dialog_source_mismatch"
	// ReasonStatelessACK: the ACK of an answer the Guard sent; dropped
	// (ErrStatelessACK).
	ReasonStatelessACK = "stateless_ack"
)

// initialInvite reports whether req is an INVITE that starts a dialog (no
// To tag).
func initialInvite(req *sipgosip.Request) bool {
	if req.Method != sipgosip.INVITE {
		return false
	}
	to := req.To()
	return to == nil || !to.Params.Has("tag")
}
