package main

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/sip"
)

// httpAPI is what the gateway serves over HTTP.
type httpAPI struct {
	insights insights.HandlerConfig // the Insights API (console.go)
	admin    http.Handler           // the admin API; nil: not served
	console  http.Handler           // the console (console.go); nil: not served
	metrics  *metrics
	health   http.Handler // /healthz (srs.Server.HealthHandler)
	ready    http.Handler // /readyz (ops.go)
	pprof    bool
	log      *slog.Logger
}

// handler returns the gateway's HTTP API:
//
//	/admin/v1/…                   the admin API (tenancy/admin; Authorization: Bearer or X-Vgai-Key)
//	/console/…                    the console (tenancy/admin/console; members sign in)
//	GET /insights/sessions…       the Insights API of seed 004 (X-Vgai-Key)
//	GET /healthz                  200 {"status":"ok",…}; 503 while shutting down (liveness)
//	GET /readyz                   200 {"status":"ready",…}; 503 and the failing checks (readiness, ops.go)
//	GET /metrics                  Prometheus metrics
//	/debug/pprof/…                Go's profiler, with http.pprof only
//
// Both APIs check the key on every request (rbac's KeyStore caches
// nothing: a revoked key fails on its next request) and count failed
// checks per source address in one rbac.FailureLimiter (429 past it), in
// which the console's failed sign-ins count too.
func (a httpAPI) handler() http.Handler {
	mux := http.NewServeMux()
	if a.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	}
	if a.admin != nil {
		mux.Handle("/admin/", a.admin)
	}
	if a.console != nil {
		mux.Handle("/console/", a.console)
	}
	mux.Handle("/insights/", insights.NewHandler(a.insights))
	mux.Handle("GET /healthz", a.health)
	if a.ready != nil {
		mux.Handle("GET /readyz", a.ready)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{Registry: a.metrics.reg, ErrorLog: slogPrinter{a.log}}))
	return mux
}

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics", "error", v) }

// requestLog is the logger of an HTTP handler that logs a line per failed
// request (admin.Config.Logger, insights.HandlerConfig.Logger): through
// sip.NewLogFilter, each kind of line at most sip.DefaultLogBurst times a
// minute, the rest counted in the next one's "suppressed". Clients decide
// how many requests fail: 2,000 wrong keys (401, then 429) wrote 330 KB of
// log to the admin API and 420 KB to the Insights API, in half a second.
func requestLog(log *slog.Logger, component string) *slog.Logger {
	return sip.FilterLogger(log.With("component", component), sip.LogFilterConfig{})
}

// newHTTPServer returns the server of the HTTP API, with timeouts.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
