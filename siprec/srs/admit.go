package srs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/metadata"
	"github.com/voicegw/voicegw/tenancy"
)

// releaseTimeout bounds giving a licensed session back.
const releaseTimeout = 5 * time.Second

// admit is the Server's siprec.Policy, run for each SIPREC INVITE that
// passed the Guard: the account (the Guard's tenant) → its SIPREC
// application → the recording decision (tenancy.Decide) → a licensed
// session (the limiter; 486 past the limit, 503 when it cannot decide).
func (s *Server) admit(ctx context.Context, o *siprec.Offer) (siprec.Admission, error) {
	if s.closing.Load() {
		return s.refuse(o, "", "", ReasonShuttingDown, &siprec.Rejection{Code: 503, RetryAfter: 30 * time.Second})
	}
	id, ok := sip.IdentityFrom(ctx)
	if !ok || id.Tenant == "" {
		return s.refuse(o, "", "", ReasonNoTenant, siprec.Reject(403, ""))
	}
	sid := tenancy.SID(id.Tenant)
	acct, err := s.tenants.Account(ctx, sid)
	if err != nil {
		s.log.Error("reading the account failed", "account", sid, "error", err)
		return s.refuse(o, sid, "", ReasonServerError, siprec.Reject(500, ""))
	}
	var app *tenancy.Application
	if acct.SIPRECApplication != "" {
		if app, err = s.cfg.Tenants.Application(ctx, acct.SIPRECApplication); err != nil && !errors.Is(err, tenancy.ErrNotFound) {
			s.log.Error("reading the application failed", "account", sid, "account_name", acct.Name, "error", err)
			return s.refuse(o, sid, acct.Name, ReasonServerError, siprec.Reject(500, ""))
		}
	}
	if acct.SIP.RequireTLS && !o.Secure {
		return s.refuse(o, sid, acct.Name, ReasonTLSRequired, &siprec.Rejection{Code: 488,
			Warning: "the account requires SIP over TLS (sips:) for recording: the INVITE came over " + o.Request.Transport()})
	}
	dec := tenancy.Decide(acct, app)
	if !dec.Record {
		s.log.Info("not recording", "account", sid, "account_name", acct.Name, "why", dec.Reason)
		return s.refuse(o, sid, acct.Name, ReasonNotRecorded, siprec.Reject(403, "Recording Not Enabled"))
	}
	if app == nil {
		// the account records all calls but has no SIPREC application: the
		// object key uses "-" for it (tenancy.RecordingKey)
		app = &tenancy.Application{Account: acct.SID}
	}
	lease := randomToken(12)
	if err := s.limiter.Acquire(ctx, acct.SID, lease, acct.SessionLimit()); err != nil {
		code, phrase := tenancy.SIPStatus(err)
		reason := ReasonLimiterUnavailable
		if errors.Is(err, tenancy.ErrLimitReached) {
			reason = ReasonLicensedSessions
		} else {
			s.log.Error("licensed-sessions limiter failed", "account", sid, "account_name", acct.Name, "error", err)
		}
		return s.refuse(o, sid, acct.Name, reason, siprec.Reject(code, phrase))
	}
	format := dec.Format
	if format == tenancy.FormatMP3 && s.lame == nil {
		s.log.Error("MP3 asked for but LAME is unavailable: recording WAV", "account", sid, "account_name", acct.Name)
		format = tenancy.FormatWAV
	}
	adm := &Admission{Account: acct, Application: app, Format: format, Lease: lease}
	sink := func(ctx context.Context, sess *siprec.Session) (siprec.SessionSink, error) {
		return s.newSession(ctx, sess, adm)
	}
	return siprec.Admission{Sink: sink, RequireSRTP: acct.SIP.RequireSRTP, Release: func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := s.limiter.Release(ctx, acct.SID, lease); err != nil {
			s.log.Warn("releasing a licensed session failed", "account", sid, "account_name", acct.Name, "error", err)
		}
	}}, nil
}

// refuse logs why the admission refused o and returns the rejection, whose
// Cause the SIPREC server reports to the Observer (onReject).
func (s *Server) refuse(o *siprec.Offer, sid tenancy.SID, name string, reason Reason, rej *siprec.Rejection) (siprec.Admission, error) {
	rej.Cause = string(reason)
	s.peerLog.Info("call refused", "reason", reason, "code", rej.Code, "call_id", o.CallID, "source", o.Source, "account", sid, "account_name", name)
	return siprec.Admission{}, rej
}

// newSession starts recording a session the admission took: one file for
// the session and a journal entry, so that a crash cannot lose it.
func (s *Server) newSession(ctx context.Context, sess *siprec.Session, adm *Admission) (siprec.SessionSink, error) {
	md := sess.Metadata()
	src, dst := parties(md.ParticipantStreams())
	details := DetailsOf(md)
	details.Headers = sipHeaders(adm.Account.CallAttachedData, sess.Request())
	ss := &Session{adm: adm, sess: sess, entry: Entry{
		SessionID: sess.ID(), Account: string(adm.Account.SID), Application: adm.applicationSID(),
		Format: string(adm.Format), CallID: sess.CallID(), RecordingID: sess.RecordingID(),
		Source: src, Destination: dst, Start: sess.Start(), Lease: adm.Lease, Details: details,
	}}
	ss.log = s.log.With(logAttrs(&ss.entry, adm.Account.Name)...)
	refuse := func(reason Reason, code int, err error) (siprec.SessionSink, error) {
		ss.log.Error("call refused", "reason", reason, "code", code, "error", err)
		return nil, &siprec.Rejection{Code: code, Cause: string(reason)}
	}
	format := recording.WAV
	if adm.Format == tenancy.FormatMP3 {
		format = recording.MP3
	}
	cfg, index := recorderConfig(s.cfg.Recording, sess, format, ss.log)
	rec, err := s.dir.Create(recording.ID{Account: ss.entry.Account, Application: ss.entry.Application, Session: ss.entry.SessionID}, cfg)
	if err != nil {
		return refuse(ReasonRecordingFailed, 500, fmt.Errorf("starting the recording: %w", err))
	}
	ss.rec = rec
	if err := s.journal.Save(ctx, &ss.entry); err != nil {
		_ = rec.Abort()
		return refuse(ReasonServerError, 500, fmt.Errorf("journaling the session: %w", err))
	}
	k := &sessionSink{recorderSink: newRecorderSink(sess, rec, index, ss.log), srv: s, ss: ss}
	k.added = func(st *siprec.Stream) { s.streamAdded(ss, st) }
	k.removed = func(st *siprec.Stream) { s.streamRemoved(ss, st) }
	k.watchFailure(s.bg, sess)
	s.active.Add(1)
	s.startSessionTrace(ctx, ss)
	s.obs.SessionStarted(ss)
	// the document "in_progress", stored as the 200 is sent (complete
	// replaces it at the end)
	s.storeInProgress(ss)
	ss.log.Info("session started", "source", src, "destination", dst, "format", adm.Format,
		"streams", len(sess.Streams()), "paused", sess.Paused(), "recording_id", ss.entry.RecordingID)
	return k, nil
}

// sessionSink is the Server's siprec.SessionSink: it records (recorderSink),
// keeps the journal entry current, and finishes the session at its end.
type sessionSink struct {
	*recorderSink
	srv *Server
	ss  *Session
}

// UpdateMetadata keeps the journal's participants, extension data and
// recording ID current, and the in-progress document with them.
func (k *sessionSink) UpdateMetadata(_ []metadata.Change, current *metadata.Recording) {
	src, dst := parties(current.ParticipantStreams())
	d := DetailsOf(current)
	k.ss.mu.Lock()
	k.ss.entry.Source, k.ss.entry.Destination, k.ss.entry.RecordingID = src, dst, k.ss.sess.RecordingID()
	k.ss.entry.Details.Participants, k.ss.entry.Details.ExtensionData, k.ss.entry.Details.SIPSessionIDs = d.Participants, d.ExtensionData, d.SIPSessionIDs
	e := k.ss.entry
	k.ss.mu.Unlock()
	ctx, cancel := context.WithTimeout(k.srv.bg, releaseTimeout)
	defer cancel()
	if err := k.srv.journal.Save(ctx, &e); err != nil {
		k.ss.log.Warn("journal: updating the participants failed", "error", err)
	}
	k.srv.storeInProgress(k.ss)
}

// End finishes the session in the background: every receiver has stopped,
// so the recording has all its audio.
func (k *sessionSink) End(reason siprec.EndReason, at time.Time) {
	s, ss := k.srv, k.ss
	k.endStreams()
	s.active.Add(-1)
	if reason == siprec.EndCancel {
		ss.endSessionTrace(nil)
		s.obs.SessionEnded(ss, reason)
		// never answered: no call to record
		_ = ss.rec.Abort()
		ctx, cancel := context.WithTimeout(s.bg, releaseTimeout)
		defer cancel()
		_ = s.journal.Delete(ctx, ss.ID())
		ss.log.Info("session cancelled before it was answered")
		return
	}
	// Counted as finishing before anyone hears of the end, so that a
	// Shutdown called on hearing of it waits for the finishing.
	finishing := s.beginFinish()
	s.obs.SessionEnded(ss, reason)
	if !finishing {
		ss.endSessionTrace(nil)
		ss.log.Warn("the server stopped: the session is completed at the next start")
		return
	}
	go func() {
		defer s.finDone()
		s.finish(ss, at, reason.String())
	}()
}

// randomToken returns n random bytes in base64url (no padding).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
