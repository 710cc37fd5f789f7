package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/storage"
)

// metrics are the gateway's Prometheus metrics, in a registry of its own
// (never the global default one), served at /metrics. It is the recording
// server's srs.Observer: every count comes from what the server reports.
type metrics struct {
	srs.NopObserver
	reg      *prometheus.Registry
	active   sync.Map // session ID → account SID of the sessions in progress
	ended    sync.Map // session ID → when it ended, until its recording is finalized
	accounts *accountLabels

	sessionsActive     prometheus.Gauge
	calls              *prometheus.CounterVec // result, reason
	sessionsEnded      *prometheus.CounterVec // reason
	recordingsWritten  *prometheus.CounterVec // format
	recordingsUploaded prometheus.Counter
	recordingErrors    *prometheus.CounterVec // stage
	uploadErrors       prometheus.Counter
	lateSamples        prometheus.Counter
	webhooks           *prometheus.CounterVec // result
	tlsHandshakeFails  prometheus.Counter

	accountCalls     *prometheus.CounterVec // account, result
	admission        prometheus.Histogram
	sessionDuration  prometheus.Histogram
	finalizeDuration prometheus.Histogram
	uploadDuration   prometheus.Histogram
	uploadSize       prometheus.Histogram
}

// MetricsConfig configures /metrics.
type MetricsConfig struct {
	// MaxAccounts is how many accounts get their own account label in
	// voicegw_account_calls_total: the first ones to call after a start;
	// the others are counted under account="other". Default 100.
	MaxAccounts int `yaml:"max_accounts"`
}

// newMetrics returns the gateway's metrics; maxAccounts bounds the account
// label (MetricsConfig.MaxAccounts).
func newMetrics(maxAccounts int) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), accounts: newAccountLabels(maxAccounts)}
	m.sessionsActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "voicegw_sessions_active", Help: "SIPREC recording sessions in progress.",
	})
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicegw_calls_total",
		Help: "Initial SIPREC INVITEs by outcome: accepted, refused (with the reason), or challenged for digest credentials.",
	}, []string{"result", "reason"})
	m.sessionsEnded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicegw_sessions_ended_total", Help: "Recording sessions ended, by why they ended (bye, cancel, shutdown, media-timeout...).",
	}, []string{"reason"})
	m.recordingsWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicegw_recordings_written_total", Help: "Recordings finalized on disk (WAV or MP3).",
	}, []string{"format"})
	m.recordingsUploaded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "voicegw_recordings_uploaded_total", Help: "Recordings the bucket confirmed (uploaded from the spool).",
	})
	m.recordingErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicegw_recording_errors_total", Help: "Recording failures by stage (create, finish, spool, recover).",
	}, []string{"stage"})
	m.uploadErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "voicegw_upload_errors_total", Help: "Failed upload attempts of spooled recordings (each is retried until the bucket has it).",
	})
	m.lateSamples = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "voicegw_recording_late_samples_total",
		Help: "Samples the recorders dropped because they came after their place in the file was written (a stream more than the recorder's window behind).",
	})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicegw_webhooks_total", Help: "Session webhooks sent, by result (ok, failed).",
	}, []string{"result"})
	m.tlsHandshakeFails = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "voicegw_sip_tls_handshake_failures_total",
		Help: "SIP over TLS connections closed because their handshake failed or timed out (not TLS, no or an untrusted client certificate under mutual TLS).",
	})
	m.accountCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicegw_account_calls_total",
		Help: "Initial SIPREC INVITEs per account (its SID) by result (accepted, refused, challenged). Accounts past metrics.max_accounts are counted as \"other\"; calls refused before their account was known as \"unknown\".",
	}, []string{"account", "result"})
	m.admission = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "voicegw_admission_duration_seconds",
		Help:    "Time from an initial SIPREC INVITE's arrival to its 200 OK being sent (authentication, admission, recording and journal set up).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	m.sessionDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "voicegw_session_duration_seconds",
		Help:    "Length of recording sessions, from the INVITE to the end of the last stream.",
		Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
	})
	m.finalizeDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "voicegw_recording_finalize_duration_seconds",
		Help:    "Time from a session's end to its recording finalized (WAV header or MP3 flushed) and handed to the spool.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	m.uploadDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "voicegw_upload_duration_seconds",
		Help:    "Time from a recording entering the spool to the bucket confirming it, retries (and restarts) included.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
	})
	m.uploadSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "voicegw_upload_size_bytes",
		Help:    "Size of the recordings the bucket confirmed.",
		Buckets: prometheus.ExponentialBuckets(16<<10, 4, 9), // 16 KiB … 1 GiB
	})
	m.reg.MustRegister(m.sessionsActive, m.calls, m.sessionsEnded, m.recordingsWritten, m.recordingsUploaded,
		m.recordingErrors, m.uploadErrors, m.lateSamples, m.webhooks, m.tlsHandshakeFails,
		m.accountCalls, m.admission, m.sessionDuration, m.finalizeDuration, m.uploadDuration, m.uploadSize,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// series that alerts read exist at 0 from the start: rate() and
	// increase() need a first sample before the first failure
	for _, stage := range []string{"create", "finish", "spool", "recover"} {
		m.recordingErrors.WithLabelValues(stage)
	}
	for _, result := range []string{"ok", "failed"} {
		m.webhooks.WithLabelValues(result)
	}
	return m
}

// watch exports what the recording server counts itself: the recordings in
// its spool and the RTP packets of every stream it received.
func (m *metrics) watch(s *srs.Server) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "voicegw_recordings_spooled", Help: "Recordings waiting in the spool for their bucket.",
	}, func() float64 { return float64(s.Spool().Len()) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "voicegw_spool_oldest_age_seconds",
		Help: "Age of the oldest recording waiting in the spool for its bucket (0 when the spool is empty): grows while a bucket refuses uploads.",
	}, func() float64 { return oldestAge(s.Spool().List(), time.Now()) }))
	for _, c := range []struct {
		name, help string
		v          func(srs.RTPStats) uint64
	}{
		{"voicegw_rtp_packets_received_total", "RTP packets received from recording clients (RFC 3550 received).", func(r srs.RTPStats) uint64 { return r.Received }},
		{"voicegw_rtp_packets_lost_total", "RTP packets lost: sequence numbers that never arrived (RFC 3550).", func(r srs.RTPStats) uint64 { return r.Lost }},
		{"voicegw_rtp_packets_late_total", "RTP packets that arrived too late for the reorder buffer and were dropped.", func(r srs.RTPStats) uint64 { return r.Late }},
		{"voicegw_srtp_auth_failures_total", "SRTP packets dropped because their authentication tag did not verify (forged or corrupted): never recorded.", func(r srs.RTPStats) uint64 { return r.AuthFailures }},
		{"voicegw_srtp_replayed_total", "SRTP packets dropped as replays (seen already, or older than the replay window): never recorded.", func(r srs.RTPStats) uint64 { return r.Replayed }},
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(c.v(s.Stats().RTP)) }))
	}
}

// transportEvent counts what the SIP listeners report (sip.ListenerConfig.OnEvent).
func (m *metrics) transportEvent(ev sip.TransportEvent) {
	if ev.Kind == sip.EventHandshakeFailed {
		m.tlsHandshakeFails.Inc()
	}
}

// CallRefused counts a call refused or challenged, with its reason.
func (m *metrics) CallRefused(_ context.Context, r srs.Refusal) {
	m.calls.WithLabelValues(string(r.Result), string(r.Reason)).Inc()
	m.accountCalls.WithLabelValues(m.accounts.label(string(r.Account)), string(r.Result)).Inc()
	if r.Reason == srs.ReasonRecordingFailed {
		m.recordingErrors.WithLabelValues("create").Inc()
	}
}

// SessionStarted counts an accepted call.
func (m *metrics) SessionStarted(s *srs.Session) {
	m.calls.WithLabelValues("accepted", "").Inc()
	m.accountCalls.WithLabelValues(m.accounts.label(string(s.AccountSID())), "accepted").Inc()
	m.admission.Observe(time.Since(s.Start()).Seconds())
	m.sessionsActive.Inc()
	m.active.Store(s.ID(), string(s.AccountSID()))
}

// sessionsOf returns the IDs of the account's sessions in progress.
func (m *metrics) sessionsOf(account string) []string {
	var ids []string
	m.active.Range(func(id, acct any) bool {
		if acct == account {
			ids = append(ids, id.(string))
		}
		return true
	})
	return ids
}

// SessionEnded counts an ended session by why it ended.
func (m *metrics) SessionEnded(s *srs.Session, reason siprec.EndReason) {
	m.active.Delete(s.ID())
	m.sessionsActive.Dec()
	m.sessionsEnded.WithLabelValues(reason.String()).Inc()
	m.sessionDuration.Observe(time.Since(s.Start()).Seconds())
	m.ended.Store(s.ID(), time.Now())
}

// RecordingFinished counts a finalized recording, or its failure by stage.
func (m *metrics) RecordingFinished(s *srs.Session, r srs.RecordingReport) {
	if end, ok := m.ended.LoadAndDelete(s.ID()); ok {
		m.finalizeDuration.Observe(time.Since(end.(time.Time)).Seconds())
	}
	m.lateSamples.Add(float64(r.Late))
	switch {
	case r.Err == nil:
		m.recordingsWritten.WithLabelValues(r.Result.Format.String()).Inc()
	case errors.Is(r.Err, recording.ErrUpload):
		m.recordingsWritten.WithLabelValues(r.Result.Format.String()).Inc()
		m.recordingErrors.WithLabelValues("spool").Inc()
	default:
		m.recordingErrors.WithLabelValues("finish").Inc()
	}
}

// RecordingRecovered counts a recording repaired at start, or its failure.
func (m *metrics) RecordingRecovered(r recording.Recovered) {
	switch {
	case r.Err != nil:
		m.recordingErrors.WithLabelValues("recover").Inc()
	case r.Repair != nil:
		m.recordingsWritten.WithLabelValues(r.Info.Format.String()).Inc()
	}
}

// RecordingUploaded counts a recording the bucket confirmed.
func (m *metrics) RecordingUploaded(it storage.Item) {
	m.recordingsUploaded.Inc()
	m.uploadSize.Observe(float64(it.Size))
	if !it.Enqueued.IsZero() {
		m.uploadDuration.Observe(time.Since(it.Enqueued).Seconds())
	}
}

// UploadFailed counts a failed upload attempt.
func (m *metrics) UploadFailed(storage.Item) { m.uploadErrors.Inc() }

// WebhookSent counts a session webhook by result.
func (m *metrics) WebhookSent(_ *srs.Session, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.webhooks.WithLabelValues(result).Inc()
}

// oldestAge returns how long the oldest item has waited, in seconds; 0
// without items.
func oldestAge(items []storage.Item, now time.Time) float64 {
	var oldest time.Time
	for _, it := range items {
		if !it.Enqueued.IsZero() && (oldest.IsZero() || it.Enqueued.Before(oldest)) {
			oldest = it.Enqueued
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return max(now.Sub(oldest).Seconds(), 0)
}

// accountLabels bounds the account label: the first max accounts seen keep
// their SID, the others are "other", an empty one is "unknown".
type accountLabels struct {
	max  int
	mu   sync.Mutex
	seen map[string]struct{}
}

func newAccountLabels(max int) *accountLabels {
	return &accountLabels{max: max, seen: make(map[string]struct{})}
}

// label returns the label value for the account SID.
func (a *accountLabels) label(sid string) string {
	if sid == "" {
		return "unknown"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.seen[sid]; ok {
		return sid
	}
	if len(a.seen) >= a.max {
		return "other"
	}
	a.seen[sid] = struct{}{}
	return sid
}
