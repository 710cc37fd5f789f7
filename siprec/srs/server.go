package srs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
	"go.opentelemetry.io/otel/trace"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/sip/fdlimit"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/egress"
	"github.com/voicegw/voicegw/tenancy"
)

// Defaults of Config.
const (
	DefaultUserAgent        = "voicegw-srs"
	DefaultUploadWorkers    = 4
	DefaultUploadMaxBackoff = time.Minute
	DefaultWebhookTries     = 3
	DefaultFinishTimeout    = 45 * time.Second
	DefaultRetryInterval    = time.Minute
	DefaultShutdownTimeout  = 30 * time.Second
)

// Errors of the Server.
var (
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("srs: server closed")
	// ErrServing is returned by a second Serve or Run.
	ErrServing = errors.New("srs: already serving")
	// ErrConfig is matched by New's errors for a missing or bad Config
	// field (the error names it).
	ErrConfig = errors.New("srs: bad configuration")
	// ErrSpoolNotEmpty is matched by Shutdown's error when recordings were
	// left in the spool (they are uploaded at the next start).
	ErrSpoolNotEmpty = errors.New("srs: recordings left in the spool")
)

// Config configures a Server. Tenants, RecordingDir and SpoolDir are
// required; every other field's zero value works, with the default its
// documentation gives.
type Config struct {
	// Tenants holds the accounts and their applications. Required.
	Tenants *tenancy.Store
	// TenantCache fronts Tenants for the Guard, the admission and the
	// default bucket resolver. Default: NewTenantCache(Tenants) with
	// DefaultAccount and Logger. Server.TenantCache returns it, for
	// Invalidate after a change.
	TenantCache *TenantCache
	// DefaultAccount serves requests whose realm is no account's (for
	// example the gateway's IP address) when TenantCache is nil. Default
	// "": they are refused (403).
	DefaultAccount tenancy.SID
	// Limiter counts each account's sessions against its licensed
	// sessions. Default: a tenancy.LocalLimiter (this process only). A
	// limiter with a method Run(context.Context) error, such as
	// tenancy/sqlitestore's Limiter (it renews its leases there), is run by
	// Serve until the Server stops.
	Limiter tenancy.SessionLimiter
	// Index receives each session's document. Default nil: no documents
	// (webhooks are sent all the same).
	Index *insights.Index
	// Journal keeps each session until its document is stored. Default
	// NewMemoryJournal(): a crash loses the documents of the sessions it
	// cut off (their recordings are still repaired and uploaded). Use an
	// SQLiteJournal (OpenSQLiteJournal, NewSQLiteJournal) to keep them.
	Journal Journal
	// RecordingDir is the directory of recordings being written
	// (recording.Dir). Required.
	RecordingDir string
	// SpoolDir is the directory of finished recordings waiting for their
	// bucket (storage.Spool). Required; keep it on the file system of
	// RecordingDir, so that handing a file over is a rename.
	SpoolDir string
	// Buckets returns the bucket of an account (by SID) for the spool.
	// Default: an AccountBuckets over the TenantCache, closed by Close.
	Buckets func(ctx context.Context, account string) (*storage.Bucket, error)
	// UploadWorkers is how many uploads run at once. Default
	// DefaultUploadWorkers.
	UploadWorkers int
	// UploadMaxBackoff bounds the wait between tries of a failed upload
	// (retried forever). Default DefaultUploadMaxBackoff.
	UploadMaxBackoff time.Duration
	// SIP is the sipgo server the Server registers its handlers on (INVITE,
	// ACK, BYE, CANCEL, UPDATE, OPTIONS). Default: a server on a user agent
	// of its own, named UserAgent, logging through sip.FilterLogger, with a
	// parser for TCP.MaxMessageSize; closed by Close.
	SIP *sipgo.Server
	// UserAgent is the User-Agent of the default SIP server. Default
	// DefaultUserAgent.
	UserAgent string
	// PacketConns (UDP) and Listeners (TCP) are served by Serve, which
	// closes them when it returns. Each is put behind the edge defences of
	// package sip first (a sip.PacketConn configured by UDP, a sip.Listener
	// by TCP) unless it already is one. Default none: serve SIP yourself
	// (sipgo.Server.ServeUDP and friends).
	PacketConns []net.PacketConn
	Listeners   []net.Listener
	// TLSListeners are TCP listeners served as SIP over TLS (SIPS, port
	// 5061 by convention) with TLS: each is put behind a sip.Listener
	// configured by TCP with TLS set (allowlist and caps at accept, then
	// the handshake within TCP.HandshakeTimeout, then the framing and
	// timeouts on the decrypted stream) and served with
	// sipgo.Server.ServeTLS. Pass plain TCP listeners, not tls.Listeners.
	// Digest identity and allowlist rules are the same as over TCP; a
	// session set up over TLS answers with a sips: Contact
	// (;transport=tls), so the client's in-dialog requests and the
	// Server's BYE stay on TLS. Default none.
	TLSListeners []net.Listener
	// TLS is the server configuration of TLSListeners (required with
	// them): sip.TLSFiles.ServerConfig gives one whose certificate files
	// reload without dropping calls, with mutual TLS when it has a client
	// CA file.
	TLS *tls.Config
	// TCP is the template of the sip.Listener in front of each listener:
	// connection caps in total and per source, message and idle timeouts,
	// the size limit. Its zero value is sip's defaults, but for MaxConns:
	// sip.DefaultMaxConns or half the process's open-file limit, whichever
	// is smaller (each call takes five descriptors: RTP and RTCP sockets,
	// the file); and InUse: "the address has a session in progress", so an
	// idle connection that carries a long recording is not closed before
	// its BYE.
	TCP sip.ListenerConfig
	// UDP is the template of the sip.PacketConn in front of each packet
	// connection (source filter, size limit); its zero value is sip's
	// defaults.
	UDP sip.PacketConnConfig
	// Guard is the template of the sip.Guard in front of the SIPREC server
	// (allowlist, then digest): digest algorithms, nonce lifetime, lockout,
	// AllowlistOnlyMethods, amplification bound. Tenants defaults to the
	// TenantCache and Logger to Logger; Dialogs is the SIPREC server (an
	// in-dialog request is checked against its session's account); an
	// OnDecision of the template is called after the Server's.
	// QuietInitialInvites is always set: the Server logs each refused
	// initial INVITE once ("call refused", with its reason), the Guard's
	// own line about it goes to Debug.
	Guard sip.GuardConfig
	// SIPREC is the template of the siprec.Server: RTP ports, media
	// address, RTP latching, receiver (set Receiver.Poller for a
	// media.Poller; close it after Close), ACK and media timeouts, stream
	// and metadata limits. Policy is the Server's (Sinks is not used: each
	// admission makes its session's sink); Logger defaults to Logger; an
	// OnReject of the template is called after the Server's.
	SIPREC siprec.Config
	// Recording is the template of every recording: FlushInterval, Window,
	// MP3 settings, LAME. Format, Streams, Start and Logger are set per
	// session. When LAME is nil New loads it (from LAMEPath); when it
	// cannot, accounts asking for MP3 are recorded as WAV (logged).
	Recording recording.Config
	// Webhooks sends the session webhooks. Default: a tenancy.WebhookSender
	// with User-Agent "voicegw-srs/1" logging to Logger, whose client
	// connects through Egress. A sender given here with a nil Client gets
	// that client too (New sets it); one with its own Client uses it as is:
	// give it a transport from Egress.Transport.
	Webhooks *tenancy.WebhookSender
	// Egress checks every connection to an address an account chooses:
	// its bucket's endpoint (or bucket URL, or service key's token
	// endpoint) and its session webhook URL, at connect time, redirects
	// included (see storage/egress). Refused buckets fail with
	// storage.ErrEgressRefused (the recording waits in the spool); refused
	// webhooks are not sent. Default: &egress.Policy{}, which refuses
	// loopback, link-local (cloud metadata), unspecified, multicast and
	// broadcast addresses and permits the rest; allow a private object
	// store or a test server with Policy.Allow. To check nothing, allow
	// 0.0.0.0/0 and ::/0.
	Egress *egress.Policy
	// WebhookTries is how often a session webhook is tried before giving
	// up (0.5 s, then 2 s, 8 s… between tries). Default DefaultWebhookTries.
	WebhookTries int
	// FinishTimeout bounds the work of one ended session: finalizing the
	// recording, handing it to the spool, storing the document and sending
	// the webhook. Default DefaultFinishTimeout.
	FinishTimeout time.Duration
	// RetryInterval is how often, while the Server runs, the sessions whose
	// document could not be stored (and recordings the spool did not take)
	// are tried again. Default DefaultRetryInterval; negative: only at the
	// next start.
	RetryInterval time.Duration
	// ShutdownTimeout bounds the graceful shutdown of Run. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Observer is told every refusal, session, stream, recording, upload
	// and webhook. Default NopObserver.
	Observer Observer
	// Logger receives the Server's events, each session's with session_id,
	// call_id and account; nil discards. The "call refused" lines of
	// INVITEs refused before a session exists, whose number peers decide,
	// go through sip.NewLogFilter with its defaults (at most
	// sip.DefaultLogBurst per sip.DefaultLogInterval, the rest counted in
	// the next one's "suppressed"); the Observer still sees each refusal.
	Logger *slog.Logger
	// TracerProvider makes the spans of each session (see tracing.go's
	// list: session, admission, streams, finalize, document, webhook,
	// upload). Default: none are made.
	TracerProvider trace.TracerProvider
}

// Server is the multi-tenant SIPREC recording server. Make it with New,
// start it with Serve or Run, stop it with Shutdown (graceful) or Close.
type Server struct {
	cfg     Config
	log     *slog.Logger
	peerLog *slog.Logger // log through sip.NewLogFilter: lines peers can multiply
	tracer  trace.Tracer
	// upload key → span context of its session (tracing.go)
	uploadSpans sync.Map
	obs         Observer
	tenants     *TenantCache
	limiter     tenancy.SessionLimiter
	journal     Journal
	dir         *recording.Dir
	spool       *storage.Spool
	guard       *sip.Guard
	rec         *siprec.Server
	lame        *recording.LAME // nil: MP3 unavailable
	hooks       *tenancy.WebhookSender
	egress      *egress.Policy

	ua      *sipgo.UserAgent // ours to close, nil when Config.SIP was given
	sip     *sipgo.Server
	buckets *AccountBuckets // ours to close, nil when Config.Buckets was given
	// recordings serves the accounts' recordings for playback
	recordings *Recordings

	// bg is the Server's lifetime: request handlers, background work and
	// finishing derive from it; Close cancels it.
	bg     context.Context
	stopBG context.CancelFunc
	bgWG   sync.WaitGroup

	created   time.Time     // New's time: the Health's uptime
	closing   atomic.Bool   // Shutdown or Close called: new calls are refused
	serving   atomic.Bool   // Serve was called
	active    atomic.Int64  // sessions in progress
	ready     chan struct{} // closed when Serve serves
	stopped   chan struct{} // closed when Shutdown or Close stopped serving
	stopOnce  sync.Once
	closeOnce sync.Once

	// dirMu keeps Dir.Recover (retries while running) apart from
	// Recorder.Finish: both hand finished files to the spool.
	dirMu     sync.RWMutex
	unspooled atomic.Bool // a finished recording stayed in the directory
	docs      *docLocks   // orders the document writes of each session
	inFlight  sync.Map    // session ID → struct{}: being finished now
	// unjournaled holds, by session ID, the ended sessions whose end the
	// journal could not record (a full disk) and that are not completed:
	// the retry loop saves the end first, then completes them
	unjournaled sync.Map // session ID → Entry
	refusals    sync.Map // *sipgosip.Request → Refusal: why the admission refused it

	// ended sessions being finished (beginFinish, finDone)
	finMu      sync.Mutex
	finN       int
	finWaiters []chan struct{}
	finClosed  bool // no more finishing goroutines: the Server stopped

	// RTP counters: the live streams' and the totals of those that ended
	rtpMu   sync.Mutex
	rtpLive map[*siprec.Stream]struct{}
	rtpDone RTPStats
}

// Stats are the Server's counters.
type Stats struct {
	// ActiveSessions are the sessions in progress.
	ActiveSessions int
	// Spooled are the recordings waiting in the spool for their bucket.
	Spooled int
	// RTP sums the packet counters (RFC 3550, and SRTP's drops) of every stream the Server
	// received since New: those in progress and those that ended, so
	// each only grows.
	RTP RTPStats
}

// RTPStats are packet counters of received streams (media.Stats).
type RTPStats struct {
	// Received counts the packets received.
	Received uint64
	// Lost counts sequence numbers that never arrived.
	Lost uint64
	// Late counts packets that came too late for the reorder buffer.
	Late uint64
	// AuthFailures counts SRTP packets dropped because their
	// authentication tag did not verify (forged or corrupted), Replayed
	// those dropped as replays (media.Stats): never recorded.
	AuthFailures, Replayed uint64
}

func (r *RTPStats) add(st *siprec.Stream) {
	x := st.Stats()
	r.Received += x.Received
	r.Lost += x.Lost
	r.Late += x.Late
	r.AuthFailures += x.AuthFailures
	r.Replayed += x.Replayed
}

// Stats returns the Server's counters.
func (s *Server) Stats() Stats {
	st := Stats{ActiveSessions: s.ActiveSessions(), Spooled: s.spool.Len()}
	s.rtpMu.Lock()
	st.RTP = s.rtpDone
	for x := range s.rtpLive {
		st.RTP.add(x)
	}
	s.rtpMu.Unlock()
	return st
}

func (s *Server) streamAdded(ss *Session, st *siprec.Stream) {
	s.rtpMu.Lock()
	s.rtpLive[st] = struct{}{}
	s.rtpMu.Unlock()
	s.streamSpan(ss, st.Label(), true)
	s.obs.StreamAdded(ss, st)
}

func (s *Server) streamRemoved(ss *Session, st *siprec.Stream) {
	s.rtpMu.Lock()
	if _, ok := s.rtpLive[st]; ok {
		delete(s.rtpLive, st)
		s.rtpDone.add(st)
	}
	s.rtpMu.Unlock()
	s.streamSpan(ss, st.Label(), false)
	s.obs.StreamRemoved(ss, st)
}

// New checks cfg, opens the recording directory and the spool, and builds
// the Guard and the SIPREC server. Nothing is served until Serve or Run.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	switch {
	case cfg.Tenants == nil:
		return nil, fmt.Errorf("%w: Tenants is required", ErrConfig)
	case cfg.RecordingDir == "":
		return nil, fmt.Errorf("%w: RecordingDir is required", ErrConfig)
	case cfg.SpoolDir == "":
		return nil, fmt.Errorf("%w: SpoolDir is required", ErrConfig)
	case len(cfg.TLSListeners) > 0 && cfg.TLS == nil:
		return nil, fmt.Errorf("%w: TLS is required with TLSListeners", ErrConfig)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, obs: cfg.Observer, ready: make(chan struct{}), stopped: make(chan struct{}), created: time.Now(),
		rtpLive: map[*siprec.Stream]struct{}{}, docs: newDocLocks()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.peerLog = sip.FilterLogger(s.log, sip.LogFilterConfig{})
	if s.obs == nil {
		s.obs = NopObserver{}
	}
	s.tracer = newTracer(cfg.TracerProvider)
	s.bg, s.stopBG = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	s.defaults()

	if s.tenants = cfg.TenantCache; s.tenants == nil {
		s.tenants = NewTenantCache(cfg.Tenants, &TenantCacheOptions{Default: cfg.DefaultAccount, Logger: s.log.With("component", "tenants")})
	}
	if s.limiter = cfg.Limiter; s.limiter == nil {
		s.limiter = &tenancy.LocalLimiter{}
	}
	if s.journal = cfg.Journal; s.journal == nil {
		s.journal = NewMemoryJournal()
	}
	if s.egress = cfg.Egress; s.egress == nil {
		s.egress = &egress.Policy{}
	}
	if s.hooks = cfg.Webhooks; s.hooks == nil {
		s.hooks = &tenancy.WebhookSender{UserAgent: DefaultUserAgent + "/1", Logger: s.log.With("component", "webhook")}
	}
	if s.hooks.Client == nil {
		var rt http.RoundTripper = s.egress.Transport(nil)
		if cfg.TracerProvider != nil {
			rt = TraceContextTransport(rt)
		}
		s.hooks.Client = &http.Client{Timeout: 10 * time.Second, Transport: rt}
	}
	s.lame = cfg.Recording.LAME
	if s.lame == nil {
		if s.lame, err = recording.OpenLAME(cfg.Recording.LAMEPath); err != nil {
			s.log.Warn("MP3 recordings unavailable; accounts asking for MP3 are recorded as WAV", "error", err)
			s.lame, err = nil, nil
		}
	}
	s.cfg.Recording.LAME = s.lame

	resolve := cfg.Buckets
	if resolve == nil {
		s.buckets = NewAccountBuckets(s.tenants, &storage.Options{Logger: s.log.With("component", "bucket"), Egress: s.egress})
		resolve = s.buckets.Resolve
	}
	s.recordings = &Recordings{Buckets: resolve}
	if s.spool, err = storage.OpenSpool(storage.SpoolConfig{
		Dir:        cfg.SpoolDir,
		Resolve:    resolve,
		Workers:    s.cfg.UploadWorkers,
		MaxBackoff: s.cfg.UploadMaxBackoff,
		Logger:     s.log.With("component", "spool"),
		OnUploaded: func(it storage.Item) {
			s.log.Info("recording uploaded", "key", it.Key, "size", it.Size, "attempts", it.Attempts)
			s.recordingChanged(it, true)
			s.uploadSpan(it.Key, it.Size, it.Enqueued, it.Attempts)
			s.obs.RecordingUploaded(it)
		},
		OnFailed: func(it storage.Item) {
			s.recordingChanged(it, false)
			s.obs.UploadFailed(it)
		},
	}); err != nil {
		return nil, fmt.Errorf("srs: spool: %w", err)
	}
	if s.dir, err = recording.OpenDir(recording.DirConfig{
		Path:     cfg.RecordingDir,
		Uploader: &spool.Uploader{Spool: s.spool},
		Logger:   s.log.With("component", "recording"),
	}); err != nil {
		return nil, fmt.Errorf("srs: recording directory: %w", err)
	}

	rc := cfg.SIPREC
	rc.Policy = siprec.PolicyFunc(s.admit)
	rc.OnReject = s.onReject(rc.OnReject)
	if rc.Logger == nil {
		rc.Logger = s.log.With("component", "siprec")
	}
	if s.rec, err = siprec.NewServer(rc); err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	gc := cfg.Guard
	if gc.Tenants == nil {
		gc.Tenants = s.tenants
	}
	gc.Dialogs = s.rec
	gc.OnDecision = s.onDecision(gc.OnDecision)
	gc.QuietInitialInvites = true // onDecision logs each refused call once
	if gc.Logger == nil {
		gc.Logger = s.log.With("component", "guard")
	}
	if s.guard, err = sip.NewGuard(gc); err != nil {
		return nil, fmt.Errorf("srs: guard: %w", err)
	}

	if s.sip = cfg.SIP; s.sip == nil {
		if s.ua, s.sip, err = newSIPServer(s.cfg.UserAgent, s.cfg.TCP.MaxMessageSize, s.log.With("component", "sipgo")); err != nil {
			return nil, fmt.Errorf("srs: sip: %w", err)
		}
	}
	if err := s.rec.Register(s.bg, s.sip, s.timeGuard(s.guard.Wrap)); err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	return s, nil
}

func (s *Server) defaults() {
	c := &s.cfg
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.UploadWorkers <= 0 {
		c.UploadWorkers = DefaultUploadWorkers
	}
	if c.UploadMaxBackoff <= 0 {
		c.UploadMaxBackoff = DefaultUploadMaxBackoff
	}
	if c.WebhookTries <= 0 {
		c.WebhookTries = DefaultWebhookTries
	}
	if c.FinishTimeout <= 0 {
		c.FinishTimeout = DefaultFinishTimeout
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
}

// ListenSIP listens on addr (host:port) for UDP, TCP or both, on the same
// port: a SIP server is reached on one port whatever the transport. With
// port 0 it takes a free UDP port that is free for TCP too. Pass what it
// returns as Config.PacketConns and Config.Listeners.
func ListenSIP(addr string, udp, tcp bool) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("srs: %w", err)
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
				return nil, nil, fmt.Errorf("srs: %w", err)
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
			return nil, nil, fmt.Errorf("srs: %w", err)
		}
	}
	return nil, nil, fmt.Errorf("srs: no port free for both UDP and TCP on %s", host)
}

// newSIPServer makes a sipgo user agent and server logging to log through
// sip's filter (no digest material, bounded excerpts, rate-limited), with a
// parser for messages up to maxMessage bytes. sipgo's ERROR lines are
// written as warnings: they are about one peer (a response it no longer
// takes, a connection it closed), not about the server.
func newSIPServer(name string, maxMessage int, log *slog.Logger) (*sipgo.UserAgent, *sipgo.Server, error) {
	log = sip.FilterLogger(log, sip.LogFilterConfig{Demote: sip.DemoteSipgo})
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(name),
		sipgo.WithUserAgentParser(sip.NewSipgoParser(maxMessage)),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(log)),
	)
	if err != nil {
		return nil, nil, err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		_ = ua.Close()
		return nil, nil, err
	}
	return ua, srv, nil
}

// TenantCache returns the cache of accounts the Guard and the admission
// read: call its Invalidate after changing an account.
func (s *Server) TenantCache() *TenantCache { return s.tenants }

// Invalidate drops what the Server cached of the accounts sids: their
// tenants (realm lookups, allowlists, SIP users: every realm, so a changed
// realm stops resolving at once), the accounts the admission and webhooks
// read, and their open buckets (the next upload opens the bucket the
// account names now). Call it when an account changed, for example from an
// admin API's change notifier; the TenantCache's TTL only bounds changes
// made where no one calls it.
func (s *Server) Invalidate(sids ...tenancy.SID) {
	s.tenants.Invalidate(sids...)
	if s.buckets != nil {
		s.buckets.Invalidate(sids...)
	}
}

// SIP returns the sipgo server the Server's handlers are registered on.
func (s *Server) SIP() *sipgo.Server { return s.sip }

// Spool returns the upload spool (to watch what waits: Len, List).
func (s *Server) Spool() *storage.Spool { return s.spool }

// ActiveSessions returns how many sessions are in progress.
func (s *Server) ActiveSessions() int { return int(s.active.Load()) }

// ShuttingDown reports whether Shutdown or Close was called.
func (s *Server) ShuttingDown() bool { return s.closing.Load() }

// Ready returns a channel closed once Serve has recovered what a crash
// left and serves SIP.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Serve starts the Server: it starts the upload spool (and the limiter's
// Run, if it has one), completes what a crash or an interrupted shutdown
// left (Recover), then serves Config.PacketConns and Config.Listeners and
// takes calls until Shutdown or Close, and returns ErrServerClosed. When a
// listener fails, Serve returns its error and the Server keeps running:
// call Shutdown. When ctx ends, Serve closes the Server (no graceful
// shutdown; see Run) and returns ctx's error.
func (s *Server) Serve(ctx context.Context) error {
	if !s.serving.CompareAndSwap(false, true) {
		return ErrServing
	}
	if s.closing.Load() {
		return ErrServerClosed
	}
	s.goBackground(func(ctx context.Context) { _ = s.spool.Run(ctx) })
	if r, ok := s.limiter.(interface{ Run(context.Context) error }); ok {
		s.goBackground(func(ctx context.Context) { _ = r.Run(ctx) })
	}
	if err := s.tenants.Preload(ctx); err != nil {
		s.log.Warn("could not read the accounts ahead: each is read at its first request", "error", err)
	}
	s.recover(ctx)
	if s.cfg.RetryInterval > 0 {
		s.goBackground(s.retryLoop)
	}
	errc := make(chan error, len(s.cfg.PacketConns)+len(s.cfg.Listeners)+len(s.cfg.TLSListeners))
	for i, pc := range s.cfg.PacketConns {
		if _, ok := pc.(*sip.PacketConn); !ok {
			uc := s.cfg.UDP
			if uc.Logger == nil {
				uc.Logger = s.log.With("component", "transport")
			}
			pc = sip.NewPacketConn(pc, uc)
			s.cfg.PacketConns[i] = pc
		}
		go func() { errc <- s.sip.ServeUDP(pc) }()
	}
	for i, l := range s.cfg.Listeners {
		if _, ok := l.(*sip.Listener); !ok {
			l = sip.NewListener(l, s.listenerConfig(nil))
			s.cfg.Listeners[i] = l
		}
		go func() { errc <- s.sip.ServeTCP(l) }()
	}
	for i, l := range s.cfg.TLSListeners {
		if _, ok := l.(*sip.Listener); !ok {
			l = sip.NewListener(l, s.listenerConfig(s.cfg.TLS))
			s.cfg.TLSListeners[i] = l
		}
		go func() { errc <- s.sip.ServeTLS(l) }()
	}
	close(s.ready)
	s.log.Info("recording server ready", "udp", len(s.cfg.PacketConns), "tcp", len(s.cfg.Listeners), "tls", len(s.cfg.TLSListeners))
	select {
	case <-s.stopped:
		return ErrServerClosed
	case err := <-errc:
		if s.closing.Load() { // Shutdown or Close closed the listeners
			<-s.stopped
			return ErrServerClosed
		}
		if err == nil {
			err = net.ErrClosed
		}
		return fmt.Errorf("srs: serving SIP: %w", err)
	case <-ctx.Done():
		_ = s.Close()
		return ctx.Err()
	}
}

// listenerConfig is the sip.Listener configuration of a TCP listener, or
// of a TLS one with tc.
func (s *Server) listenerConfig(tc *tls.Config) sip.ListenerConfig {
	c := s.cfg.TCP
	if c.Logger == nil {
		c.Logger = s.log.With("component", "transport")
	}
	if c.InUse == nil {
		c.InUse = s.hasSessionFrom
	}
	if c.MaxConns == 0 {
		c.MaxConns = sip.DefaultMaxConns
		if lim, err := fdlimit.Get(); err == nil && lim.Soft > 0 {
			c.MaxConns = min(c.MaxConns, fdlimit.ConnBudget(lim, int(lim.Soft/2)))
		}
	}
	c.TLS = tc
	return c
}

// Run is Serve with a graceful end: when ctx ends it calls Shutdown with
// Config.ShutdownTimeout and returns Shutdown's error (nil when everything
// was finished and uploaded). A listener failure shuts down the same way
// and is returned.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.WithoutCancel(ctx)) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, ErrServerClosed) {
			return nil
		}
		s.log.Error("stopping after a failure", "error", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(err, s.Shutdown(sctx))
}

// Shutdown stops the Server gracefully: new calls are refused (503 with
// Retry-After), every active session gets a BYE and its recording is
// finalized and handed to the spool, its document stored and its webhook
// sent; then Shutdown waits for the spool to upload everything. SIP is
// served until that is done, so clients are still answered. When ctx ends
// first, what is left is completed at the next start: the error wraps
// ctx's error, and ErrSpoolNotEmpty when recordings wait in the spool.
// Serve returns ErrServerClosed once Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	n := len(s.rec.Sessions())
	var errs []error
	if err := s.rec.Shutdown(ctx); err != nil {
		s.log.Warn("shutdown: not every BYE was sent", "error", err)
		errs = append(errs, err)
	}
	select {
	case <-s.finishIdle():
	case <-ctx.Done():
		s.log.Warn("shutdown timeout: some ended sessions were not completed (recording, document or webhook); the next start completes them")
		errs = append(errs, ctx.Err())
	}
	if err := s.spool.WaitEmpty(ctx); err != nil {
		s.log.Warn("shutdown: recordings left in the spool; they are uploaded at the next start", "waiting", s.spool.Len())
		errs = append(errs, fmt.Errorf("%w (%d): %w", ErrSpoolNotEmpty, s.spool.Len(), err))
	}
	s.stopServing()
	s.log.Info("recording server stopped", "sessions_ended", n, "recordings_spooled", s.spool.Len())
	return errors.Join(errs...)
}

// stopServing closes the listeners, stops the background work (finishing
// still under way is cancelled: the journal keeps it for the next start)
// and lets Serve return.
func (s *Server) stopServing() {
	s.stopOnce.Do(func() {
		for _, pc := range s.cfg.PacketConns {
			_ = pc.Close()
		}
		for _, l := range s.cfg.Listeners {
			_ = l.Close()
		}
		for _, l := range s.cfg.TLSListeners {
			_ = l.Close()
		}
		s.stopBG()
		s.finMu.Lock()
		s.finClosed = true
		s.finMu.Unlock()
		<-s.finishIdle()
		s.bgWG.Wait()
		close(s.stopped)
	})
}

// Close stops the Server at once: new calls are refused, active sessions
// end without waiting for their BYEs, listeners are closed, and the spool,
// the recording directory and what New made are released. Sessions not
// finished are completed at the next start. Call it after Shutdown too.
func (s *Server) Close() error {
	s.closing.Store(true)
	if s.rec != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.rec.Shutdown(ctx) // ends every session; BYEs are not awaited
	}
	s.stopServing()
	return s.release()
}

// release closes what New opened.
func (s *Server) release() error {
	var errs []error
	s.closeOnce.Do(func() {
		s.stopBG()
		if s.ua != nil {
			errs = append(errs, s.ua.Close())
		}
		if s.spool != nil {
			errs = append(errs, s.spool.Close())
		}
		if s.buckets != nil {
			errs = append(errs, s.buckets.Close())
		}
	})
	return errors.Join(errs...)
}

// hasSessionFrom reports whether a session in progress was set up from
// remote (a TCP connection that carries it stays open while idle).
func (s *Server) hasSessionFrom(remote netip.AddrPort) bool {
	for _, sess := range s.rec.Sessions() {
		if sess.Source() == remote {
			return true
		}
	}
	return false
}

// beginFinish counts one more finishing under way, unless the Server
// stopped; the caller calls finDone when it is over.
func (s *Server) beginFinish() bool {
	s.finMu.Lock()
	defer s.finMu.Unlock()
	if s.finClosed {
		return false
	}
	s.finN++
	return true
}

func (s *Server) finDone() {
	s.finMu.Lock()
	defer s.finMu.Unlock()
	if s.finN--; s.finN == 0 {
		for _, c := range s.finWaiters {
			close(c)
		}
		s.finWaiters = nil
	}
}

// finishIdle returns a channel closed when no session is being finished.
func (s *Server) finishIdle() <-chan struct{} {
	s.finMu.Lock()
	defer s.finMu.Unlock()
	c := make(chan struct{})
	if s.finN == 0 {
		close(c)
	} else {
		s.finWaiters = append(s.finWaiters, c)
	}
	return c
}

// goBackground runs f until the Server stops.
func (s *Server) goBackground(f func(context.Context)) {
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		f(s.bg)
	}()
}
