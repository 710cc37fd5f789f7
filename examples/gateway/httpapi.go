package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
)

// health is what GET /healthz reports.
type health struct {
	Status         string `json:"status"` // "ok", or "shutting_down" (503)
	SessionsActive int    `json:"sessions_active"`
	Spooled        int    `json:"recordings_spooled"`
	UptimeSeconds  int64  `json:"uptime_seconds"`
}

// newHTTPHandler returns the gateway's HTTP API:
//
//	GET /insights/sessions…       the Insights API of seed 004 (X-Vgai-Key)
//	GET /healthz                  200 {"status":"ok",…}; 503 while shutting down
//	GET /metrics                  Prometheus metrics
//	/debug/pprof/…                Go's profiler, with http.pprof only
//
// failedKeys throttles wrong and missing keys per source (429); share it with
// any other API of the process that checks keys.
func newHTTPHandler(idx *insights.Index, keys *rbac.KeyStore, tenants *tenancy.Store, failedKeys *rbac.FailureLimiter, m *metrics, healthOf func() health, withPProf bool, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	if withPProf {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	}
	mux.Handle("/insights/", insights.NewHandler(insights.HandlerConfig{
		Index:      idx,
		Keys:       apiKeyVerifier(keys),
		Accounts:   accountResolver(tenants),
		FailedKeys: failedKeys,
		Logger:     log.With("component", "insights"),
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := healthOf()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorLog: slogPrinter{log}}))
	return mux
}

// apiKeyVerifier checks X-Vgai-Key against rbac's API keys and returns the
// key's principal: the Insights handler authorizes every request with its
// scope and the privileges of its service type (an "insights" or "webhook"
// key reads, only a key granting Interaction Delete deletes). A key store
// that fails answers 503 (its errors do not wrap rbac.ErrInvalidKey).
func apiKeyVerifier(keys *rbac.KeyStore) insights.KeyVerifier { return keys }

// accountResolver tells the Insights handler an account's service provider,
// so a service provider's key may query the accounts of its provider (named
// in X-Vgai-Account).
func accountResolver(tenants *tenancy.Store) insights.AccountResolver {
	return insights.AccountResolverFunc(func(ctx context.Context, account string) (string, error) {
		a, err := tenants.Account(ctx, tenancy.SID(account))
		if errors.Is(err, tenancy.ErrNotFound) {
			return "", fmt.Errorf("%w: %w", insights.ErrNotFound, err)
		}
		if err != nil {
			return "", err
		}
		return a.ServiceProvider, nil
	})
}

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics", "error", v) }

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
