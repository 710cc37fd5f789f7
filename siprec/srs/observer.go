package srs

import (
	"context"
	"net/netip"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/tenancy"
)

// Observer is told what the Server does, for metrics and audit logs: it
// sees every decision without wrapping anything. Embed [NopObserver] to
// implement only the methods you need.
//
// Methods are called from the goroutines doing the work (SIP handlers,
// media workers for nothing per packet, finishing goroutines, the spool's
// workers): they must be safe for concurrent use and return quickly.
type Observer interface {
	// CallRefused is called once per initial INVITE that is not taken:
	// refused by the Guard (403, 400…), challenged for credentials (401,
	// 407), refused by the admission (403, 486, 503) or by the SIPREC
	// server itself (415, 488…).
	CallRefused(ctx context.Context, r Refusal)
	// SessionStarted is called once per initial SIPREC INVITE the Server
	// takes: its recording and journal row exist, the answer is being
	// sent. Every initial INVITE gets either SessionStarted or CallRefused.
	SessionStarted(s *Session)
	// StreamAdded is called for each stream whose audio is recorded;
	// StreamRemoved when it stops (a re-INVITE removed it, or the session
	// ended). st.Stats() reads its RTP counters at any time.
	StreamAdded(s *Session, st *siprec.Stream)
	StreamRemoved(s *Session, st *siprec.Stream)
	// SessionEnded is called when a session is over (every stream has
	// stopped); its finishing (recording, document, webhook) follows in
	// the background.
	SessionEnded(s *Session, reason siprec.EndReason)
	// RecordingFinished is called when a session's recording was finalized
	// (or failed to be); see RecordingReport.
	RecordingFinished(s *Session, r RecordingReport)
	// RecordingRecovered is called at start for each recording file the
	// recording directory repaired or handed over again (see
	// recording.Dir.Recover).
	RecordingRecovered(r recording.Recovered)
	// RecordingUploaded is called when the bucket confirmed a recording.
	RecordingUploaded(it storage.Item)
	// UploadFailed is called after a try to upload a recording failed; it
	// is tried again (it.NextAttempt) until the bucket takes it.
	UploadFailed(it storage.Item)
	// SessionCompleted is called when a session's document was stored (err
	// nil) or could not be (it is retried); s may be a session recovered
	// from the journal after a restart (s.SIPREC() is nil).
	SessionCompleted(s *Session, err error)
	// WebhookSent is called after the session webhook of s was delivered
	// (err nil) or given up after its tries.
	WebhookSent(s *Session, err error)
}

// NopObserver is an Observer that does nothing; embed it.
type NopObserver struct{}

// CallRefused does nothing.
func (NopObserver) CallRefused(context.Context, Refusal) {}

// SessionStarted does nothing.
func (NopObserver) SessionStarted(*Session) {}

// StreamAdded does nothing.
func (NopObserver) StreamAdded(*Session, *siprec.Stream) {}

// StreamRemoved does nothing.
func (NopObserver) StreamRemoved(*Session, *siprec.Stream) {}

// SessionEnded does nothing.
func (NopObserver) SessionEnded(*Session, siprec.EndReason) {}

// RecordingFinished does nothing.
func (NopObserver) RecordingFinished(*Session, RecordingReport) {}

// RecordingRecovered does nothing.
func (NopObserver) RecordingRecovered(recording.Recovered) {}

// RecordingUploaded does nothing.
func (NopObserver) RecordingUploaded(storage.Item) {}

// UploadFailed does nothing.
func (NopObserver) UploadFailed(storage.Item) {}

// SessionCompleted does nothing.
func (NopObserver) SessionCompleted(*Session, error) {}

// WebhookSent does nothing.
func (NopObserver) WebhookSent(*Session, error) {}

// Result is what became of an initial INVITE that was not taken.
type Result string

// The results of a refused call.
const (
	// Refused: the call was answered with a final refusal.
	Refused Result = "refused"
	// Challenged: the call was answered with a digest challenge (401/407);
	// a client with credentials sends it again.
	Challenged Result = "challenged"
)

// Reason says why a call was not taken, in words fit for a metric label:
// one of the Guard's (sip.ReasonCredentialsRequired, sip.ReasonBadCredentials,
// sip.ReasonSourceNotAllowed, sip.ReasonUnknownRealm…), of the SIPREC
// server's (siprec.RejectBadRequest, siprec.RejectShuttingDown…), or of the
// admission (the constants below).
type Reason string

// The reasons the admission refuses a call.
const (
	ReasonShuttingDown       Reason = "shutting_down"       // 503: Shutdown was called (siprec.RejectShuttingDown)
	ReasonNoTenant           Reason = "no_tenant"           // 403: no Guard identity (a misconfigured handler)
	ReasonNotRecorded        Reason = "not_recorded"        // 403: the account records no call of its SIPREC application
	ReasonLicensedSessions   Reason = "licensed_sessions"   // 486: the account's licensed sessions are all in use
	ReasonLimiterUnavailable Reason = "limiter_unavailable" // 503: the limiter could not decide
	ReasonRecordingFailed    Reason = "recording_failed"    // 500: the recording file could not be created
	ReasonServerError        Reason = "server_error"        // 500: a store or journal failed
	ReasonTLSRequired        Reason = "tls_required"        // 488: the account requires SIP over TLS (tenancy.SIPAccess.RequireTLS)
)

// Refusal describes an initial INVITE that was not taken.
type Refusal struct {
	// Result is Refused or Challenged.
	Result Result
	// Reason says why.
	Reason Reason
	// Code is the SIP status code answered (0 when nothing was sent).
	Code int
	// Err is the Guard's error (matching the sip package's sentinels) for
	// a refusal of the Guard; nil otherwise (the log says more).
	Err error
	// Account is the account the call was for, when it was known.
	Account tenancy.SID
	// CallID and Source identify the INVITE.
	CallID string
	Source netip.AddrPort
	// Request is the INVITE. Read it, do not modify or keep it.
	Request *sipgosip.Request
}

// RecordingReport is what became of a session's recording at its end.
type RecordingReport struct {
	// Result describes the file (see recording.Result); Key is set even
	// when Err is.
	Result recording.Result
	// Err is nil when the file was finalized and handed to the spool. It
	// wraps recording.ErrUpload when the file was finalized but the spool
	// did not take it (it stays in the recording directory, which hands it
	// over at the next start); anything else means the recording failed.
	Err error
	// Late counts the samples the recorder dropped as late or duplicate
	// (recording.Stats.Late).
	Late int64
}
