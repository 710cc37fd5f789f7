package main

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/voicegw/voicegw/storage"
)

// metrics are the gateway's Prometheus metrics, in a registry of its own
// (never the global default one), served at /metrics.
type metrics struct {
	reg *prometheus.Registry

	sessionsActive     prometheus.Gauge
	calls              *prometheus.CounterVec // result, reason
	sessionsEnded      *prometheus.CounterVec // reason
	recordingsWritten  *prometheus.CounterVec // format
	recordingsUploaded prometheus.Counter
	recordingErrors    *prometheus.CounterVec // stage
	uploadErrors       prometheus.Counter
	lateSamples        prometheus.Counter
	webhooks           *prometheus.CounterVec // result
	rtp                *rtpCollector
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), rtp: newRTPCollector()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
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
		Name: "voicegw_recording_errors_total", Help: "Recording failures by stage (create, finish, spool).",
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
	for _, c := range []prometheus.Collector{m.sessionsActive, m.calls, m.sessionsEnded, m.recordingsWritten,
		m.recordingsUploaded, m.recordingErrors, m.uploadErrors, m.lateSamples, m.webhooks, m.rtp,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// watchSpool exports the spool's length and counts failed upload attempts
// until ctx ends. The spool reports failures only in its items (Attempts,
// LastError), so they are counted by looking at it every interval.
func (m *metrics) watchSpool(ctx context.Context, sp *storage.Spool, every time.Duration) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "voicegw_recordings_spooled", Help: "Recordings waiting in the spool for their bucket.",
	}, func() float64 { return float64(sp.Len()) }))
	counted := map[string]int{} // item ID → failed attempts counted
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		seen := map[string]bool{}
		for _, it := range sp.List() {
			seen[it.ID] = true
			failed := 0
			if it.LastError != "" {
				failed = it.Attempts
				if it.Uploading {
					failed-- // the attempt running now has not failed (yet)
				}
			}
			if d := failed - counted[it.ID]; d > 0 {
				m.uploadErrors.Add(float64(d))
				counted[it.ID] = failed
			}
		}
		for id := range counted {
			if !seen[id] {
				delete(counted, id)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// rtpCollector exports RTP packet counters summed over every stream the
// gateway received: the live statistics of streams in progress plus the
// final ones of streams that ended, so the counters only grow.
type rtpCollector struct {
	received, lost, late *prometheus.Desc

	mu                         sync.Mutex
	live                       map[any]func() rtpCounts
	doneRx, doneLost, doneLate uint64
}

// rtpCounts are one stream's counters.
type rtpCounts struct{ Received, Lost, Late uint64 }

func newRTPCollector() *rtpCollector {
	return &rtpCollector{
		received: prometheus.NewDesc("voicegw_rtp_packets_received_total", "RTP packets received from recording clients (RFC 3550 received).", nil, nil),
		lost:     prometheus.NewDesc("voicegw_rtp_packets_lost_total", "RTP packets lost: sequence numbers that never arrived (RFC 3550).", nil, nil),
		late:     prometheus.NewDesc("voicegw_rtp_packets_late_total", "RTP packets that arrived too late for the reorder buffer and were dropped.", nil, nil),
		live:     map[any]func() rtpCounts{},
	}
}

// add starts exporting a stream's live counters under key.
func (c *rtpCollector) add(key any, f func() rtpCounts) {
	c.mu.Lock()
	c.live[key] = f
	c.mu.Unlock()
}

// done moves a stream's final counters into the totals.
func (c *rtpCollector) done(key any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.live[key]
	if !ok {
		return
	}
	delete(c.live, key)
	n := f()
	c.doneRx += n.Received
	c.doneLost += n.Lost
	c.doneLate += n.Late
}

// Describe implements prometheus.Collector.
func (c *rtpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.received
	ch <- c.lost
	ch <- c.late
}

// Collect implements prometheus.Collector.
func (c *rtpCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	rx, lost, late := c.doneRx, c.doneLost, c.doneLate
	for _, f := range c.live {
		n := f()
		rx += n.Received
		lost += n.Lost
		late += n.Late
	}
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(rx))
	ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(lost))
	ch <- prometheus.MustNewConstMetric(c.late, prometheus.CounterValue, float64(late))
}
