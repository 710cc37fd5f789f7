package main

import (
	"context"
	"errors"
	"strconv"
	"sync"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip"
)

// Call outcomes, the labels of voicegw_calls_total: result is "accepted",
// "refused" or "challenged"; reason says why.
const (
	resultAccepted   = "accepted"
	resultRefused    = "refused"
	resultChallenged = "challenged"
)

// guarded puts the sip.Guard in front of next (allowlist, then digest; see
// sip.Guard), and counts the outcome of every initial INVITE: refusals by
// the Guard here, and for INVITEs it lets through, the final response the
// handler sends (see observedTx).
//
// It is sip.Guard.Wrap plus metrics: Guard.Check tells why a request was
// refused, which Wrap keeps to itself.
func (g *Gateway) guarded(next sip.Handler) sip.Handler {
	return func(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		id, res, err := g.guard.Check(ctx, req)
		initial := req.Method == sipgosip.INVITE && !hasToTag(req)
		if err != nil {
			if initial {
				result, reason := guardOutcome(err, res)
				g.metrics.calls.WithLabelValues(result, reason).Inc()
				if result == resultRefused {
					g.log.Info("call refused", "reason", reason, "source", req.Source(), "code", statusOf(res), "error", err)
				}
			}
			if res != nil {
				_ = tx.Respond(res)
			}
			return
		}
		ctx = sip.ContextWithIdentity(ctx, id)
		if initial {
			out := &callOutcome{}
			if g.closing.Load() {
				out.reason = "shutting_down"
			}
			ctx = context.WithValue(ctx, outcomeKey{}, out)
			tx = &observedTx{ServerTransaction: tx, g: g, out: out}
		}
		next(ctx, req, tx)
	}
}

func hasToTag(req *sipgosip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	_, ok := to.Params.Get("tag")
	return ok
}

func statusOf(res *sipgosip.Response) int {
	if res == nil {
		return 0
	}
	return res.StatusCode
}

// guardOutcome names a refusal of the Guard.
func guardOutcome(err error, res *sipgosip.Response) (result, reason string) {
	switch {
	case errors.Is(err, sip.ErrNoCredentials):
		return resultChallenged, "credentials_required"
	case errors.Is(err, sip.ErrStaleNonce):
		return resultChallenged, "stale_nonce"
	case errors.Is(err, sip.ErrSourceRefused):
		return resultRefused, "source_not_allowed"
	case errors.Is(err, sip.ErrSourceBlocked):
		return resultRefused, "source_blocked"
	case errors.Is(err, sip.ErrUnknownTenant):
		return resultRefused, "unknown_realm"
	case errors.Is(err, sip.ErrBadCredentials):
		return resultRefused, "bad_credentials"
	case errors.Is(err, sip.ErrReplay):
		return resultRefused, "nonce_replay"
	case errors.Is(err, sip.ErrBadNonce), errors.Is(err, sip.ErrRealmMismatch), errors.Is(err, sip.ErrUnsupported):
		return resultChallenged, "credentials_not_for_us"
	}
	switch statusOf(res) {
	case 400:
		return resultRefused, "bad_request"
	case 503:
		return resultRefused, "unavailable"
	}
	return resultRefused, "server_error"
}

// callOutcome lets the handler of an initial INVITE say why it refused it;
// observedTx counts it with the final response.
type callOutcome struct {
	mu     sync.Mutex
	reason string
}

type outcomeKey struct{}

// setOutcome records why the INVITE in ctx is refused.
func setOutcome(ctx context.Context, reason string) {
	if o, ok := ctx.Value(outcomeKey{}).(*callOutcome); ok {
		o.mu.Lock()
		o.reason = reason
		o.mu.Unlock()
	}
}

// observedTx is the server transaction of an initial INVITE, seen through
// to count its final response in voicegw_calls_total.
type observedTx struct {
	sipgosip.ServerTransaction
	g    *Gateway
	out  *callOutcome
	once sync.Once
}

// Respond counts the first final response, then sends it.
func (t *observedTx) Respond(res *sipgosip.Response) error {
	if res.StatusCode >= 200 {
		t.once.Do(func() {
			if res.StatusCode < 300 {
				t.g.metrics.calls.WithLabelValues(resultAccepted, "").Inc()
				return
			}
			t.out.mu.Lock()
			reason := t.out.reason
			t.out.mu.Unlock()
			if reason == "" {
				reason = reasonOfStatus(res.StatusCode)
			}
			t.g.metrics.calls.WithLabelValues(resultRefused, reason).Inc()
		})
	}
	return t.ServerTransaction.Respond(res)
}

// reasonOfStatus names a refusal the SIPREC server decided by itself.
func reasonOfStatus(code int) string {
	switch code {
	case 400:
		return "bad_request"
	case 413:
		return "metadata_too_large"
	case 415:
		return "unsupported_media_type"
	case 420:
		return "bad_extension"
	case 421:
		return "not_siprec"
	case 487:
		return "cancelled"
	case 488:
		return "not_acceptable"
	case 503:
		return "unavailable"
	}
	if code >= 500 {
		return "server_error"
	}
	return "status_" + strconv.Itoa(code)
}
