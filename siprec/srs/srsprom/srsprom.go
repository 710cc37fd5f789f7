// Package srsprom exports what a recording server ([srs.Server]) reports
// as Prometheus metrics: an [Observer] that is the server's [srs.Observer]
// and its SIP listeners' transport-event hook, and gauges read from the
// server itself ([Observer.Watch]: the spool, the RTP counters).
//
// The metric names are voicegw_* and fixed (dashboards and alerts read
// them; examples/gateway's alerts.yaml and its promtool tests check them):
//
//	voicegw_calls_total{result,reason}          initial INVITEs: accepted, refused (why), challenged
//	voicegw_account_calls_total{account,result} the same per account, the label bounded (Options.MaxAccounts)
//	voicegw_sessions_active                     sessions in progress
//	voicegw_sessions_ended_total{reason}        why sessions ended (bye, cancel, shutdown, media-timeout…)
//	voicegw_recordings_written_total{format}    recordings finalized (wav, mp3)
//	voicegw_recordings_uploaded_total           recordings the bucket confirmed
//	voicegw_recording_errors_total{stage}       create, finish, spool, recover
//	voicegw_upload_errors_total                 failed upload attempts (each retried)
//	voicegw_recording_late_samples_total        samples the recorders dropped as late
//	voicegw_webhooks_total{result}              session webhooks: ok, failed
//	voicegw_sip_tls_handshake_failures_total    SIP over TLS handshakes that failed
//	voicegw_sip_connections_refused_total{reason} SIP TCP/TLS connections closed at accept: refused (allowlist),
//	                                            over_limit, over_source_limit, over_rate
//	voicegw_admission_duration_seconds          INVITE to 200 OK (histogram)
//	voicegw_session_duration_seconds            INVITE to the end of the last stream (histogram)
//	voicegw_recording_finalize_duration_seconds session end to recording in the spool (histogram)
//	voicegw_upload_duration_seconds             spool to bucket, retries included (histogram)
//	voicegw_upload_size_bytes                   size of the recordings uploaded (histogram)
//	voicegw_recordings_spooled                  Watch: recordings waiting for their bucket
//	voicegw_spool_oldest_age_seconds            Watch: age of the oldest of them
//	voicegw_rtp_packets_{received,lost,late}_total, voicegw_srtp_{auth_failures,replayed}_total
//	                                            Watch: RTP counters of every stream received
//	voicegw_ready                               WatchReadiness: 1 when ready to take calls
//
// The account label is bounded: the first Options.MaxAccounts accounts to
// call keep their SID, later ones count as "other" (a label per account
// of a large deployment would be a time series each), and calls refused
// before their account was known as "unknown". The series alerts read
// (recording errors by stage, webhooks by result) exist at 0 from the
// start, so rate() has a first sample before the first failure.
//
// The package sits above siprec/srs (internal/layering): it is what a
// program adds to a recording server, and srs itself depends on no metrics
// library.
package srsprom

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/storage"
)

// DefaultMaxAccounts is the default of Options.MaxAccounts.
const DefaultMaxAccounts = 100

// Options configures an Observer. The zero value works.
type Options struct {
	// MaxAccounts is how many accounts get their own account label in
	// voicegw_account_calls_total: the first ones to call; the others are
	// counted under account="other". Default DefaultMaxAccounts (100);
	// negative: every account is "other".
	MaxAccounts int
}

// Observer counts what a recording server reports, in the metrics of the
// package doc. Give it as srs.Config.Observer, and its TransportEvent as
// the SIP listeners' sip.ListenerConfig.OnEvent. It is safe for concurrent
// use.
type Observer struct {
	srs.NopObserver
	reg      prometheus.Registerer
	ended    sync.Map // session ID → when it ended, until its recording is finalized
	accounts accountLabels

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
	connsRefused       *prometheus.CounterVec // reason: a sip.TransportEventKind

	accountCalls     *prometheus.CounterVec // account, result
	admission        prometheus.Histogram
	sessionDuration  prometheus.Histogram
	finalizeDuration prometheus.Histogram
	uploadDuration   prometheus.Histogram
	uploadSize       prometheus.Histogram
}

// New returns an Observer whose metrics are registered with reg. It fails
// when reg already holds one of them (a second Observer on one registry).
func New(reg prometheus.Registerer, opts Options) (*Observer, error) {
	switch {
	case opts.MaxAccounts == 0:
		opts.MaxAccounts = DefaultMaxAccounts
	case opts.MaxAccounts < 0:
		opts.MaxAccounts = 0
	}
	m := &Observer{reg: reg, accounts: accountLabels{max: opts.MaxAccounts, seen: make(map[string]struct{})}}
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
	m.connsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicegw_sip_connections_refused_total",
		Help: "SIP over TCP and TLS connections closed at accept, before any handshake or read, by reason: refused (outside the transport " +
			"allowlist), over_limit (max_conns open), over_source_limit (the source's max_conns_per_source open), over_rate (the source " +
			"connects faster than new_conn_rate).",
	}, []string{"reason"})
	m.accountCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicegw_account_calls_total",
		Help: "Initial SIPREC INVITEs per account (its SID) by result (accepted, refused, challenged). Accounts past the first " +
			"max_accounts are counted as \"other\"; calls refused before their account was known as \"unknown\".",
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
	if err := register(reg, m.sessionsActive, m.calls, m.sessionsEnded, m.recordingsWritten, m.recordingsUploaded,
		m.recordingErrors, m.uploadErrors, m.lateSamples, m.webhooks, m.tlsHandshakeFails, m.connsRefused,
		m.accountCalls, m.admission, m.sessionDuration, m.finalizeDuration, m.uploadDuration, m.uploadSize); err != nil {
		return nil, err
	}
	for _, k := range []sip.TransportEventKind{sip.EventRefused, sip.EventOverLimit, sip.EventOverSourceLimit, sip.EventOverRate} {
		m.connsRefused.WithLabelValues(k.String())
	}
	for _, stage := range []string{"create", "finish", "spool", "recover"} {
		m.recordingErrors.WithLabelValues(stage)
	}
	for _, result := range []string{"ok", "failed"} {
		m.webhooks.WithLabelValues(result)
	}
	return m, nil
}

// register registers every collector, or none: a failure unregisters those
// registered before it.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}

// Watch registers the gauges and counters read from s itself: the
// recordings in its spool and the age of the oldest, the RTP packet
// counters of every stream it received, and the tenant lookups its
// TenantCache declined (srs.TenantCacheOptions.LookupRate). Call it once,
// after srs.New.
func (m *Observer) Watch(s *srs.Server) error {
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "voicegw_recordings_spooled", Help: "Recordings waiting in the spool for their bucket.",
		}, func() float64 { return float64(s.Spool().Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "voicegw_spool_oldest_age_seconds",
			Help: "Age of the oldest recording waiting in the spool for its bucket (0 when the spool is empty): grows while a bucket refuses uploads.",
		}, func() float64 { return OldestAge(s.Spool().List(), time.Now()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "voicegw_tenant_lookups_declined_total",
			Help: "SIP requests for realms the tenant cache did not hold that were answered 503 without reading the store: its budget of store reads (srs.TenantCacheOptions.LookupRate, default 100 per second) was spent, by a peer naming random realms.",
		}, func() float64 { return float64(s.TenantCache().LookupsDeclined()) }),
	}
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
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(c.v(s.Stats().RTP)) }))
	}
	return register(m.reg, cs...)
}

// WatchReadiness registers voicegw_ready: 1 while r reports ready (every
// check passes; read at each scrape, within r's cache), else 0.
func (m *Observer) WatchReadiness(r *srs.Readiness) error {
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "voicegw_ready",
		Help: "1 when the recording server is ready to take calls (what its readiness probe answers), else 0.",
	}, func() float64 {
		if r.Ready(context.Background()) {
			return 1
		}
		return 0
	}))
}

// TransportEvent counts what the SIP listeners report; give it as
// sip.ListenerConfig.OnEvent.
func (m *Observer) TransportEvent(ev sip.TransportEvent) {
	switch ev.Kind {
	case sip.EventHandshakeFailed:
		m.tlsHandshakeFails.Inc()
	case sip.EventRefused, sip.EventOverLimit, sip.EventOverSourceLimit, sip.EventOverRate:
		m.connsRefused.WithLabelValues(ev.Kind.String()).Inc()
	}
}

// CallRefused counts a call refused or challenged, with its reason.
func (m *Observer) CallRefused(_ context.Context, r srs.Refusal) {
	m.calls.WithLabelValues(string(r.Result), string(r.Reason)).Inc()
	m.accountCalls.WithLabelValues(m.accounts.label(string(r.Account)), string(r.Result)).Inc()
	if r.Reason == srs.ReasonRecordingFailed {
		m.recordingErrors.WithLabelValues("create").Inc()
	}
}

// SessionStarted counts an accepted call and the time it took to admit.
func (m *Observer) SessionStarted(s *srs.Session) {
	m.calls.WithLabelValues("accepted", "").Inc()
	m.accountCalls.WithLabelValues(m.accounts.label(string(s.AccountSID())), "accepted").Inc()
	m.admission.Observe(time.Since(s.Start()).Seconds())
	m.sessionsActive.Inc()
}

// SessionEnded counts an ended session by why it ended.
func (m *Observer) SessionEnded(s *srs.Session, reason siprec.EndReason) {
	m.sessionsActive.Dec()
	m.sessionsEnded.WithLabelValues(reason.String()).Inc()
	m.sessionDuration.Observe(time.Since(s.Start()).Seconds())
	m.ended.Store(s.ID(), time.Now())
}

// RecordingFinished counts a finalized recording, or its failure by stage.
func (m *Observer) RecordingFinished(s *srs.Session, r srs.RecordingReport) {
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
func (m *Observer) RecordingRecovered(r recording.Recovered) {
	switch {
	case r.Err != nil:
		m.recordingErrors.WithLabelValues("recover").Inc()
	case r.Repair != nil:
		m.recordingsWritten.WithLabelValues(r.Info.Format.String()).Inc()
	}
}

// RecordingUploaded counts a recording the bucket confirmed.
func (m *Observer) RecordingUploaded(it storage.Item) {
	m.recordingsUploaded.Inc()
	m.uploadSize.Observe(float64(it.Size))
	if !it.Enqueued.IsZero() {
		m.uploadDuration.Observe(time.Since(it.Enqueued).Seconds())
	}
}

// UploadFailed counts a failed upload attempt.
func (m *Observer) UploadFailed(storage.Item) { m.uploadErrors.Inc() }

// WebhookSent counts a session webhook by result.
func (m *Observer) WebhookSent(_ *srs.Session, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.webhooks.WithLabelValues(result).Inc()
}

// OldestAge returns how long the oldest of items has waited at now, in
// seconds (voicegw_spool_oldest_age_seconds); 0 without items.
func OldestAge(items []storage.Item, now time.Time) float64 {
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
