package srs

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/tenancy"
)

// WebhookEventSessionUpdated is the Event of the webhook sent when the
// status code of an ended session changes afterwards: its recording's
// upload failed, or landed after failing.
const WebhookEventSessionUpdated = "session.updated"

// docTimeout bounds one document write outside finishing (in progress,
// upload updates).
const docTimeout = 10 * time.Second

// docLocks serializes the document writes of a session (by ID) that can
// race: its completion, its in-progress writes and the upload events of its
// recording.
type docLocks struct {
	seed maphash.Seed
	mu   [64]sync.Mutex
}

func newDocLocks() *docLocks { return &docLocks{seed: maphash.MakeSeed()} }

// lock locks the document of session id and returns its unlock.
func (l *docLocks) lock(id string) func() {
	m := &l.mu[maphash.String(l.seed, id)%uint64(len(l.mu))]
	m.Lock()
	return m.Unlock
}

// upload is what the spool says of a recording's object.
type upload struct {
	// inSpool: it waits in the spool (not yet confirmed by the bucket).
	inSpool bool
	// attempts are the tries so far (of the item waiting, or of the one
	// that landed); lastError and reason say why the last one failed.
	attempts          int
	lastError, reason string
}

// uploadOf returns the spool's state of key.
func (s *Server) uploadOf(key string) upload {
	it, ok := s.spool.InspectKey(key)
	if !ok {
		return upload{}
	}
	return upload{inSpool: true, attempts: it.Attempts, lastError: it.LastError, reason: it.Reason}
}

// statusInput is what a session's status code is decided from.
type statusInput struct {
	endReason string
	recorded  bool // the session has (or should have) a recording
	details   CallDetails
	upload    upload
	// wasFailing: the document said upload_failing before (an upload that
	// lands now landed late)
	wasFailing bool
	// unspooledWaiting: finished recordings wait in the recording
	// directory for the spool (Server.unspooled)
	unspooledWaiting bool
}

// status decides the status code of an ended session (seed 004: 0
// successful, 100 warning, 200 erroneous), says why in words, and where
// its recording is:
//
//   - how it ended: by BYE is successful; by shutdown, media timeout or an
//     ACK that never came a warning; cut off by a crash or a shutdown that
//     ran out of time ("interrupted") a warning; anything else erroneous;
//   - its recording: failed or missing is erroneous; repaired after a crash a
//     warning; waiting for a bucket that refused it, or not yet handed to
//     the spool, erroneous (until it lands: the document is updated); landed
//     after failed tries a warning ("late"); landed or on its way at the
//     first try successful.
//
// The code is the worst of these; the reason lists the others.
func status(in statusInput) (code int, reason, recStatus string) {
	var reasons []string
	worse := func(c int, why string) {
		code = max(code, c)
		reasons = append(reasons, why)
	}
	switch in.endReason {
	case "bye", "":
	case "shutdown", "media-timeout", "no-ack":
		worse(insights.StatusCodeWarning, "ended by "+in.endReason)
	case "interrupted":
		worse(insights.StatusCodeWarning, "interrupted: the recording server stopped before the call ended")
	default:
		worse(insights.StatusCodeError, "ended by "+in.endReason)
	}
	if !in.recorded {
		return code, strings.Join(reasons, "; "), ""
	}
	d := &in.details
	switch {
	case d.RecordingError != "":
		worse(insights.StatusCodeError, "recording failed: "+d.RecordingError)
		return code, strings.Join(reasons, "; "), insights.RecordingStatusFailed
	case d.Missing:
		worse(insights.StatusCodeError, "recording missing: no file was found after a restart")
		return code, strings.Join(reasons, "; "), insights.RecordingStatusFailed
	}
	if d.Repaired {
		worse(insights.StatusCodeWarning, "recording repaired after a crash (audio not yet flushed was lost)")
	}
	up := in.upload
	switch {
	case up.inSpool && up.lastError != "":
		why := up.reason
		if why == "" {
			why = up.lastError
		}
		worse(insights.StatusCodeError, fmt.Sprintf("upload failing (%d tries): %s; retried until the bucket takes it", up.attempts, why))
		recStatus = insights.RecordingStatusUploadFailing
	case up.inSpool:
		recStatus = insights.RecordingStatusUploading
	case d.Unspooled && in.unspooledWaiting:
		worse(insights.StatusCodeError, "recording not handed to the upload spool yet; retried")
		recStatus = insights.RecordingStatusUploadFailing
	default:
		recStatus = insights.RecordingStatusUploaded
		if up.attempts > 1 || in.wasFailing {
			worse(insights.StatusCodeWarning, fmt.Sprintf("recording uploaded late, after %d tries", max(up.attempts, 1)))
		}
	}
	return code, strings.Join(reasons, "; "), recStatus
}

// document returns the session document of e: in progress while e has no
// end, else ended with the status the spool's state of its recording gives.
func (s *Server) document(ctx context.Context, ss *Session, e *Entry) *insights.Session {
	c := insights.CallRecord{
		SessionID: e.SessionID, AccountID: e.Account, ApplicationID: e.Application,
		Source: e.Source, Destination: e.Destination, Start: e.Start, End: e.End,
		Format: e.Format, RecordingID: e.RecordingID, SIPCallID: e.CallID,
		SIPSessionIDs: e.Details.SIPSessionIDs, Participants: e.Details.Participants, ExtensionData: e.Details.ExtensionData,
		EndReason: e.EndReason, RecordingRepaired: e.Details.Repaired,
	}
	if !e.End.IsZero() {
		var up upload
		if e.Format != "" {
			up = s.uploadOf(recordingKey(e))
		}
		c.StatusCode, c.StatusReason, c.RecordingStatus = status(statusInput{endReason: e.EndReason, recorded: e.Format != "",
			details: e.Details, upload: up, unspooledWaiting: s.unspooled.Load()})
	}
	doc := insights.NewCallSession(c)
	s.attachCAD(ctx, ss, doc, &e.Details, nil)
	return doc
}

// recordingKey is the object key of e's recording ("" when not recorded).
func recordingKey(e *Entry) string {
	if e.Format == "" {
		return ""
	}
	f, err := recording.ParseFormat(e.Format)
	if err != nil {
		return ""
	}
	return recording.ID{Account: e.Account, Application: e.Application, Session: e.SessionID}.Key(f)
}

// attachCAD sets doc's call attached data from the account's fields (the
// account the admission read, or as stored now for a session without
// one). Values the session's variables do not give keep what old had.
func (s *Server) attachCAD(ctx context.Context, ss *Session, doc *insights.Session, d *CallDetails, old map[string]any) {
	var fields []tenancy.CADField
	if ss != nil && ss.adm != nil {
		fields = ss.adm.Account.CallAttachedData
	} else {
		acct, err := s.tenants.Account(ctx, tenancy.SID(doc.AccountID))
		if err != nil {
			if !errors.Is(err, tenancy.ErrNotFound) {
				s.log.Warn("call attached data: reading the account failed", "session_id", doc.ID, "account", doc.AccountID, "error", err)
			}
			doc.CallAttachedData = old
			return
		}
		fields = acct.CallAttachedData
	}
	cad, err := callAttachedData(fields, doc, d)
	if err != nil {
		s.log.Warn("call attached data: the account's fields are invalid", "session_id", doc.ID, "account", doc.AccountID, "error", err)
		return
	}
	for k, v := range cad {
		if ov, ok := old[k]; ok && v == nil {
			cad[k] = ov
		}
	}
	doc.CallAttachedData = cad
}

// storeInProgress stores the document of a session in progress, in the
// background (the INVITE's answer does not wait for the index): at its start
// and when its metadata changes. A document of the session's end stored
// first wins: a late in-progress write is dropped.
func (s *Server) storeInProgress(ss *Session) {
	if s.cfg.Index == nil {
		return
	}
	s.goBackground(func(bg context.Context) {
		unlock := s.docs.lock(ss.ID())
		defer unlock()
		ss.mu.Lock()
		done, e := ss.docDone, ss.entry
		ss.mu.Unlock()
		if done {
			return
		}
		ctx, cancel := context.WithTimeout(bg, docTimeout)
		defer cancel()
		if err := s.cfg.Index.Put(ctx, s.document(ctx, ss, &e)); err != nil {
			ss.log.Warn("storing the in-progress session document failed", "error", err)
		}
	})
}

// recordingChanged updates the document of an ended session when the spool
// reports its recording: it failed to upload, or it landed. The spool's
// state decides (so events handled out of order end in the right state);
// the status code, its reason and the recording status are recomputed
// (see status), and when the code changes the account's webhook is told
// (session.updated). A session whose document is not stored yet (it is
// being completed) is left to its completion, which reads the spool.
func (s *Server) recordingChanged(it storage.Item, landed bool) {
	if s.cfg.Index == nil {
		return
	}
	id, _, err := recording.ParseKey(it.Key)
	if err != nil {
		return
	}
	unlock := s.docs.lock(id.Session)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.bg), docTimeout)
	defer cancel()
	doc, err := s.cfg.Index.Find(ctx, id.Account, id.Session)
	if err != nil {
		if !errors.Is(err, insights.ErrNotFound) {
			s.log.Warn("updating the session document for its upload: reading it failed", "key", it.Key, "error", err)
		}
		return
	}
	cd := &doc.ChannelData
	if cd.CallStatus != insights.StatusEnded || cd.AudioURL != it.Key || cd.RecordingStatus == insights.RecordingStatusFailed {
		return // in progress (its completion reads the spool), or another file of the session
	}
	up := s.uploadOf(it.Key)
	if !up.inSpool && landed {
		up.attempts = it.Attempts
	}
	code, reason, recStatus := status(statusInput{endReason: cd.EndReason, recorded: true,
		details: CallDetails{Repaired: cd.RecordingRepaired}, upload: up,
		wasFailing: cd.RecordingStatus == insights.RecordingStatusUploadFailing, unspooledWaiting: false})
	old := -1
	if cd.StatusCode != nil {
		old = *cd.StatusCode
	}
	if old == code && cd.StatusReason == reason && cd.RecordingStatus == recStatus {
		return
	}
	cd.SetStatusCode(code)
	cd.StatusReason, cd.RecordingStatus = reason, recStatus
	d := CallDetails{Participants: cd.Participants, ExtensionData: cd.ExtensionData, SIPSessionIDs: cd.SIPSessionIDs}
	s.attachCAD(ctx, nil, doc, &d, doc.CallAttachedData)
	if err := s.cfg.Index.Put(ctx, doc); err != nil {
		s.log.Warn("updating the session document for its upload failed", "key", it.Key, "error", err)
		return
	}
	s.log.Info("session document updated", "session_id", id.Session, "account", id.Account, "recording_status", recStatus,
		"status_code", code, "was", old)
	if old != code {
		e := &Entry{SessionID: doc.ID, Account: doc.AccountID, CallID: cd.SIPCallID, End: doc.SessionEndTime.Time}
		ss := recoveredSession(s, e)
		s.sendWebhook(ctx, ss, e, WebhookEventSessionUpdated, doc, nil)
	}
}
