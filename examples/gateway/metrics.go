package main

import (
	"cmp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/voicegw/voicegw/internal/buildinfo"
	"github.com/voicegw/voicegw/siprec/srs/srsprom"
)

// metrics are the gateway's Prometheus metrics, in a registry of its own
// (never the global default one), served at /metrics: the recording
// server's (siprec/srs/srsprom: its Observer and the SIP listeners'
// transport events; Watch and WatchReadiness once the server exists), Go's
// and the process's, and voicegw_build_info.
type metrics struct {
	*srsprom.Observer
	reg *prometheus.Registry
}

// MetricsConfig configures /metrics.
type MetricsConfig struct {
	// MaxAccounts is how many accounts get their own account label in
	// voicegw_account_calls_total: the first ones to call after a start;
	// the others are counted under account="other" (0: all of them).
	// Default 100.
	MaxAccounts int `yaml:"max_accounts"`
}

// newMetrics returns the gateway's metrics; maxAccounts bounds the account
// label (MetricsConfig.MaxAccounts).
func newMetrics(maxAccounts int) *metrics {
	reg := prometheus.NewRegistry()
	obs, err := srsprom.New(reg, srsprom.Options{MaxAccounts: cmp.Or(maxAccounts, -1)})
	if err != nil {
		panic(err) // a new registry holds none of its metrics
	}
	in := buildinfo.Read(version, commit)
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "voicegw_build_info",
		Help:        "Always 1; its labels say which build is running (version, VCS commit, Go toolchain).",
		ConstLabels: prometheus.Labels{"version": in.Version, "commit": in.Commit, "goversion": in.GoVersion},
	})
	build.Set(1)
	reg.MustRegister(build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &metrics{Observer: obs, reg: reg}
}
