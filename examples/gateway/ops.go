package main

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/voicegw/voicegw/internal/buildinfo"
	"github.com/voicegw/voicegw/siprec/srs"
)

// What an operator needs besides the recording server: the build (-version,
// voicegw_build_info), readiness (/readyz) and the log level changed
// without a restart (SIGHUP).

// version and commit describe the build, set by the linker:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)" ./examples/gateway
//
// Without them: "devel", and the commit the go command stamped, if any.
var version, commit string

// registerBuildInfo adds voicegw_build_info: 1, labelled with the build.
func (m *metrics) registerBuildInfo(in buildinfo.Info) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "voicegw_build_info",
		Help: "Always 1; its labels say which build is running (version, VCS commit, Go toolchain).",
		ConstLabels: prometheus.Labels{
			"version": in.Version, "commit": in.Commit, "goversion": in.GoVersion,
		},
	})
	g.Set(1)
	m.reg.MustRegister(g)
}

// registerReady adds voicegw_ready: 1 while /readyz would answer ready.
func (m *metrics) registerReady(r *readiness) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "voicegw_ready",
		Help: "1 when the gateway is ready to take calls (what /readyz answers: SIP served, state database, session index, spool and recording directory usable), else 0.",
	}, func() float64 {
		if r.report(context.Background()).Status == "ready" {
			return 1
		}
		return 0
	}))
}

// readyCheck is one thing the gateway needs to take calls: check returns
// nil when it is usable, else an error that says what is wrong.
type readyCheck struct {
	name  string
	check func(ctx context.Context) error
}

// readiness answers /readyz: ready when every check passes. Results are
// kept for readyCacheFor, so that probes (or anyone who reaches the HTTP
// listener) cannot make it query the databases at will.
type readiness struct {
	checks []readyCheck

	mu   sync.Mutex
	at   time.Time
	last readyReport
}

// readyCacheFor is how long a /readyz answer is reused.
const readyCacheFor = time.Second

// readyCheckTimeout bounds each check.
const readyCheckTimeout = 2 * time.Second

// readyReport is what GET /readyz answers: status "ready" (200) or
// "not_ready" (503), and each check's "ok" or what is wrong.
type readyReport struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// report runs the checks (at once, each bounded by readyCheckTimeout), or
// returns the last report when it is recent.
func (r *readiness) report(ctx context.Context) readyReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < readyCacheFor {
		return r.last
	}
	rep := readyReport{Status: "ready", Checks: make(map[string]string, len(r.checks))}
	errs := make([]error, len(r.checks))
	var wg sync.WaitGroup
	for i, c := range r.checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, readyCheckTimeout)
			defer cancel()
			errs[i] = c.check(cctx)
		})
	}
	wg.Wait()
	for i, c := range r.checks {
		rep.Checks[c.name] = "ok"
		if errs[i] != nil {
			rep.Status, rep.Checks[c.name] = "not_ready", errs[i].Error()
		}
	}
	r.at, r.last = time.Now(), rep
	return rep
}

// ServeHTTP answers GET /readyz.
func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rep := r.report(req.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if rep.Status != "ready" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(rep)
}

// readyChecks are what /readyz checks: the recording server takes calls on
// its SIP listeners, the state database and the session index answer a
// query and are still the files opened at start (on PostgreSQL: state.db,
// which holds the journal, and the database answering a ping), and the
// spool and the recording directory can be written.
func (g *Gateway) readyChecks() []readyCheck {
	checks := []readyCheck{{"sip", func(context.Context) error {
		select {
		case <-g.srs.Ready():
		default:
			return errors.New("not serving yet (repairing and uploading what the last run left)")
		}
		if g.srs.ShuttingDown() {
			return errors.New("shutting down")
		}
		return nil
	}}}
	if g.st.db != nil {
		checks = append(checks, readyCheck{"state_db", sqliteCheck(g.st.db, g.cfg.path(stateDBName))})
	}
	if g.st.idxDB != nil {
		checks = append(checks, readyCheck{"session_index", sqliteCheck(g.st.idxDB, g.cfg.path(insightsDBName))})
	}
	if g.st.pg != nil { // the stores and the session index on PostgreSQL (postgres.go)
		checks = append(checks, readyCheck{"database", func(ctx context.Context) error {
			if err := g.st.pg.pool.Ping(ctx); err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
			return nil
		}})
	}
	return append(checks,
		readyCheck{"spool", dirWritable(g.cfg.path(spoolDir))},
		readyCheck{"recordings", dirWritable(g.cfg.path(recordingsDir))})
}

// sqliteCheck checks that the SQLite database at path answers a query and
// is still the file opened at start: a file moved, deleted or replaced
// under a running gateway would be created anew, empty, by the next
// connection of the pool.
func sqliteCheck(db *sql.DB, path string) func(context.Context) error {
	opened, openErr := os.Stat(path)
	return func(ctx context.Context) error {
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			return fmt.Errorf("%s: %w", path, err)
		case openErr == nil && !os.SameFile(opened, fi):
			return fmt.Errorf("%s: replaced since the start (restart the gateway)", path)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
}

// dirWritable checks that a file can be made in dir.
func dirWritable(dir string) func(context.Context) error {
	return func(context.Context) error {
		f, err := os.CreateTemp(dir, ".readyz-*")
		if err != nil {
			return err
		}
		name := f.Name()
		err = f.Close()
		if rerr := os.Remove(name); err == nil {
			err = rerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(dir), err)
		}
		return nil
	}
}

// parseLevel returns the slog level of log.level (validated: debug, info,
// warn, error).
func parseLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(s)))
	return l
}

// newLeveledLogger returns the gateway's logger, whose level is lv's.
func newLeveledLogger(c LogConfig, w io.Writer, lv slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// reloadLogLevel sets lv to the log.level of the configuration file each
// time the process gets SIGHUP, until ctx ends. Nothing else of the file is
// applied; a file that does not load leaves the level as it was.
func reloadLogLevel(ctx context.Context, path string, lv *slog.LevelVar, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := LoadConfig(path)
		if err != nil {
			log.Warn("SIGHUP: the configuration does not load: log level unchanged", "config", path, "error", err)
			continue
		}
		from, to := lv.Level(), parseLevel(cfg.Log.Level)
		lv.Set(min(from, to)) // the change shows at either level
		log.Info("SIGHUP: log level set", "from", from.String(), "to", to.String(), "config", path)
		lv.Set(to)
	}
}

// TracingConfig configures tracing (OpenTelemetry). Off by default.
type TracingConfig struct {
	// OTLPEndpoint is the OTLP/HTTP URL spans are exported to, for example
	// http://127.0.0.1:4318/v1/traces; empty: no spans are made.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// ServiceName is the service.name of the spans. Default voicegw-gateway.
	ServiceName string `yaml:"service_name"`
}

// problems checks the configuration.
func (c TracingConfig) problems() []Problem {
	if c.OTLPEndpoint == "" {
		return nil
	}
	u, err := url.Parse(c.OTLPEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return []Problem{{Key: "tracing.otlp_endpoint", Message: fmt.Sprintf("%q: want an http:// or https:// URL (http://collector:4318/v1/traces)", c.OTLPEndpoint)}}
	}
	return nil
}

// startTracing makes the recording server trace each session (srs'
// spans), exported over OTLP/HTTP, and its webhooks carry traceparent.
// Nothing when tracing.otlp_endpoint is empty.
func (g *Gateway) startTracing(ctx context.Context, sc *srs.Config) error {
	c := g.cfg.Tracing
	if c.OTLPEndpoint == "" {
		return nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.OTLPEndpoint))
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(cmp.Or(c.ServiceName, "voicegw-gateway")),
		semconv.ServiceVersion(buildinfo.Read(version, commit).Version))
	g.tracer = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	sc.TracerProvider = g.tracer // srs' webhook client then carries traceparent (through sc.Egress)
	g.log.Info("tracing: spans exported over OTLP/HTTP", "endpoint", c.OTLPEndpoint)
	return nil
}

// stopTracing exports the spans still buffered (at most 5 s).
func (g *Gateway) stopTracing() {
	if g.tracer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.tracer.Shutdown(ctx); err != nil {
		g.log.Warn("tracing: exporting the last spans failed", "error", err)
	}
}

// sipgoNoise is the level of sipgo's package-level lines: "TCP ref went
// negative" (and its UDP and WS forms), which sipgo writes at every
// shutdown, is debug; its errors are a peer's routine failures, warnings.
func sipgoNoise(level slog.Level, msg string) slog.Level {
	if strings.Contains(msg, "ref went negative") {
		return slog.LevelDebug
	}
	return min(level, slog.LevelWarn)
}
