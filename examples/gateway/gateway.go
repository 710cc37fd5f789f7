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
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/tenancy"
)

// Gateway is the reference voice gateway: a SIPREC recording server for many
// accounts, each with its SIP users, allowlist, licensed sessions, recording
// format and bucket, with the Insights API, health and metrics over HTTP.
//
// The pieces, each from its own package:
//
//	sip.Guard           allowlist, then digest, per account (tenants.go)
//	siprec.Server       the recording server, with the gateway's policy and sink (srs.go)
//	tenancy             accounts, recording policy, licensed sessions, signed webhooks
//	recording           one WAV or MP3 per session, crash-safe (recording.Dir)
//	storage             the upload spool and each account's bucket (buckets.go)
//	insights            the session documents and their HTTP API (finish.go, httpapi.go)
//	rbac                API keys for the Insights API
type Gateway struct {
	cfg     *Config
	log     *slog.Logger
	out     io.Writer // where first-start credentials are printed
	started time.Time

	st       *state
	metrics  *metrics
	buckets  *buckets
	spool    *storage.Spool
	dir      *recording.Dir
	lame     *recording.LAME // nil when libmp3lame cannot be loaded
	ports    *media.PortPool
	poller   *media.Poller // nil when rtp.poller is off
	tenants  *tenantLookup
	guard    *sip.Guard
	webhooks *tenancy.WebhookSender
	srs      *srs

	// listeners, bound before anything else so that a port in use fails
	// the start before any state changes
	sipUDP  net.PacketConn
	sipTCP  net.Listener
	httpLis net.Listener

	closing   atomic.Bool    // shutting down: new calls are refused
	finishing sync.WaitGroup // sessions being finalized (recording, document, webhook)
	demo      *demoCredentials
}

// newGateway binds the listeners, opens the state, applies the configured
// accounts (and makes the demo account on a first start), and builds every
// component. Nothing is served until Run.
func newGateway(ctx context.Context, cfg *Config, log *slog.Logger, out io.Writer) (_ *Gateway, err error) {
	g := &Gateway{cfg: cfg, log: log, out: out, started: time.Now()}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	if err := g.listen(); err != nil {
		return nil, err
	}
	g.metrics = newMetrics()
	if g.st, err = openState(ctx, cfg, log); err != nil {
		return nil, err
	}
	applied, err := g.st.applyAccounts(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if cfg.Demo {
		if g.demo, err = g.st.ensureDemo(ctx, cfg); err != nil {
			return nil, err
		}
	}
	def, err := g.defaultAccount(ctx)
	if err != nil {
		return nil, err
	}
	if err := g.openLAME(ctx, applied); err != nil {
		return nil, err
	}

	g.buckets = newBuckets(g.st.tenants, log.With("component", "bucket"))
	if g.spool, err = storage.OpenSpool(storage.SpoolConfig{
		Dir:        cfg.path(spoolDir),
		Resolve:    g.buckets.resolve,
		Workers:    4,
		MaxBackoff: time.Minute,
		Logger:     log.With("component", "spool"),
		OnUploaded: func(it storage.Item) {
			g.metrics.recordingsUploaded.Inc()
			log.Info("recording uploaded", "key", it.Key, "size", it.Size, "attempts", it.Attempts)
		},
	}); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if g.dir, err = recording.OpenDir(recording.DirConfig{
		Path:     cfg.path(recordingsDir),
		Uploader: &spool.Uploader{Spool: g.spool},
		Logger:   log.With("component", "recording"),
	}); err != nil {
		return nil, fmt.Errorf("recording directory: %w", err)
	}

	lo, hi, _ := parsePortRange(cfg.RTP.Ports)
	if g.ports, err = media.NewPortPool(media.PortPoolConfig{
		Address: netip.MustParseAddr(cfg.RTP.Address), MinPort: lo, MaxPort: hi, Logger: log.With("component", "rtp"),
	}); err != nil {
		return nil, fmt.Errorf("rtp: %w", err)
	}
	if cfg.RTP.Poller {
		// A few workers read every stream's socket (epoll, recvmmsg) and
		// run its receive path, and so the recorder's handler, inline.
		if g.poller, err = media.NewPoller(media.PollerConfig{
			Workers: cfg.RTP.PollerWorkers, Logger: log.With("component", "rtp"),
		}); err != nil {
			return nil, fmt.Errorf("rtp poller: %w", err)
		}
	}

	g.tenants = newTenantLookup(g.st.tenants, def, log.With("component", "tenants"))
	algs := make([]sip.Algorithm, 0, len(cfg.SIP.Digest.Algorithms))
	for _, a := range cfg.SIP.Digest.Algorithms {
		alg, _ := sip.ParseAlgorithm(a) // validated
		algs = append(algs, alg)
	}
	if g.guard, err = sip.NewGuard(sip.GuardConfig{
		Tenants: g.tenants,
		Digest:  sip.DigestConfig{Algorithms: algs, NonceLifetime: cfg.SIP.Digest.NonceLifetime},
		Lockout: sip.LockoutConfig{MaxFailures: cfg.SIP.Lockout.MaxFailures, Window: cfg.SIP.Lockout.Window, Block: cfg.SIP.Lockout.Block},
		// recording clients (sipp among them) send BYE and re-INVITE without
		// credentials; the SIPREC server answers 481 for dialogs it does not know
		PassInDialog:         true,
		AllowlistOnlyMethods: []sipgosip.RequestMethod{sipgosip.OPTIONS},
		Logger:               log.With("component", "guard"),
	}); err != nil {
		return nil, err
	}
	g.webhooks = &tenancy.WebhookSender{Logger: log.With("component", "webhook"), UserAgent: "voicegw-gateway/1"}
	if g.srs, err = g.newSRS(); err != nil {
		return nil, err
	}
	return g, nil
}

// path returns a path under the data directory.
func (c *Config) path(name string) string { return filepath.Join(c.DataDir, name) }

// listen binds the SIP and HTTP listeners.
func (g *Gateway) listen() error {
	var err error
	udp, tcp := false, false
	for _, t := range g.cfg.SIP.Transports {
		udp = udp || t == "udp"
		tcp = tcp || t == "tcp"
	}
	if g.sipUDP, g.sipTCP, err = listenSIP(g.cfg.SIP.Listen, udp, tcp); err != nil {
		return fmt.Errorf("sip.listen: %w", err)
	}
	if g.httpLis, err = net.Listen("tcp", g.cfg.HTTP.Listen); err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	return nil
}

// defaultAccount returns the SID of the account that serves requests for
// realms no account has: sip.default_account, or the demo account when no
// account is configured.
func (g *Gateway) defaultAccount(ctx context.Context) (tenancy.SID, error) {
	name := g.cfg.SIP.DefaultAccount
	if name == "" {
		if len(g.cfg.Accounts) > 0 || !g.cfg.Demo {
			return "", nil
		}
		name = demoAccountName
	}
	a, err := g.st.tenants.AccountByName(ctx, name)
	switch {
	case errors.Is(err, tenancy.ErrNotFound) && g.cfg.SIP.DefaultAccount == "":
		return "", nil
	case errors.Is(err, tenancy.ErrNotFound):
		return "", &ConfigError{Problems: []Problem{{Key: "sip.default_account", Message: fmt.Sprintf("%q: no such account", name)}}}
	case err != nil:
		return "", err
	}
	return a.SID, nil
}

// openLAME loads LAME for MP3 recordings. A configured account that records
// MP3 needs it: the start fails naming the account's key when it is missing.
// Without one it is only a warning (stored accounts asking for MP3 then
// record WAV, logged).
func (g *Gateway) openLAME(ctx context.Context, applied []appliedAccount) error {
	lame, err := recording.OpenLAME(g.cfg.Record.LAMEPath)
	if err == nil {
		g.lame = lame
		return nil
	}
	for i, a := range applied {
		if a.Account.Recording.Enabled && a.Account.Recording.Format == tenancy.FormatMP3 {
			return &ConfigError{Problems: []Problem{{Key: fmt.Sprintf("accounts[%d].recording.format", i), Message: "mp3: " + err.Error()}}}
		}
	}
	g.log.Warn("MP3 recordings unavailable; accounts asking for MP3 are recorded as WAV", "error", err)
	return nil
}

// Run serves SIP and HTTP until ctx ends, then shuts down gracefully: new
// calls are refused, active sessions are ended (BYE) and their recordings
// finalized and handed to the spool, and the spool uploads for up to
// shutdown.timeout. What it could not upload waits for the next start.
func (g *Gateway) Run(ctx context.Context) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var bgWG sync.WaitGroup
	goBG := func(f func(context.Context)) {
		bgWG.Add(1)
		go func() { defer bgWG.Done(); f(bg) }()
	}
	defer func() {
		stopBG()
		bgWG.Wait()
	}()
	goBG(func(ctx context.Context) { _ = g.spool.Run(ctx) })
	goBG(func(ctx context.Context) { _ = g.st.limiter.Run(ctx) })
	goBG(func(ctx context.Context) { g.metrics.watchSpool(ctx, g.spool, time.Second) })

	// Before taking calls: repair what a crash cut off, store the documents
	// of sessions it interrupted, upload what waits.
	g.recover(ctx)

	httpSrv := newHTTPServer(newHTTPHandler(g.st.index, g.st.keys, g.st.tenants, g.metrics, g.health, g.cfg.HTTP.PProf, g.log), g.log.With("component", "http"))
	errc := make(chan error, 3)
	go func() {
		if err := httpSrv.Serve(g.httpLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	sipCtx, stopSIP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSIP()
	if err := g.srs.serve(sipCtx, errc); err != nil {
		return err
	}
	g.log.Info("gateway ready", "sip", g.sipAddr(), "http", g.httpLis.Addr().String(),
		"rtp", g.cfg.RTP.Address+" "+g.cfg.RTP.Ports, "data_dir", g.cfg.DataDir)
	g.printWelcome()

	var runErr error
	select {
	case <-ctx.Done():
		g.log.Info("shutting down: refusing new calls, finishing the active ones")
	case runErr = <-errc:
		g.log.Error("stopping after a failure", "error", runErr)
	}

	// graceful shutdown
	g.closing.Store(true)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Shutdown.Timeout)
	defer cancel()
	n := g.srs.shutdown(sctx)
	done := make(chan struct{})
	go func() { g.finishing.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		g.log.Warn("shutdown timeout: some ended sessions were not completed (recording, document or webhook); the next start completes them")
	}
	if err := g.spool.WaitEmpty(sctx); err != nil {
		g.log.Warn("shutdown: recordings left in the spool; they are uploaded at the next start", "waiting", g.spool.Len())
	}
	stopSIP()
	g.srs.close()
	hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	_ = httpSrv.Shutdown(hctx)
	hcancel()
	g.log.Info("stopped", "sessions_ended", n, "recordings_spooled", g.spool.Len())
	return runErr
}

// health reports the gateway's state for /healthz.
func (g *Gateway) health() health {
	h := health{Status: "ok", SessionsActive: g.srs.activeSessions(), Spooled: g.spool.Len(), UptimeSeconds: int64(time.Since(g.started) / time.Second)}
	if g.closing.Load() {
		h.Status = "shutting_down"
	}
	return h
}

// sipAddr returns the address SIP is served on.
func (g *Gateway) sipAddr() string {
	if g.sipUDP != nil {
		return g.sipUDP.LocalAddr().String()
	}
	return g.sipTCP.Addr().String()
}

// close releases everything newGateway opened.
func (g *Gateway) close() {
	if g.sipUDP != nil {
		_ = g.sipUDP.Close()
	}
	if g.sipTCP != nil {
		_ = g.sipTCP.Close()
	}
	if g.httpLis != nil {
		_ = g.httpLis.Close()
	}
	if g.spool != nil {
		_ = g.spool.Close()
	}
	if g.buckets != nil {
		g.buckets.close()
	}
	if g.st != nil {
		g.st.close()
	}
	if g.poller != nil {
		_ = g.poller.Close() // after the sessions: their receivers have stopped
	}
}

// listenSIP listens for UDP and/or TCP on one address; with port 0 it takes
// a free UDP port and the same TCP port.
func listenSIP(addr string, udp, tcp bool) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	tries := 1
	if port == "0" {
		tries = 20
	}
	for range tries {
		var pc net.PacketConn
		a := addr
		if udp {
			if pc, err = net.ListenPacket("udp", addr); err != nil {
				return nil, nil, err
			}
			if u, ok := pc.(*net.UDPConn); ok {
				_ = u.SetReadBuffer(4 << 20) // absorb bursts of INVITEs
			}
			_, p, _ := net.SplitHostPort(pc.LocalAddr().String())
			a = net.JoinHostPort(host, p)
		}
		if !tcp {
			return pc, nil, nil
		}
		l, err := net.Listen("tcp", a)
		if err == nil {
			return pc, l, nil
		}
		if pc != nil {
			_ = pc.Close()
		}
		if tries == 1 {
			return nil, nil, err
		}
	}
	return nil, nil, fmt.Errorf("no port free for both UDP and TCP on %s", host)
}

// newSIPServer makes the sipgo user agent and server.
func newSIPServer(log *slog.Logger) (*sipgo.UserAgent, *sipgo.Server, error) {
	sl := log.With("component", "sipgo")
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("voicegw-gateway"),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(sl)),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(sl)),
	)
	if err != nil {
		return nil, nil, err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sl))
	if err != nil {
		_ = ua.Close()
		return nil, nil, err
	}
	return ua, srv, nil
}
