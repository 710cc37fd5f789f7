package main

import (
	"context"
	"errors"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/tenancy"
)

// recover runs at start, before calls are taken, and completes what a crash
// (or a shutdown that ran out of time) left behind:
//
//   - recording.Dir.Recover repairs every recording cut off while being
//     written (a valid file holding all audio up to the last flush) and hands
//     every finished file still in the recording directory to the spool,
//     whose Run uploads it (with whatever else waited in the spool);
//   - every session left in the journal gets its session document (a session
//     cut off ends when its recording ends, with status warning), its webhook,
//     and its licensed-session lease back.
func (g *Gateway) recover(ctx context.Context) {
	found := map[string]recording.Recovered{}
	rs, err := g.dir.Recover(ctx)
	for _, r := range rs {
		found[r.ID.Session] = r
		switch {
		case r.Err != nil:
			g.metrics.recordingErrors.WithLabelValues("recover").Inc()
		case r.Repair != nil:
			g.metrics.recordingsWritten.WithLabelValues(r.Info.Format.String()).Inc()
			g.log.Info("recording cut off by a crash repaired and spooled", "key", r.Key, "duration", r.Info.Duration,
				"truncated_bytes", r.Repair.Truncated)
		default:
			g.log.Info("finished recording spooled at start", "key", r.Key)
		}
	}
	if err != nil {
		g.log.Error("recovering recordings: some stay in the recording directory for the next start", "error", err)
	}

	pending, err := g.st.journal.pending(ctx)
	if err != nil {
		g.log.Error("reading the session journal failed", "error", err)
		return
	}
	for _, e := range pending {
		r, hasFile := found[e.SessionID]
		var sum *recordingSummary
		if hasFile {
			sum = &recordingSummary{Key: r.Key, Format: r.Info.Format.String(), Channels: r.Info.Channels,
				DurationMS: r.Info.Duration.Milliseconds(), Size: r.Info.Size, Spooled: r.Uploaded}
		}
		if e.End.IsZero() {
			// cut off: the session lasted as long as its recording
			e.End, e.EndReason = e.Start, "interrupted"
			if hasFile {
				e.End = e.Start.Add(r.Info.Duration)
			}
			e.StatusCode = max(e.StatusCode, insights.StatusCodeWarning)
		}
		if e.Lease != "" {
			if err := g.st.limiter.Release(ctx, tenancy.SID(e.Account), e.Lease); err != nil && !errors.Is(err, context.Canceled) {
				g.log.Warn("releasing the licence of an interrupted session failed (its lease expires by itself)", "session", e.SessionID, "error", err)
			}
		}
		g.log.Info("completing a session interrupted by a restart", "session", e.SessionID, "account", e.Account, "recorded", hasFile)
		g.completeSession(ctx, e, sum)
	}
}
