package srs

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/storage/egress"
	"github.com/voicegw/voicegw/tenancy"
)

// WebhookEventSessionEnded is the Event of the webhook sent when a session
// ends.
const WebhookEventSessionEnded = "session.ended"

// WebhookEvent is the body POSTed to an account's session webhook when one
// of its sessions ends (WebhookEventSessionEnded), and again when the
// status code of its document changes afterwards (WebhookEventSessionUpdated:
// the upload of its recording failed, or landed after failing), signed with
// the account's webhook secret (tenancy.SignatureHeader; check it with
// tenancy.WebhookVerifier).
type WebhookEvent struct {
	// Event is WebhookEventSessionEnded or WebhookEventSessionUpdated.
	Event string `json:"event"`
	// AccountSID and SessionID say whose session it is.
	AccountSID string `json:"account_sid"`
	SessionID  string `json:"session_id"`
	// OccurredAt is when the session ended (session.ended) or when its
	// document changed (session.updated), UTC.
	OccurredAt time.Time `json:"occurred_at"`
	// Recording describes the recording, when the session was recorded
	// (session.ended only).
	Recording *RecordingSummary `json:"recording,omitempty"`
	// CallAttachedData is the account's call attached data of the session
	// (seed 002), as in Session.CallAttachedData; absent when the account
	// configures none.
	CallAttachedData map[string]any `json:"call_attached_data,omitempty"`
	// Session is the session document, as the Insights API returns it
	// (without playback_url: a link expires, ask the API for one).
	Session *insights.Session `json:"session"`
}

// RecordingSummary describes the recording of an ended session.
type RecordingSummary struct {
	// Key is the object key in the account's bucket:
	// ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav|mp3.
	Key string `json:"key"`
	// Format is "wav" or "mp3".
	Format string `json:"format"`
	// Channels of the file (0 when unknown).
	Channels int `json:"channels,omitempty"`
	// DurationMS is the audio's length in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// Size of the file in bytes (0 when unknown).
	Size int64 `json:"size,omitempty"`
	// Spooled is true when the file was handed to the upload spool (it is
	// in the bucket, or will be once the bucket is reachable).
	Spooled bool `json:"spooled"`
}

// finish completes a session that ended: its recording is finalized and
// handed to the spool, its document stored and the account's webhook told.
// It runs on its own goroutine (counted by beginFinish) so the SIP side never waits for
// it. A step that fails is logged and reported; the journal entry stays
// until the document is stored, so a retry (RetryInterval, or the next
// start) completes what was left.
func (s *Server) finish(ss *Session, end time.Time, reason string) {
	ctx, cancel := context.WithTimeout(s.bg, s.cfg.FinishTimeout)
	defer cancel()
	s.inFlight.Store(ss.ID(), struct{}{})
	defer s.inFlight.Delete(ss.ID())
	ss.mu.Lock()
	ss.entry.End, ss.entry.EndReason = end, reason
	e := ss.entry
	ss.mu.Unlock()
	endSaved := true
	if err := s.journal.Save(ctx, &e); err != nil {
		ss.log.Warn("journal: recording the end failed; it is retried", "error", err)
		endSaved = false
	}

	ctx = ss.spanContext(ctx)
	_, fin := s.tracer.Start(ctx, "srs.recording.finalize")
	s.dirMu.RLock()
	res, err := ss.rec.Finish(ctx)
	s.dirMu.RUnlock()
	rep := RecordingReport{Result: res, Err: err, Late: ss.rec.Stats().Late}
	if res.Key == "" {
		rep.Result.Key = recording.ID{Account: e.Account, Application: e.Application, Session: e.SessionID}.Key(ss.rec.Format())
		rep.Result.Format = ss.rec.Format()
	}
	fin.SetAttributes(AttrKey.String(rep.Result.Key))
	if res.Uploaded {
		s.noteUpload(ss, rep.Result.Key)
	}
	endSpan(fin, err)
	switch {
	case err == nil:
	case errors.Is(err, recording.ErrUpload):
		// finalized, but the spool did not take it: it stays in the
		// recording directory, handed over by the next retry or start
		s.unspooled.Store(true)
		ss.log.Error("recording finalized but not spooled; it is retried", "error", err)
	case errors.Is(err, recording.ErrWrite):
		// the file holds what was written before the disk filled: the
		// retry loop repairs it and hands it to the spool (Dir.Recover)
		s.unspooled.Store(true)
		ss.log.Error("recording failed; what was written is uploaded once it can be repaired", "error", err)
	default:
		ss.log.Error("recording failed", "error", err)
	}
	s.obs.RecordingFinished(ss, rep)
	sum := &RecordingSummary{Key: rep.Result.Key, Format: rep.Result.Format.String(), Channels: res.Channels,
		DurationMS: res.Duration.Milliseconds(), Size: res.Size, Spooled: res.Uploaded}
	ss.log.Info("session ended", "reason", reason, "key", sum.Key, "duration", res.Duration, "size", res.Size)
	if err != nil {
		ss.mu.Lock()
		if errors.Is(err, recording.ErrUpload) {
			ss.entry.Details.Unspooled = true
		} else {
			ss.entry.Details.RecordingError = cut(err.Error(), MaxExtensionValueLen)
		}
		e = ss.entry
		ss.mu.Unlock()
		if err := s.journal.Save(ctx, &e); err != nil {
			ss.log.Warn("journal: recording the recording's failure failed", "error", err)
		}
	}
	completed := s.complete(ctx, ss, &e, sum)
	ss.endSessionTrace(nil)
	if !completed && !endSaved {
		// the journal's row has no end, which the retry loop would take for
		// a session in progress: keep the end here for it
		s.unjournaled.Store(e.SessionID, e)
	}
}

// complete stores the session document of e, sends the webhook and forgets
// e: what finish, a retry and a start after a crash have in common. The
// document replaces the one stored in progress; its status says how the
// call ended and where its recording is, as the spool says now (the spool's
// later reports update it: recordingChanged). It reports whether the
// document was stored.
func (s *Server) complete(ctx context.Context, ss *Session, e *Entry, sum *RecordingSummary) bool {
	unlock := s.docs.lock(e.SessionID)
	doc := s.document(ctx, ss, e)
	ss.mu.Lock()
	ss.docDone = true
	ss.mu.Unlock()
	if cd := doc.ChannelData; cd.StatusCode != nil {
		e.StatusCode = *cd.StatusCode
	}
	if s.cfg.Index != nil {
		_, sp := s.tracer.Start(ss.spanContext(ctx), "srs.session.document")
		err := s.cfg.Index.Put(ctx, doc)
		endSpan(sp, err)
		if err != nil {
			unlock()
			ss.log.Error("storing the session document failed; it is retried", "error", err)
			s.obs.SessionCompleted(ss, err)
			return false
		}
	}
	unlock()
	s.obs.SessionCompleted(ss, nil)
	s.sendWebhook(ctx, ss, e, WebhookEventSessionEnded, doc, sum)
	if err := s.journal.Delete(ctx, e.SessionID); err != nil {
		ss.log.Warn("journal: forgetting the session failed (its document would be stored again)", "error", err)
	}
	return true
}

// sendWebhook POSTs an event (session.ended, session.updated) to the
// account's session webhook, signed with the account's webhook secret,
// retrying a few times. A live session uses the account its admission read;
// others read it.
func (s *Server) sendWebhook(ctx context.Context, ss *Session, e *Entry, event string, doc *insights.Session, sum *RecordingSummary) {
	var acct *tenancy.Account
	if ss.adm != nil {
		acct = ss.adm.Account
	} else {
		var err error
		if acct, err = s.tenants.Account(ctx, tenancy.SID(e.Account)); err != nil {
			if !errors.Is(err, tenancy.ErrNotFound) {
				ss.log.Warn("session webhook: reading the account failed", "error", err)
			}
			return
		}
	}
	if acct.SessionWebhook == "" {
		return
	}
	occurred := e.End.UTC()
	if event != WebhookEventSessionEnded {
		occurred = time.Now().UTC()
	}
	body, err := json.Marshal(WebhookEvent{Event: event, AccountSID: e.Account, SessionID: e.SessionID,
		OccurredAt: occurred, Recording: sum, CallAttachedData: doc.CallAttachedData, Session: doc})
	if err != nil {
		return
	}
	ctx, sp := s.tracer.Start(ss.spanContext(ctx), "srs.webhook", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("voicegw.webhook.event", event)))
	defer func() { endSpan(sp, err) }()
	wait := 500 * time.Millisecond
	for try := 1; ; try++ {
		_, err = s.hooks.PostAccount(ctx, acct, acct.SessionWebhook, "application/json", body)
		if err == nil {
			s.obs.WebhookSent(ss, nil)
			return
		}
		if try == s.cfg.WebhookTries || ctx.Err() != nil || errors.Is(err, egress.ErrRefused) {
			break // a refused address stays refused: no retries
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 4
	}
	ss.log.Warn("session webhook failed", "event", event, "tries", s.cfg.WebhookTries, "error", err)
	s.obs.WebhookSent(ss, err)
}

// summaryOf describes the recording of a journal entry from the entry
// alone (no file at hand): its key, format and the session's length.
func summaryOf(e *Entry) *RecordingSummary {
	if e.Format == "" {
		return nil
	}
	f, err := recording.ParseFormat(e.Format)
	if err != nil {
		return nil
	}
	id := recording.ID{Account: e.Account, Application: e.Application, Session: e.SessionID}
	return &RecordingSummary{Key: id.Key(f), Format: f.String(), DurationMS: e.End.Sub(e.Start).Milliseconds()}
}
