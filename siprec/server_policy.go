package siprec

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// Policy decides whether the Server takes a SIPREC INVITE: it is where a
// gateway checks the tenant (the sip.Identity that sip.Guard put in ctx, or
// the Request-URI) and its licensed-sessions limit.
type Policy interface {
	// Admit is called for each SIPREC INVITE that is well-formed and could
	// be answered (body, SDP, stream limit and codecs are checked first),
	// before any RTP port is allocated. It returns the Admission, or an
	// error: a *Rejection (see Reject) is answered with its code, any other
	// error with 500. ctx carries what the handler's ctx carries (the
	// sip.Identity when the handler is guarded) and is cancelled when the
	// client sends CANCEL.
	Admit(ctx context.Context, o *Offer) (Admission, error)
}

// PolicyFunc adapts a function to a Policy.
type PolicyFunc func(ctx context.Context, o *Offer) (Admission, error)

// Admit calls f.
func (f PolicyFunc) Admit(ctx context.Context, o *Offer) (Admission, error) { return f(ctx, o) }

// Offer is what a Policy decides on: the INVITE and what was parsed from it.
// Do not modify it.
type Offer struct {
	// Request is the INVITE.
	Request *sipgosip.Request
	// CallID is the INVITE's Call-ID.
	CallID string
	// Source is the transport address the INVITE came from (invalid when
	// unknown).
	Source netip.AddrPort
	// SDP is the parsed offer.
	SDP *media.SessionDescription
	// Metadata is the parsed metadata document.
	Metadata *metadata.Recording
	// RecordingID is the recording ID the client forwarded, as
	// Session.RecordingID reads it, or "".
	RecordingID string
	// Secure reports whether the INVITE came over an encrypted transport
	// (TLS or WSS): a Policy requiring TLS refuses the others.
	Secure bool
}

// Admission is a Policy's acceptance of an Offer.
type Admission struct {
	// Sink, when set, makes the session's sink instead of Config.Sinks.
	// A Policy returns a closure here that carries what it looked up for
	// this offer (the tenant's account, its recording settings, a licence
	// lease) to the sink, typed: nothing is attached to the Session and
	// asserted back. It is called once, as SinkFactory.NewSession is (after
	// RTP ports were allocated, before the answer is sent; ctx ends with a
	// CANCEL and when the call returns); an error rejects the INVITE with
	// 500, or with the code of a *Rejection it wraps; a nil sink is a
	// NopSink.
	Sink func(ctx context.Context, s *Session) (SessionSink, error)
	// RequireSRTP makes the session SRTP-only (an account's policy): an
	// offer that records a line in clear is answered 488 with a Warning
	// (ErrSRTPRequired), now and at every re-INVITE or UPDATE of the
	// session. SRTPConfig.Require does the same for every session.
	RequireSRTP bool
	// Release, when set, is called exactly once when the admitted offer is
	// over, however it ended: the session's End, or a failure or CANCEL
	// between admission and answer. A gateway counting licensed sessions
	// counts one in Admit and gives it back here.
	Release func()
}

// Rejection is an error carrying the SIP final response to send: a Policy or
// SinkFactory returns one (or wraps one) to refuse a session with a code of
// its choosing.
type Rejection struct {
	// Code is the SIP status code, 300 to 699.
	Code int
	// Reason is the reason phrase; "" picks the standard phrase of Code.
	Reason string
	// RetryAfter, when positive, adds a Retry-After header (seconds), for
	// 480, 486, 503 or 600.
	RetryAfter time.Duration
	// Warning, when set, is sent in a Warning header (code 399, RFC 3261
	// §20.43): the reason a client's operator reads, such as "the account
	// requires SIP over TLS". Keep it free of secrets.
	Warning string
	// Cause is a stable, machine-readable name of why (such as
	// "licensed_sessions"), reported to Config.OnReject as its reason, for
	// metrics and logs. Default: RejectPolicy for a Policy's rejection,
	// RejectSink for a sink constructor's.
	Cause string
}

// Reject returns a *Rejection with code and reason (or the standard phrase
// when reason is "").
func Reject(code int, reason string) *Rejection {
	return &Rejection{Code: code, Reason: reason}
}

// Error describes the rejection.
func (r *Rejection) Error() string {
	return fmt.Sprintf("siprec: rejected with %d %s", r.Code, r.phrase())
}

func (r *Rejection) phrase() string {
	if r.Reason != "" {
		return r.Reason
	}
	return statusPhrase(r.Code)
}

// statusPhrase is the reason phrase of RFC 3261 §21 (and its extensions)
// for the codes a recording server sends.
func statusPhrase(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 402:
		return "Payment Required"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 413:
		return "Request Entity Too Large"
	case 415:
		return "Unsupported Media Type"
	case 420:
		return "Bad Extension"
	case 421:
		return "Extension Required"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 491:
		return "Request Pending"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 513:
		return "Message Too Large"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	}
	switch {
	case code >= 600:
		return "Global Failure"
	case code >= 500:
		return "Server Failure"
	case code >= 400:
		return "Request Failure"
	case code >= 300:
		return "Redirection"
	}
	return "Unknown"
}
