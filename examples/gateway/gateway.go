package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/sip/connlimit"
	"github.com/voicegw/voicegw/sip/fdlimit"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/console"
)

// Gateway is the reference voice gateway: the SDK's recording server
// (siprec/srs: SIP access control per account, admission, recording,
// upload, journal, recovery, documents and webhooks) on the state of
// siprec/srs/srsstate (state.go), with the Insights API, health and metrics over HTTP.
type Gateway struct {
	cfg *Config
	log *slog.Logger
	out io.Writer // where first-start credentials are printed

	st       *srsstate.State
	accounts []*tenancy.Account // the configured accounts, as stored
	metrics  *metrics
	srs      *srs.Server
	admin    *admin.Handler
	failed   *rbac.FailureLimiter // failed API key checks, shared by the HTTP APIs
	insight  insights.HandlerConfig
	console  *console.Console // console.go
	poller   *media.Poller    // nil when rtp.poller is off
	ready    *srs.Readiness   // /readyz and voicegw_ready (ops.go)

	// tracer exports the recording server's spans; nil: tracing off (ops.go)
	tracer *sdktrace.TracerProvider

	// listeners, bound before anything else so that a port in use fails
	// the start before any state changes
	sipUDP  net.PacketConn
	sipTCP  net.Listener
	sipTLS  net.Listener // SIP over TLS (tls.go), with tlsFiles
	httpLis net.Listener

	tlsFiles *sip.TLSFiles

	demo *srsstate.Demo // made on this start: its secrets are printed once (welcome.go)
}

// newGateway binds the listeners, opens the state, applies the configured
// accounts (and makes the demo account on a first start), and builds the
// recording server. Nothing is served until Run.
func newGateway(ctx context.Context, cfg *Config, log *slog.Logger, out io.Writer) (_ *Gateway, err error) {
	g := &Gateway{cfg: cfg, log: log, out: out, metrics: newMetrics(cfg.Metrics.MaxAccounts)}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	udp, tcp := slices.Contains(cfg.SIP.Transports, "udp"), slices.Contains(cfg.SIP.Transports, "tcp")
	if udp || tcp {
		if g.sipUDP, g.sipTCP, err = srs.ListenSIP(cfg.SIP.Listen, udp, tcp); err != nil {
			return nil, fmt.Errorf("sip.listen: %w", err)
		}
	}
	if err := g.openTLS(); err != nil {
		return nil, err
	}
	if g.httpLis, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	g.httpLis = connlimit.NewListener(g.httpLis, connlimit.Config{MaxConns: cfg.HTTP.MaxConns,
		MaxConnsPerSource: cfg.HTTP.MaxConnsPerSource, Logger: log.With("component", "http")})
	// as many file descriptors as the system lets the process have (the
	// recording server caps SIP connections within half of them)
	if lim, err := fdlimit.Raise(); err != nil && !errors.Is(err, fdlimit.ErrUnsupported) {
		log.Warn("could not raise the open-file limit", "soft", lim.Soft, "error", err)
	}
	if g.st, err = openState(ctx, cfg, log); err != nil {
		return nil, err
	}
	if g.accounts, err = applyAccounts(ctx, g.st, cfg); err != nil {
		return nil, err
	}
	if cfg.Demo { // the demo account, its keys and console member, when the store holds no account at all
		if g.demo, err = g.st.EnsureDemo(ctx, srsstate.DemoOptions{}); err != nil {
			return nil, err
		}
	}
	// requests for realms no account has: sip.default_account's (a stored
	// account too), or the demo's when no account is configured
	def, err := g.st.DefaultAccount(ctx, cfg.SIP.DefaultAccount, cfg.Demo && len(cfg.Accounts) == 0)
	if errors.Is(err, srsstate.ErrNoSuchAccount) {
		return nil, &ConfigError{Problems: []Problem{{Key: "sip.default_account", Message: fmt.Sprintf("%q: no such account", cfg.SIP.DefaultAccount)}}}
	} else if err != nil {
		return nil, err
	}
	// LAME for MP3: a configured account that records MP3 fails the start
	// without it; otherwise srs.New warns (stored MP3 accounts record WAV)
	lame, err := srs.OpenLAME(cfg.Record.LAMEPath, g.accounts)
	var noMP3 *srs.MP3UnavailableError
	if errors.As(err, &noMP3) {
		return nil, &ConfigError{Problems: []Problem{{Key: fmt.Sprintf("accounts[%d].recording.format", noMP3.Index), Message: "mp3: " + noMP3.Err.Error()}}}
	} else if err != nil {
		return nil, err
	}

	ports, err := media.NewPortPool(media.PortPoolConfig{
		Address: netip.MustParseAddr(cfg.RTP.Address), MinPort: cfg.RTP.minPort, MaxPort: cfg.RTP.maxPort, Logger: log.With("component", "rtp"),
		NoRTCPSocket: !cfg.RTP.ReserveRTCP,
	})
	if err != nil {
		return nil, fmt.Errorf("rtp: %w", err)
	}
	if cfg.RTP.Poller {
		// A few workers read every stream's socket (epoll, recvmmsg) and
		// run its receive path, and so the recorder's handler, inline.
		if g.poller, err = media.NewPoller(media.PollerConfig{Workers: cfg.RTP.PollerWorkers, Logger: log.With("component", "rtp")}); err != nil {
			return nil, fmt.Errorf("rtp poller: %w", err)
		}
	}
	mediaAddr := cfg.SIP.MediaAddress
	if mediaAddr == "" {
		mediaAddr = cfg.RTP.Address
	}
	latching, algs := cfg.RTP.latching, cfg.SIP.algorithms // parsed at validation
	var allow func(netip.Addr) bool                        // the transport allowlist: nil allows every address
	if !cfg.SIP.allowlist.IsEmpty() {
		allow = cfg.SIP.allowlist.Allows
	}
	sc := srs.Config{
		Tenants:        g.st.Tenants,
		DefaultAccount: def,
		Limiter:        g.st.Limiter,
		Index:          g.st.Index,
		Journal:        g.st.Journal,
		RecordingDir:   cfg.path(recordingsDir),
		SpoolDir:       cfg.path(spoolDir), // uploaded by srs.DefaultUploadWorkers, retried up to a minute apart
		UserAgent:      "voicegw-gateway",
		RetryInterval:  cfg.Record.RetryInterval,
		UDP:            sip.PacketConnConfig{MaxMessageSize: cfg.SIP.MaxUDPMessageSize, Allow: allow},
		TCP: sip.ListenerConfig{Allow: allow, MaxConns: cfg.SIP.TCP.MaxConns, MaxConnsPerSource: cfg.SIP.TCP.MaxConnsPerSource,
			NewConnRate: cfg.SIP.TCP.NewConnRate, NewConnBurst: cfg.SIP.TCP.NewConnBurst,
			MessageTimeout: cfg.SIP.TCP.MessageTimeout, IdleTimeout: cfg.SIP.TCP.IdleTimeout, MaxMessageSize: cfg.SIP.TCP.MaxMessageSize,
			HandshakeTimeout: cfg.SIP.TLS.HandshakeTimeout, OnEvent: g.metrics.TransportEvent},
		Guard: sip.GuardConfig{
			Digest: sip.DigestConfig{Algorithms: algs, NonceLifetime: cfg.SIP.Digest.NonceLifetime,
				AllowRFC2069: cfg.SIP.Digest.AllowRFC2069},
			Lockout:              sip.LockoutConfig{MaxFailures: cfg.SIP.Lockout.MaxFailures, Window: cfg.SIP.Lockout.Window, Block: cfg.SIP.Lockout.Block},
			AllowlistOnlyMethods: []sipgosip.RequestMethod{sipgosip.OPTIONS},
		},
		SIPREC: siprec.Config{
			Ports:        ports,
			MediaAddress: netip.MustParseAddr(mediaAddr),
			Latching:     latching,
			Receiver:     media.ReceiverConfig{Poller: g.poller},
			AckTimeout:   cfg.SIP.AckTimeout,
			MediaTimeout: cfg.SIP.MediaTimeout,
			SRTP:         cfg.siprecSRTP(),
		},
		Recording: recording.Config{FlushInterval: cfg.Record.FlushInterval, MP3: recording.MP3Config{Bitrate: cfg.Record.MP3Bitrate, Mono: cfg.Record.MP3Mono},
			LAME: lame, LAMEPath: cfg.Record.LAMEPath},
		// Client nil: srs gives it one that connects through Egress.
		Webhooks: &tenancy.WebhookSender{Logger: log.With("component", "webhook"), UserAgent: "voicegw-gateway/1"},
		Egress:   cfg.Egress.policy(),
		Observer: g.metrics,
		Logger:   log,
	}
	if g.sipUDP != nil {
		sc.PacketConns = []net.PacketConn{g.sipUDP}
	}
	if g.sipTCP != nil {
		sc.Listeners = []net.Listener{g.sipTCP}
	}
	if g.sipTLS != nil {
		sc.TLSListeners, sc.TLS = []net.Listener{g.sipTLS}, g.tlsFiles.ServerConfig()
	}
	if err := g.startTracing(ctx, &sc); err != nil {
		return nil, err
	}
	if g.srs, err = srs.New(ctx, sc); err != nil {
		return nil, err
	}
	// /readyz and voicegw_ready: the recording server's checks (SIP served,
	// spool and recording directory writable) and the state's (databases answer)
	g.ready = srs.NewReadiness(srs.ReadinessConfig{Checks: slices.Concat(g.srs.ReadyChecks(), g.st.ReadyChecks())})
	if err := errors.Join(g.metrics.Watch(g.srs), g.metrics.WatchReadiness(g.ready)); err != nil {
		return nil, err
	}
	if err := g.st.Follow(context.Background(), g.srs); err != nil { // other gateways' changes, on PostgreSQL
		return nil, err
	}
	g.failed = rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: g.cfg.HTTP.FailedKeys.Burst, Every: g.cfg.HTTP.FailedKeys.Every})
	acfg := admin.Config{
		Tenants: g.st.Tenants, Keys: g.st.Keys, Members: g.st.Members, Store: g.st.Admin,
		Notifier: srsstate.AdminNotifier(g.srs, log), FailedKeys: g.failed, Logger: requestLog(log, "admin"),
		Egress: sc.Egress,
	}
	if g.admin, err = admin.NewHandler(acfg); err != nil {
		return nil, err
	}
	g.insight = g.insightsConfig()
	// The console gets the Insights API without playback links: it plays
	// recordings through its own route (console.StoredPlayback, the
	// member's session), and its in-process calls have no Host a browser
	// could follow (links would name console.invalid).
	if g.console, err = g.newConsole(acfg, g.insight); err != nil {
		return nil, err
	}
	g.insight.Playback, err = g.playbackConfig()
	return g, err
}

// probeBuckets probes the recording bucket of each account that records
// (srs.ProbeAccountBuckets: write, read back, delete; all at once, 20 s
// each) and returns one Problem per bucket that fails, with storage's
// error, which says what to check.
func probeBuckets(ctx context.Context, accounts []*tenancy.Account, eg EgressConfig) []Problem {
	var probs []Problem
	for i, err := range srs.ProbeAccountBuckets(ctx, accounts, &storage.Options{Egress: eg.policy()}, 0) {
		if err != nil {
			probs = append(probs, Problem{Key: fmt.Sprintf("accounts[%d].recording.bucket", i), Message: "the bucket test failed: " + err.Error()})
		}
	}
	return probs
}

// path returns a path under the data directory.
func (c *Config) path(name string) string { return filepath.Join(c.DataDir, name) }

// Run serves SIP and HTTP until ctx ends, then shuts down gracefully: new
// calls are refused, active sessions are ended (BYE) and their recordings
// finalized and handed to the spool, and the spool uploads for up to
// shutdown.timeout. What it could not upload waits for the next start.
func (g *Gateway) Run(ctx context.Context) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()

	// Serve repairs what a crash cut off, stores the documents of sessions
	// it interrupted and uploads what waits, then takes calls.
	srsErr := make(chan error, 1)
	go func() { srsErr <- g.srs.Serve(bg) }()
	g.watchTLS(bg)
	select {
	case <-g.srs.Ready():
	case err := <-srsErr:
		return err
	}
	api := httpAPI{insights: g.insight, admin: g.admin, console: g.console,
		metrics: g.metrics, health: g.srs.HealthHandler(), ready: g.ready, pprof: g.cfg.HTTP.PProf, log: g.log}
	httpSrv := newHTTPServer(api.handler(), g.log.With("component", "http"))
	errc := make(chan error, 1)
	go func() {
		if err := httpSrv.Serve(g.httpLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	g.log.Info("gateway ready", "sip", g.sipAddr(), "sips_port", g.tlsPort(), "http", g.httpLis.Addr().String(),
		"rtp", g.cfg.RTP.Address+" "+g.cfg.RTP.Ports, "data_dir", g.cfg.DataDir)
	g.printWelcome()
	go func() { // a broken bucket shows now, not at the first upload
		for _, p := range probeBuckets(bg, g.accounts, g.cfg.Egress) {
			g.log.Error("recording bucket test failed: the account's recordings wait in the spool until the bucket works", "key", p.Key, "error", p.Message)
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
		g.log.Info("shutting down: refusing new calls, finishing the active ones")
	case runErr = <-errc:
	case runErr = <-srsErr:
	}
	if runErr != nil {
		g.log.Error("stopping after a failure", "error", runErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Shutdown.Timeout)
	defer cancel()
	_ = g.srs.Shutdown(sctx) // it logs what is left for the next start
	hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	_ = httpSrv.Shutdown(hctx)
	hcancel()
	return runErr
}

// sipAddr returns the address SIP is served on.
func (g *Gateway) sipAddr() string {
	switch {
	case g.sipUDP != nil:
		return g.sipUDP.LocalAddr().String()
	case g.sipTCP != nil:
		return g.sipTCP.Addr().String()
	}
	return g.sipTLS.Addr().String()
}

// close releases everything newGateway opened.
func (g *Gateway) close() {
	if g.srs != nil {
		_ = g.srs.Close() // closes the SIP listeners
	} else {
		for _, c := range []io.Closer{g.sipUDP, g.sipTCP, g.sipTLS} {
			if c != nil {
				_ = c.Close()
			}
		}
	}
	if g.httpLis != nil {
		_ = g.httpLis.Close()
	}
	if g.st != nil {
		_ = g.st.Close()
	}
	if g.poller != nil {
		_ = g.poller.Close() // after the sessions: their receivers have stopped
	}
	g.stopTracing()
}
