package srs

import (
	"context"
	"errors"
	"time"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/tenancy"
)

// recover runs at start, before calls are taken, and completes what a
// crash (or a shutdown that ran out of time) left behind:
//
//   - recording.Dir.Recover repairs every recording cut off while being
//     written (a valid file holding all audio up to the last flush) and
//     hands every finished file still in the recording directory to the
//     spool, which uploads it (with whatever else waited in the spool);
//   - every session left in the journal gets its session document (a
//     session cut off ends when its recording ends, with status warning),
//     its webhook, and its licensed-session lease back.
func (s *Server) recover(ctx context.Context) {
	found := s.recoverRecordings(ctx)
	pending, err := s.journal.Pending(ctx)
	if err != nil {
		s.log.Error("reading the session journal failed", "error", err)
		return
	}
	for _, e := range pending {
		r, hasFile := found[e.SessionID]
		sum := summaryOf(e)
		if hasFile {
			sum = &RecordingSummary{Key: r.Key, Format: r.Info.Format.String(), Channels: r.Info.Channels,
				DurationMS: r.Info.Duration.Milliseconds(), Size: r.Info.Size, Spooled: r.Uploaded}
			switch {
			case r.Err != nil && !errors.Is(r.Err, recording.ErrUpload):
				e.Details.RecordingError = cut(r.Err.Error(), MaxExtensionValueLen)
			case r.Repair != nil:
				e.Details.Repaired = true
			}
		}
		if e.End.IsZero() {
			// cut off: the session lasted as long as its recording
			e.End, e.EndReason = e.Start, "interrupted"
			if hasFile {
				e.End = e.Start.Add(r.Info.Duration)
			} else if key := recordingKey(e); key != "" && !s.uploadOf(key).inSpool {
				// recorded while it lasted, yet neither in the recording
				// directory nor in the spool
				e.Details.Missing = true
			}
			if sum != nil {
				sum.DurationMS = e.End.Sub(e.Start).Milliseconds()
			}
		}
		if e.Lease != "" {
			if err := s.limiter.Release(ctx, tenancy.SID(e.Account), e.Lease); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("releasing the licence of an interrupted session failed", "session_id", e.SessionID, "error", err)
			}
		}
		ss := recoveredSession(s, e)
		ss.log.Info("completing a session interrupted by a restart", "recorded", hasFile)
		s.complete(ctx, ss, e, sum)
	}
}

// recoverRecordings runs Dir.Recover and returns what it found by session.
func (s *Server) recoverRecordings(ctx context.Context) map[string]recording.Recovered {
	s.dirMu.Lock()
	rs, err := s.dir.Recover(ctx)
	s.dirMu.Unlock()
	found := make(map[string]recording.Recovered, len(rs))
	for _, r := range rs {
		found[r.ID.Session] = r
		switch {
		case r.Err != nil:
		case r.Repair != nil:
			s.log.Info("recording cut off by a crash repaired and spooled", "key", r.Key, "duration", r.Info.Duration,
				"truncated_bytes", r.Repair.Truncated)
		default:
			s.log.Info("finished recording spooled", "key", r.Key)
		}
		s.obs.RecordingRecovered(r)
	}
	if err != nil {
		s.log.Error("recovering recordings: some stay in the recording directory for the next try", "error", err)
	} else {
		s.unspooled.Store(false)
	}
	return found
}

// recoveredSession is the Session of a journal entry after a restart.
func recoveredSession(s *Server, e *Entry) *Session {
	ss := &Session{entry: *e}
	ss.log = s.log.With(logAttrs(e, "")...)
	return ss
}

// retryLoop, every RetryInterval while the Server runs, hands to the spool
// the recordings it did not take at their end, saves the ends the journal
// could not record (a full disk), and completes the sessions whose document
// could not be stored (their journal entry has an end and no finishing is
// under way).
func (s *Server) retryLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.unspooled.Load() {
			s.recoverRecordings(ctx)
		}
		s.unjournaled.Range(func(id, v any) bool {
			e := v.(Entry)
			if err := s.journal.Save(ctx, &e); err == nil {
				s.unjournaled.Delete(id)
			}
			return ctx.Err() == nil
		})
		pending, err := s.journal.Pending(ctx)
		if err != nil {
			s.log.Warn("reading the session journal failed", "error", err)
			continue
		}
		for _, e := range pending {
			if e.End.IsZero() || ctx.Err() != nil {
				continue
			}
			if _, busy := s.inFlight.Load(e.SessionID); busy {
				continue
			}
			ss := recoveredSession(s, e)
			ss.log.Info("completing a session again")
			cctx, cancel := context.WithTimeout(ctx, s.cfg.FinishTimeout)
			s.complete(cctx, ss, e, summaryOf(e))
			cancel()
		}
	}
}
