package main

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/tenancy"
)

// finishTimeout bounds the work done for one ended session: finalizing the
// recording, handing it to the spool, storing the document and sending the
// webhook (with its retries).
const finishTimeout = 45 * time.Second

// sessionEnded is the webhook event sent to an account's session_webhook when
// one of its sessions ends (signed: Voicegw-Signature, see tenancy).
type sessionEnded struct {
	Event      string            `json:"event"` // "session.ended"
	AccountSID string            `json:"account_sid"`
	SessionID  string            `json:"session_id"`
	OccurredAt time.Time         `json:"occurred_at"`
	Recording  *recordingSummary `json:"recording,omitempty"`
	Session    *insights.Session `json:"session"`
}

// recordingSummary describes the recording of an ended session.
type recordingSummary struct {
	Key        string `json:"key"`
	Format     string `json:"format"`
	Channels   int    `json:"channels,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	Size       int64  `json:"size,omitempty"`
	// Spooled is true when the file was handed to the upload spool (it is
	// in the bucket, or will be once the bucket is reachable).
	Spooled bool `json:"spooled"`
}

// finishSession completes a session that ended: its recording (rec, nil when
// the session was not recorded) is finalized and handed to the spool, its
// session document is stored, and the account's webhook is told. It runs in
// its own goroutine (counted in g.finishing) so the SIP side never waits for
// it. Each step that fails is logged and counted; the journal row stays
// until the document is stored, so the next start completes what was left.
func (g *Gateway) finishSession(e *journalEntry, rec *recording.Recorder, end time.Time, reason string, status int) {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	log := g.log.With("session", e.SessionID, "account", e.Account)
	e.End, e.EndReason = end, reason
	if err := g.st.journal.end(ctx, e.SessionID, end, status, reason); err != nil {
		log.Warn("journal: recording the end failed", "error", err)
	}
	var sum *recordingSummary
	if rec != nil {
		res, err := rec.Finish(ctx)
		if late := rec.Stats().Late; late > 0 {
			g.metrics.lateSamples.Add(float64(late))
		}
		switch {
		case err == nil:
			g.metrics.recordingsWritten.WithLabelValues(res.Format.String()).Inc()
		case errors.Is(err, recording.ErrUpload):
			// finalized, but the spool did not take it: it stays in the
			// recording directory, and Dir.Recover hands it over at the
			// next start
			g.metrics.recordingsWritten.WithLabelValues(res.Format.String()).Inc()
			g.metrics.recordingErrors.WithLabelValues("spool").Inc()
			log.Error("recording finalized but not spooled; it is retried at the next start", "error", err)
			status = max(status, insights.StatusCodeWarning)
		default:
			g.metrics.recordingErrors.WithLabelValues("finish").Inc()
			log.Error("recording failed", "error", err)
			status = insights.StatusCodeError
		}
		sum = &recordingSummary{Key: res.Key, Format: res.Format.String(), Channels: res.Channels,
			DurationMS: res.Duration.Milliseconds(), Size: res.Size, Spooled: res.Uploaded}
		if sum.Key == "" {
			sum.Key = recording.ID{Account: e.Account, Application: e.Application, Session: e.SessionID}.Key(rec.Format())
			sum.Format = rec.Format().String()
		}
		log.Info("session ended", "reason", reason, "key", sum.Key, "duration", res.Duration, "size", res.Size)
	} else {
		log.Info("session ended (not recorded)", "reason", reason)
	}
	e.StatusCode = status
	g.completeSession(ctx, e, sum)
}

// completeSession stores the session document of e, sends the webhook and
// forgets e. It is what finishSession and a start after a crash have in
// common.
func (g *Gateway) completeSession(ctx context.Context, e *journalEntry, sum *recordingSummary) {
	log := g.log.With("session", e.SessionID, "account", e.Account)
	doc := insights.NewCallSession(insights.CallRecord{
		SessionID: e.SessionID, AccountID: e.Account, ApplicationID: e.Application,
		Source: e.Source, Destination: e.Destination, Start: e.Start, End: e.End,
		Format: e.Format, StatusCode: e.StatusCode, RecordingID: e.RecordingID, SIPCallID: e.CallID,
	})
	if err := g.st.index.Put(ctx, doc); err != nil {
		log.Error("storing the session document failed; retried at the next start", "error", err)
		return
	}
	g.sendWebhook(ctx, e, doc, sum)
	if err := g.st.journal.done(ctx, e.SessionID); err != nil {
		log.Warn("journal: forgetting the session failed (its document would be stored again)", "error", err)
	}
}

// webhookTries is how often a session webhook is tried before giving up.
const webhookTries = 3

// sendWebhook POSTs the session.ended event to the account's session
// webhook, signed with the account's webhook secret, retrying a few times.
func (g *Gateway) sendWebhook(ctx context.Context, e *journalEntry, doc *insights.Session, sum *recordingSummary) {
	acct, err := g.st.tenants.Account(ctx, tenancy.SID(e.Account))
	if err != nil || acct.SessionWebhook == "" {
		return
	}
	body, err := json.Marshal(sessionEnded{Event: "session.ended", AccountSID: e.Account, SessionID: e.SessionID,
		OccurredAt: e.End.UTC(), Recording: sum, Session: doc})
	if err != nil {
		return
	}
	wait := 500 * time.Millisecond
	for try := 1; ; try++ {
		_, err = g.webhooks.PostAccount(ctx, acct, acct.SessionWebhook, "application/json", body)
		if err == nil {
			g.metrics.webhooks.WithLabelValues("ok").Inc()
			return
		}
		if try == webhookTries || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 4
	}
	g.metrics.webhooks.WithLabelValues("failed").Inc()
	g.log.Warn("session webhook failed", "session", e.SessionID, "account", acct.Name, "tries", webhookTries, "error", err)
}
