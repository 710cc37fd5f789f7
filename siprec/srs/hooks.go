package srs

import (
	"context"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/tenancy"
)

// onDecision is the Guard's OnDecision: it reports each initial INVITE the
// Guard refuses or challenges, then calls the template's hook.
func (s *Server) onDecision(next func(context.Context, *sipgosip.Request, sip.Decision)) func(context.Context, *sipgosip.Request, sip.Decision) {
	return func(ctx context.Context, req *sipgosip.Request, d sip.Decision) {
		authDecided(ctx)
		if d.InitialInvite && !d.Passed() {
			r := Refusal{Result: Refused, Reason: Reason(d.Reason), Code: d.Code, Err: d.Err, Request: req,
				Source: d.Identity.Source, Account: tenancy.SID(d.Identity.Tenant), CallID: callID(req)}
			switch d.Reason {
			case sip.ReasonCredentialsRequired, sip.ReasonStaleNonce, sip.ReasonCredentialsNotForUs:
				r.Result = Challenged
			default:
				s.peerLog.Info("call refused", "reason", r.Reason, "code", r.Code, "call_id", r.CallID, "source", r.Source,
					"account", r.Account, "account_name", s.accountName(r.Account), "error", d.Err)
			}
			s.obs.CallRefused(ctx, r)
		}
		if next != nil {
			next(ctx, req, d)
		}
	}
}

// onReject is the SIPREC server's OnReject: it reports each initial INVITE
// the SIPREC server (or the admission, whose Rejection names its Cause)
// refused, then calls the template's hook.
func (s *Server) onReject(next func(context.Context, *sipgosip.Request, int, string)) func(context.Context, *sipgosip.Request, int, string) {
	return func(ctx context.Context, req *sipgosip.Request, code int, reason string) {
		r := Refusal{Result: Refused, Reason: Reason(reason), Code: code, Request: req, Source: sip.SourceOf(req), CallID: callID(req)}
		if id, ok := sip.IdentityFrom(ctx); ok {
			r.Account = tenancy.SID(id.Tenant)
		}
		s.obs.CallRefused(ctx, r)
		if next != nil {
			next(ctx, req, code, reason)
		}
	}
}

func callID(req *sipgosip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// accountName is the name of account sid for a log line, as the tenant
// cache holds it (the Guard's lookup has just filled it): never a store
// read, which a peer refused by the thousand must not cost; "" when the
// cache has none.
func (s *Server) accountName(sid tenancy.SID) string {
	if sid == "" {
		return ""
	}
	return s.tenants.cachedName(sid)
}
