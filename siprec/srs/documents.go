package srs

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
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

// lockMany locks the documents of sessions ids (each lock once, in a
// fixed order, so it cannot deadlock with lock) and returns their unlock.
func (l *docLocks) lockMany(ids []string) func() {
	idx := make([]int, 0, len(ids))
	for _, id := range ids {
		idx = append(idx, int(maphash.String(l.seed, id)%uint64(len(l.mu))))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		l.mu[i].Lock()
	}
	return func() {
		for _, i := range idx {
			l.mu[i].Unlock()
		}
	}
}

// In-progress documents are written in groups: the documents of the
// sessions set up within inProgressLinger of the first one waiting, up to
// inProgressBatch, in one Index.Put. A session index writes one page per
// indexed value of a document, most of them shared by the documents of a
// group, so a burst of set-ups costs a fraction of one write per session.
const (
	inProgressLinger = 50 * time.Millisecond
	inProgressBatch  = 256
)

// inProgressQueue holds the sessions whose in-progress document waits to
// be written.
type inProgressQueue struct {
	mu      sync.Mutex
	pending []*Session
	queued  map[*Session]struct{}
	writing bool // a writer goroutine runs
}

// storeInProgress stores the document of a session in progress, in the
// background (the INVITE's answer does not wait for the index): at its start
// and when its metadata changes. The documents of sessions set up in a
// burst are written together, within inProgressLinger. A document of the
// session's end stored first wins: a late in-progress write is dropped.
func (s *Server) storeInProgress(ss *Session) {
	if s.cfg.Index == nil {
		return
	}
	q := &s.inProg
	q.mu.Lock()
	if q.queued == nil {
		q.queued = map[*Session]struct{}{}
	}
	if _, ok := q.queued[ss]; !ok { // queued already: the write reads its latest entry
		q.queued[ss] = struct{}{}
		q.pending = append(q.pending, ss)
	}
	start := !q.writing
	q.writing = true
	q.mu.Unlock()
	if start {
		s.goBackground(s.writeInProgress)
	}
}

// writeInProgress writes the queued in-progress documents, a group every
// inProgressLinger, until none is left or the Server stops.
func (s *Server) writeInProgress(bg context.Context) {
	q := &s.inProg
	t := time.NewTimer(inProgressLinger)
	defer t.Stop()
	for {
		select {
		case <-bg.Done():
			// stopping: the sessions' completions write their documents
			q.mu.Lock()
			q.pending, q.queued, q.writing = nil, nil, false
			q.mu.Unlock()
			return
		case <-t.C:
		}
		q.mu.Lock()
		n := min(len(q.pending), inProgressBatch)
		group := slices.Clone(q.pending[:n])
		q.pending = slices.Delete(q.pending, 0, n)
		for _, ss := range group {
			delete(q.queued, ss)
		}
		if len(group) == 0 {
			q.writing = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		s.putInProgress(bg, group)
		t.Reset(inProgressLinger)
	}
}

// putInProgress writes the in-progress documents of group in one Put
// (each alone when that fails, so a failure is the session's own), except
// those whose end document is written already.
func (s *Server) putInProgress(bg context.Context, group []*Session) {
	ids := make([]string, len(group))
	for i, ss := range group {
		ids[i] = ss.ID()
	}
	unlock := s.docs.lockMany(ids)
	defer unlock()
	ctx, cancel := context.WithTimeout(bg, docTimeout)
	defer cancel()
	docs := make([]*insights.Session, 0, len(group))
	live := make([]*Session, 0, len(group))
	for _, ss := range group {
		ss.mu.Lock()
		done, e := ss.docDone, ss.entry
		ss.mu.Unlock()
		if done {
			continue
		}
		docs = append(docs, s.document(ctx, ss, &e))
		live = append(live, ss)
	}
	if len(docs) == 0 {
		return
	}
	errs := s.putDocs(ctx, true, docs...)
	for i, err := range errs {
		if err != nil {
			live[i].log.Warn("storing the in-progress session document failed", "error", err)
		}
	}
}

// docLinger is how long an end document waits for others to be written
// with (see putDocs).
const docLinger = 50 * time.Millisecond

// docBatch holds the documents waiting to be written together.
type docBatch struct {
	mu      sync.Mutex
	pending []*docWrite
	timer   *time.Timer // the flush scheduled, or nil
}

// docWrite is one document waiting in the docBatch; err is set before done
// is closed.
type docWrite struct {
	doc  *insights.Session
	err  error
	done chan struct{}
}

// putDocs stores docs in the index with the documents other goroutines
// store meanwhile, in one Index.Put: at once (with those waiting) when now
// is true, else within docLinger. The documents of sessions ending in a
// burst (or completed after a restart) are so written together, as the
// in-progress ones are. It returns each document's error (a failed group is
// written again one document at a time, so an error is the document's
// own), or ctx's error for those still waiting when ctx ends.
func (s *Server) putDocs(ctx context.Context, now bool, docs ...*insights.Session) []error {
	ws := make([]*docWrite, len(docs))
	for i, d := range docs {
		ws[i] = &docWrite{doc: d, done: make(chan struct{})}
	}
	b := &s.docBatch
	b.mu.Lock()
	b.pending = append(b.pending, ws...)
	if now {
		group := b.pending
		b.pending = nil
		if b.timer != nil {
			b.timer.Stop()
			b.timer = nil
		}
		b.mu.Unlock()
		s.writeDocs(group)
	} else {
		if b.timer == nil {
			b.timer = time.AfterFunc(docLinger, s.flushDocs)
		}
		b.mu.Unlock()
	}
	errs := make([]error, len(ws))
	for i, w := range ws {
		select {
		case <-w.done:
			errs[i] = w.err
		case <-ctx.Done():
			errs[i] = ctx.Err()
		}
	}
	return errs
}

// flushDocs writes the documents waiting in the docBatch.
func (s *Server) flushDocs() {
	b := &s.docBatch
	b.mu.Lock()
	group := b.pending
	b.pending, b.timer = nil, nil
	b.mu.Unlock()
	s.writeDocs(group)
}

// writeDocs stores group in one Index.Put, or one by one when that fails,
// and tells each writer.
func (s *Server) writeDocs(group []*docWrite) {
	if len(group) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.bg), docTimeout)
	defer cancel()
	docs := make([]*insights.Session, len(group))
	for i, w := range group {
		docs[i] = w.doc
	}
	err := s.cfg.Index.Put(ctx, docs...)
	if err != nil && len(group) > 1 {
		for _, w := range group {
			w.err = s.cfg.Index.Put(ctx, w.doc)
			close(w.done)
		}
		return
	}
	for _, w := range group {
		w.err = err
		close(w.done)
	}
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
