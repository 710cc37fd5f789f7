package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/voicegw/voicegw/internal/buildinfo"
	"github.com/voicegw/voicegw/siprec/srs"
)

// What an operator needs besides the recording server: the build (-version,
// voicegw_build_info), readiness (/readyz: gateway.go) and the log level changed
// without a restart (SIGHUP).

// version and commit describe the build, set by the linker:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)" ./examples/gateway
//
// Without them: "devel", and the commit the go command stamped, if any.
var version, commit string

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

// onHangup calls each of reload at every SIGHUP that hup delivers, until
// ctx ends: one loop for everything SIGHUP reloads (the log level, the TLS
// certificate files).
func onHangup(ctx context.Context, hup <-chan os.Signal, reload ...func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		for _, f := range reload {
			f()
		}
	}
}

// reloadLogLevel sets lv to the log.level of the configuration file at
// path. Nothing else of the file is applied; a file that does not load
// leaves the level as it was.
func reloadLogLevel(path string, lv *slog.LevelVar, log *slog.Logger) {
	cfg, err := LoadConfig(path)
	if err != nil {
		log.Warn("SIGHUP: the configuration does not load: log level unchanged", "config", path, "error", err)
		return
	}
	from, to := lv.Level(), parseLevel(cfg.Log.Level)
	lv.Set(min(from, to)) // the change shows at either level
	log.Info("SIGHUP: log level set", "from", from.String(), "to", to.String(), "config", path)
	lv.Set(to)
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
	var oe *srs.OTLPEndpointError
	if c.OTLPEndpoint != "" && errors.As((srs.OTLPConfig{Endpoint: c.OTLPEndpoint}).Validate(), &oe) {
		return []Problem{{Key: "tracing.otlp_endpoint", Message: fmt.Sprintf("%q: %s", oe.Endpoint, oe.Reason)}}
	}
	return nil
}

// startTracing makes the recording server trace each session (srs'
// spans), exported over OTLP/HTTP (srs.NewOTLPTracerProvider), and its
// webhooks carry traceparent. Nothing when tracing.otlp_endpoint is empty.
func (g *Gateway) startTracing(ctx context.Context, sc *srs.Config) (err error) {
	c := g.cfg.Tracing
	if c.OTLPEndpoint == "" {
		return nil
	}
	g.tracer, err = srs.NewOTLPTracerProvider(ctx, srs.OTLPConfig{Endpoint: c.OTLPEndpoint,
		ServiceName: cmp.Or(c.ServiceName, "voicegw-gateway"), ServiceVersion: buildinfo.Read(version, commit).Version})
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
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
