package srsprom

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/tenancy"
)

// TestAccountLabelBounded: the first MaxAccounts accounts keep their SID
// as the label; later ones are "other", calls of no known account
// "unknown"; a negative MaxAccounts labels every account "other".
func TestAccountLabelBounded(t *testing.T) {
	for _, tc := range []struct {
		max  int
		want map[string]float64
	}{
		{2, map[string]float64{"AC1": 2, "AC2": 1, "other": 2, "unknown": 1}},
		{-1, map[string]float64{"other": 5, "unknown": 1}},
	} {
		m, err := New(prometheus.NewRegistry(), Options{MaxAccounts: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		for _, acct := range []string{"AC1", "AC2", "AC3", "AC1", "", "AC4"} {
			m.CallRefused(context.Background(), srs.Refusal{Result: srs.Refused, Reason: srs.ReasonNotRecorded, Account: tenancy.SID(acct)})
		}
		for label, want := range tc.want {
			if got := testutil.ToFloat64(m.accountCalls.WithLabelValues(label, "refused")); got != want {
				t.Errorf("max %d: account=%q: %v calls, want %v", tc.max, label, got, want)
			}
		}
		if n := testutil.CollectAndCount(m.accountCalls); n != len(tc.want) {
			t.Errorf("max %d: %d account series, want %d", tc.max, n, len(tc.want))
		}
	}
}

// TestNewRegistersOnce: a second Observer on the same registry is an
// error (no panic), and leaves the first one's metrics as they were.
func TestNewRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(reg, Options{}); err == nil {
		t.Fatal("a second Observer on one registry: no error")
	}
	m.UploadFailed(storage.Item{})
	if n, err := testutil.GatherAndCount(reg, "voicegw_upload_errors_total", "voicegw_recording_errors_total", "voicegw_webhooks_total"); err != nil || n != 1+4+2 {
		t.Fatalf("after a failed second New: %d series (%v), want 7 (the alerts' series exist at 0)", n, err)
	}
	if got := testutil.ToFloat64(m.uploadErrors); got != 1 {
		t.Fatalf("voicegw_upload_errors_total = %v, want 1", got)
	}
}

// TestCounts: what each report counts, by label.
func TestCounts(t *testing.T) {
	m, err := New(prometheus.NewRegistry(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.CallRefused(ctx, srs.Refusal{Result: srs.Refused, Reason: srs.ReasonRecordingFailed})
	m.CallRefused(ctx, srs.Refusal{Result: srs.Challenged, Reason: srs.Reason(sip.ReasonCredentialsRequired)})
	m.RecordingRecovered(recording.Recovered{Err: errors.New("torn header")})
	m.RecordingRecovered(recording.Recovered{}) // handed over as it was: nothing written
	m.RecordingUploaded(storage.Item{Size: 1 << 20, Enqueued: time.Now().Add(-time.Minute)})
	m.WebhookSent(nil, errors.New("503"))
	m.WebhookSent(nil, nil)
	m.TransportEvent(sip.TransportEvent{Kind: sip.EventHandshakeFailed})
	m.TransportEvent(sip.TransportEvent{Kind: sip.EventAccepted})
	m.TransportEvent(sip.TransportEvent{Kind: sip.EventOverRate})
	m.TransportEvent(sip.TransportEvent{Kind: sip.EventOverRate})
	m.TransportEvent(sip.TransportEvent{Kind: sip.EventOverSourceLimit})
	for _, c := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"refused recording_failed", m.calls.WithLabelValues("refused", "recording_failed"), 1},
		{"challenged", m.calls.WithLabelValues("challenged", string(sip.ReasonCredentialsRequired)), 1},
		{"errors create", m.recordingErrors.WithLabelValues("create"), 1},
		{"errors recover", m.recordingErrors.WithLabelValues("recover"), 1},
		{"errors finish", m.recordingErrors.WithLabelValues("finish"), 0},
		{"uploaded", m.recordingsUploaded, 1},
		{"webhooks failed", m.webhooks.WithLabelValues("failed"), 1},
		{"webhooks ok", m.webhooks.WithLabelValues("ok"), 1},
		{"tls handshakes", m.tlsHandshakeFails, 1},
		{"refused over_rate", m.connsRefused.WithLabelValues("over_rate"), 2},
		{"refused over_source_limit", m.connsRefused.WithLabelValues("over_source_limit"), 1},
		{"refused over_limit", m.connsRefused.WithLabelValues("over_limit"), 0},
	} {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.recordingsWritten); n != 0 {
		t.Errorf("a recovery that repaired nothing counted %d recordings written", n)
	}
	if n := testutil.CollectAndCount(m.connsRefused); n != 4 {
		t.Errorf("connections refused: %d series, want the 4 reasons from the start", n)
	}
	if n := testutil.CollectAndCount(m.uploadDuration); n != 1 {
		t.Errorf("upload duration: %d series, want 1", n)
	}
}

func TestOldestAge(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	items := []storage.Item{{Enqueued: now.Add(-time.Minute)}, {}, {Enqueued: now.Add(-time.Hour)}}
	if got := OldestAge(items, now); got != 3600 {
		t.Errorf("OldestAge = %v, want 3600", got)
	}
	if got := OldestAge(nil, now); got != 0 {
		t.Errorf("OldestAge(empty) = %v, want 0", got)
	}
	if got := OldestAge([]storage.Item{{Enqueued: now.Add(time.Second)}}, now); got != 0 {
		t.Errorf("OldestAge(enqueued after now) = %v, want 0", got)
	}
}

// TestWatchReadiness: voicegw_ready follows the readiness checks.
func TestWatchReadiness(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	r := srs.NewReadiness(srs.ReadinessConfig{CacheFor: -1, Checks: []srs.ReadyCheck{{Name: "db", Check: func(context.Context) error {
		if down.Load() {
			return errors.New("down")
		}
		return nil
	}}}})
	if err := m.WatchReadiness(r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []float64{1, 0} {
		down.Store(want == 0)
		const exp = "# HELP voicegw_ready 1 when the recording server is ready to take calls (what its readiness probe answers), else 0.\n# TYPE voicegw_ready gauge\nvoicegw_ready %v\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(exp, want)), "voicegw_ready"); err != nil {
			t.Fatal(err)
		}
	}
}
