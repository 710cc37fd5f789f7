package sqliteindex_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/sqliteindex"
)

// callDoc returns a session document shaped like the one siprec/srs stores
// for a recorded call (in progress at the 200 OK, or ended): two
// participants with their addresses, stream labels and vendor extension
// data, the call's extension data and Session-ID, a WAV recording.
func callDoc(i int, ended bool) *insights.Session {
	start := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	c := insights.CallRecord{
		SessionID: fmt.Sprintf("b0f1c2d3e4f5%020d", i), AccountID: "AC0f1e2d3c4b5a69788796a5b4c3d2e1f0",
		ApplicationID: "AP0f1e2d3c4b5a69788796a5b4c3d2e1f0", Source: "+14085550100", Destination: "+14085550199",
		Start: start, Format: "wav", RecordingID: fmt.Sprintf("rec-%d", i), SIPCallID: fmt.Sprintf("%d-1@198.51.100.10", i),
		SIPSessionIDs: []string{fmt.Sprintf("a7c5b3e0b8f35b4c9d1f%012d;remote=0d3f1e2a7b6c5d4e3f2a1b0c9d8e7f6a", i)},
		Participants: []insights.Participant{
			{ID: "rTEFcgWXEeqAAv7Fk0kd8A==", Name: "Caller", AOR: "sip:+14085550100@198.51.100.10", User: "+14085550100",
				Send: []string{"1"}, Recv: []string{"2"}, ExtensionData: map[string][]string{"participantData_direction": {"inbound"}}},
			{ID: "rTEFcgWXEeqABP7Fk0kd8A==", Name: "Agent 2001", AOR: "sip:+14085550199@198.51.100.20", User: "+14085550199",
				Send: []string{"2"}, Recv: []string{"1"}, ExtensionData: map[string][]string{"participantData_direction": {"outbound"}}},
		},
		ExtensionData: map[string][]string{"guid": {fmt.Sprintf("3F2A1B00-0001-11E9-8E6B-%012d", i)},
			"callingNumber": {"+14085550100"}, "calledNumber": {"+14085550199"}},
	}
	if ended {
		c.End, c.EndReason = start.Add(90*time.Second), "bye"
	}
	return insights.NewCallSession(c)
}

// benchIndex returns an index over a fresh database file holding docs
// sessions in progress.
func benchIndex(b *testing.B, docs int) *insights.Index {
	b.Helper()
	ctx := context.Background()
	idx, err := sqliteindex.OpenIndex(ctx, filepath.Join(b.TempDir(), "insights.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = idx.Close() })
	batch := make([]*insights.Session, 0, 500)
	for i := range docs {
		batch = append(batch, callDoc(-1-i, false))
		if len(batch) == cap(batch) || i == docs-1 {
			if err := idx.Put(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return idx
}

// BenchmarkPutInProgress measures storing the in-progress document of one
// more session (siprec/srs does it at each session's 200 OK) into an index
// that holds docs sessions already, one Put per document, or burst
// documents per Put (per-document figures in ns/doc).
func BenchmarkPutInProgress(b *testing.B) {
	ctx := context.Background()
	for _, docs := range []int{2000} {
		for _, burst := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("docs=%d/burst=%d", docs, burst), func(b *testing.B) {
				idx := benchIndex(b, docs)
				next := 0
				batch := make([]*insights.Session, burst)
				b.ReportAllocs()
				cpu := insightstest.CPUTime()
				for b.Loop() {
					for j := range batch {
						batch[j] = callDoc(next, false)
						next++
					}
					if err := idx.Put(ctx, batch...); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(next), "ns/doc")
				b.ReportMetric(float64(insightstest.CPUTime()-cpu)/float64(next)/1e3, "cpu-µs/doc")
			})
		}
	}
}

// BenchmarkPutEnded measures replacing a session's in-progress document
// by its ended one (siprec/srs does it at each session's end) in an index
// that holds docs sessions.
func BenchmarkPutEnded(b *testing.B) {
	ctx := context.Background()
	for _, docs := range []int{2000} {
		b.Run(fmt.Sprintf("docs=%d", docs), func(b *testing.B) {
			idx := benchIndex(b, docs)
			next := 0
			b.ReportAllocs()
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				if err := idx.Put(ctx, callDoc(next, false)); err != nil {
					b.Fatal(err)
				}
				c0 := insightstest.CPUTime()
				b.StartTimer()
				if err := idx.Put(ctx, callDoc(next, true)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += insightstest.CPUTime() - c0
				b.StartTimer()
				next++
			}
			b.ReportMetric(float64(cpu)/float64(next)/1e3, "cpu-µs/doc")
		})
	}
}
