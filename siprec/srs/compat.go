package srs

// What this file does goes away when the sip and siprec hooks land
// (GuardConfig.OnDecision, siprec.Config.OnReject, Admission.Sink): it is
// the bridge from today's APIs to those hooks, and the only place that
// wraps a transaction or asserts an any.

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"sync"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/tenancy"
)

// admission returns the siprec.Admission that carries adm to the sink.
func admission(_ *Server, adm *Admission, release func()) siprec.Admission {
	return siprec.Admission{Value: adm, Release: release}
}

// sinkFactory makes each session's sink from the Admission admit attached.
func sinkFactory(s *Server) siprec.SinkFactory {
	return siprec.SinkFactoryFunc(func(ctx context.Context, sess *siprec.Session) (siprec.SessionSink, error) {
		adm, ok := sess.Value().(*Admission)
		if !ok {
			return nil, siprec.Reject(500, "")
		}
		return s.newSession(ctx, sess, adm)
	})
}

// guarded puts the Guard in front of next and reports every initial
// INVITE it refuses or challenges, and for those it lets through, the
// final refusal the handler sends.
func (s *Server) guarded(next sip.Handler) sip.Handler {
	return func(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		id, res, err := s.guard.Check(ctx, req)
		initial := req.Method == sipgosip.INVITE && !hasToTag(req)
		if err != nil {
			if initial {
				code := 0
				if res != nil {
					code = res.StatusCode
				}
				s.guardDecided(ctx, req, id, code, err)
			}
			if res != nil {
				_ = tx.Respond(res)
			}
			return
		}
		ctx = sip.ContextWithIdentity(ctx, id)
		if !initial {
			next(ctx, req, tx)
			return
		}
		otx := &observedTx{ServerTransaction: tx, s: s, ctx: ctx, req: req}
		next(ctx, req, otx)
		s.refusals.Delete(req)
	}
}

// sourceOf is the transport address req came from (sip.SourceOf, once it
// exists).
func sourceOf(req *sipgosip.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(req.Source())
	return ap
}

func tenantSID(id sip.Identity) tenancy.SID { return tenancy.SID(id.Tenant) }

func hasToTag(req *sipgosip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	_, ok := to.Params.Get("tag")
	return ok
}

// observedTx is the server transaction of an initial INVITE, seen through
// to report its final refusal.
type observedTx struct {
	sipgosip.ServerTransaction
	s    *Server
	ctx  context.Context
	req  *sipgosip.Request
	once sync.Once
}

// Respond reports the first final non-2xx response, then sends it.
func (t *observedTx) Respond(res *sipgosip.Response) error {
	if res.StatusCode >= 300 {
		t.once.Do(func() { t.s.reportRefusal(t.ctx, t.req, res.StatusCode) })
	} else if res.StatusCode >= 200 {
		t.once.Do(func() {})
	}
	return t.ServerTransaction.Respond(res)
}

// reportRefusal tells the Observer of a final refusal of an initial INVITE
// by the SIPREC server: the admission's reason when it decided, else the
// reason of the code.
func (s *Server) reportRefusal(ctx context.Context, req *sipgosip.Request, code int) {
	r := Refusal{Result: Refused, Reason: reasonOfStatus(code), Code: code, Request: req, Source: sourceOf(req)}
	if v, ok := s.refusals.LoadAndDelete(req); ok {
		r = v.(Refusal)
		r.Code = code
	} else if s.closing.Load() && code == 503 {
		r.Reason = ReasonShuttingDown
	}
	if r.CallID == "" && req.CallID() != nil {
		r.CallID = req.CallID().Value()
	}
	s.obs.CallRefused(ctx, r)
}

// guardDecided reports a refusal or challenge of the Guard.
func (s *Server) guardDecided(ctx context.Context, req *sipgosip.Request, id sip.Identity, code int, err error) {
	r := Refusal{Code: code, Err: err, Request: req, Source: id.Source, Account: tenantSID(id)}
	r.Result, r.Reason = guardOutcome(err, code)
	if req.CallID() != nil {
		r.CallID = req.CallID().Value()
	}
	if r.Result == Refused {
		s.log.Info("call refused", "reason", r.Reason, "source", r.Source, "code", code, "error", err)
	}
	s.obs.CallRefused(ctx, r)
}

// guardOutcome names a refusal of the Guard.
func guardOutcome(err error, code int) (Result, Reason) {
	switch {
	case errors.Is(err, sip.ErrNoCredentials):
		return Challenged, ReasonCredentialsRequired
	case errors.Is(err, sip.ErrStaleNonce):
		return Challenged, ReasonStaleNonce
	case errors.Is(err, sip.ErrSourceRefused):
		return Refused, ReasonSourceNotAllowed
	case errors.Is(err, sip.ErrSourceBlocked):
		return Refused, ReasonSourceBlocked
	case errors.Is(err, sip.ErrUnknownTenant):
		return Refused, ReasonUnknownRealm
	case errors.Is(err, sip.ErrBadCredentials):
		return Refused, ReasonBadCredentials
	case errors.Is(err, sip.ErrReplay):
		return Refused, ReasonNonceReplay
	case errors.Is(err, sip.ErrBadNonce), errors.Is(err, sip.ErrRealmMismatch), errors.Is(err, sip.ErrUnsupported):
		return Challenged, ReasonCredentialsNotForUs
	}
	switch code {
	case 400:
		return Refused, ReasonBadRequest
	case 503:
		return Refused, ReasonUnavailable
	}
	return Refused, ReasonServerError
}

// reasonOfStatus names a refusal the SIPREC server decided by itself.
func reasonOfStatus(code int) Reason {
	switch code {
	case 400:
		return ReasonBadRequest
	case 413:
		return ReasonMetadataTooLarge
	case 415:
		return ReasonUnsupportedMediaType
	case 420:
		return ReasonBadExtension
	case 421:
		return ReasonNotSIPREC
	case 487:
		return ReasonCancelled
	case 488:
		return ReasonNotAcceptable
	case 503:
		return ReasonUnavailable
	}
	if code >= 500 {
		return ReasonServerError
	}
	return Reason("status_" + strconv.Itoa(code))
}
