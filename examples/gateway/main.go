// Command gateway is voicegw's reference voice gateway: a multi-tenant
// SIPREC recording server (RFC 7866) that records each call to WAV or MP3,
// uploads it to the account's bucket, keeps a session document of it for the
// Insights API, and tells the account's webhook.
//
//	go run ./examples/gateway                      # built-in defaults, demo account
//	go run ./examples/gateway -config gateway.yaml # see gateway.example.yaml
//	go run ./examples/gateway -config gateway.yaml -check  # and test its buckets
//
// With no configuration it listens for SIP on 127.0.0.1:5060 (UDP and TCP),
// takes RTP ports from 127.0.0.1:20000-39999, serves HTTP on 127.0.0.1:8080
// (the admin API, the Insights API, the console at /console/, /healthz,
// /metrics) and keeps its state in ./data. On the first start it creates a
// demo account and prints, once, its SIP credentials, an Insights API key,
// an admin API key, a console sign-in and the commands to place a test call
// and query it.
//
// SIGINT or SIGTERM shuts it down gracefully: new calls are refused, active
// sessions get a BYE and their recordings are finalized and uploaded (or left
// in the spool for the next start). A second signal exits at once; the next
// start repairs what was cut off.
//
// The recording server itself is the SDK's (siprec/srs); this program is its
// configuration and wiring: config.go (configuration, defaults.yaml),
// state.go (the state on SQLite or PostgreSQL through siprec/srs/srsstate:
// the configuration's accounts and keys, the demo account), welcome.go
// (what a first start prints), gateway.go (the recording server, kept true
// to the admin API's and the database's changes by srsstate, bucket tests,
// wiring and shutdown), httpapi.go and metrics.go (HTTP; siprec/srs/srsprom's
// metrics), ops.go (build, SIGHUP, tracing),
// console.go (the console and its recordings; the demo's console member is srsstate's),
// egress.go (the egress policy for accounts' bucket endpoints and webhooks).
// capacity/ is the capacity harness.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/buildinfo"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/tenancy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		// A second signal does not wait for the graceful shutdown. One that
		// comes within a second of the first is the same event delivered
		// twice (a terminal's Ctrl-C reaches the whole process group, go run
		// included; timeout(1) signals the child and its group).
		first := time.Now()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		for range again {
			if time.Since(first) > time.Second {
				break
			}
		}
		fmt.Fprintln(os.Stderr, "gateway: second signal, exiting now (the next start repairs and uploads what was cut off)")
		os.Exit(130)
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var ce *ConfigError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ce), errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run parses the command line, loads the configuration and runs the gateway
// until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `file` (YAML or JSON, see examples/gateway/gateway.example.yaml); default: built-in defaults")
	showVersion := fs.Bool("version", false, "print the version and exit")
	check := fs.Bool("check", false, "check the configuration and test the recording bucket of each account it declares, print the problems or \"configuration OK\", and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *showVersion {
		fmt.Fprintln(stdout, "gateway", buildinfo.Read(version, commit))
		return nil
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if *check {
		accounts := make([]*tenancy.Account, len(cfg.Accounts))
		for i, d := range cfg.declaration().Accounts {
			accounts[i] = &d.Account
		}
		probs := probeBuckets(ctx, accounts, cfg.Egress)
		probs = append(probs, cfg.checkDatabase(ctx)...) // state.go
		if len(probs) > 0 {
			return &ConfigError{File: *configPath, Problems: probs}
		}
		fmt.Fprintln(stdout, "configuration OK")
		return nil
	}
	// SIGHUP reloads the log level (of the file) and the TLS certificate
	// files; caught from here on, so that one during the start does not
	// end the process (its default action)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	level := new(slog.LevelVar) // SIGHUP sets it to the file's log.level
	level.Set(parseLevel(cfg.Log.Level))
	log := newLeveledLogger(cfg.Log, stderr, level)
	// sipgo's package-level settings: a program may set them, a library may not
	sipgosip.UDPMTUSize = cfg.SIP.MaxUDPMessageSize + 200 // sipgo refuses len > UDPMTUSize-200
	sipgosip.TransportBufferReadSize = 65535              // read datagrams whole: sip.PacketConn answers 513 past the limit
	sipgosip.SetDefaultLogger(sip.FilterLogger(newLogger(LogConfig{Level: "warn", Format: cfg.Log.Format}, stderr).With("component", "sipgo"), sip.LogFilterConfig{Demote: sip.DemoteSipgo}))

	g, err := newGateway(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	defer g.close()
	go onHangup(ctx, hup, func() {
		if *configPath != "" {
			reloadLogLevel(*configPath, level, log)
		}
	}, g.reloadTLS)
	return g.Run(ctx)
}

// newLogger returns a logger at the fixed level c.Level.
func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	return newLeveledLogger(c, w, parseLevel(c.Level))
}
