package sip

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip/connlimit"
)

// Defaults of ListenerConfig (and of MaxMessageSize: DefaultMaxMessageSize;
// of LogInterval: DefaultLogInterval).
const (
	DefaultMaxConns          = 4096
	DefaultMaxConnsPerSource = 128
	DefaultMessageTimeout    = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Hour
	DefaultWriteTimeout      = 10 * time.Second
	DefaultMaxAcceptBackoff  = time.Second
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultNewConnRate       = 10
	DefaultNewConnBurst      = 20
)

// ListenerConfig configures a Listener. The zero value works: every field
// has a documented default.
type ListenerConfig struct {
	// Allow decides at accept time whether a source address may connect
	// (a gateway passes the union of its tenants' allowlists, see
	// Allowlist.Allows); a refused connection is closed before sipgo sees
	// it. The tenant's own allowlist is still the Guard's to check.
	// Default nil: every address.
	Allow func(netip.Addr) bool
	// MaxConns caps the connections open at once; one more is closed at
	// accept. Keep it below the process's file descriptor limit
	// (RLIMIT_NOFILE: see sip/fdlimit, whose ConnBudget sizes it), or
	// Accept meets "too many open files" first (which it survives, but then
	// the kernel's backlog, not this cap, decides who waits). Default
	// DefaultMaxConns (4096); negative: no cap.
	MaxConns int
	// MaxConnsPerSource caps the connections of one source (an IPv4
	// address, or an IPv6 /64), so one peer cannot take them all.
	// Phones behind one NAT share a source: raise it for a registrar
	// that serves many. Default DefaultMaxConnsPerSource (128); negative:
	// no cap.
	MaxConnsPerSource int
	// NewConnRate limits how fast one source (an IPv4 address, or an IPv6
	// /64) opens connections, in connections a second, sustained: a token
	// bucket per source holds NewConnBurst tokens, refills at NewConnRate
	// a second, and each new connection takes one. A connection finding
	// the bucket empty is closed at accept (EventOverRate), after Allow
	// and before the connection caps, the TLS handshake or any read: a
	// source cannot make the server do handshakes (an ECDHE exchange and a
	// signature each) faster than this, however quickly it connects and
	// closes, under the per-source cap. Real peers open a few connections
	// and keep them; an SBC reconnecting after a failure opens a burst.
	// The Listener tracks at most 16,384 sources at once (about 4.2 MB);
	// sources idle long enough to have refilled are forgotten as new ones
	// come, and while the table is full of busy ones, every source not in
	// it shares one more bucket of the same rate and burst (so cycling
	// through more sources than the table holds never restores a full
	// bucket; honest new sources then share that bucket with the
	// spray's). Phones behind one NAT share a source: raise it for a
	// registrar that serves many. Default DefaultNewConnRate (10 a
	// second); negative or +Inf: no limit (NaN: the default).
	NewConnRate float64
	// NewConnBurst is how many connections a source may open at once
	// before NewConnRate applies (the size of its bucket). Default
	// DefaultNewConnBurst (20); 0 or less: the default.
	NewConnBurst int
	// MessageTimeout is how long a connection may take to deliver a
	// complete SIP message: the first one counted from accept (so a
	// connection that sends nothing, or only keep-alives, is closed after
	// it), each later one from its first byte (so one cannot be trickled
	// forever). Default DefaultMessageTimeout (30 s).
	MessageTimeout time.Duration
	// IdleTimeout closes a connection that has delivered nothing, neither
	// a message nor a CRLF keep-alive (RFC 5626 §3.5.1), for this long
	// after its last one. A recording session can be quiet for an hour or
	// more between its INVITE and its BYE, and a peer expects the BYE (or
	// its own) to use the same connection, so the default is longer than
	// such calls: DefaultIdleTimeout (2 h); peers that send keep-alives
	// (RFC 5626 flows, OPTIONS pings) are never idle. Negative: never.
	IdleTimeout time.Duration
	// InUse, when set, is asked when a connection reaches IdleTimeout;
	// true keeps it for another IdleTimeout (a dialog owner answers
	// whether the peer at remote has live dialogs). Default nil.
	InUse func(remote netip.AddrPort) bool
	// WriteTimeout bounds each write to a connection (a peer that does
	// not read its answers cannot hold the goroutines writing them); a
	// write that times out closes the connection. Default
	// DefaultWriteTimeout (10 s); negative: none.
	WriteTimeout time.Duration
	// MaxMessageSize is the largest SIP message handed to sipgo, header
	// section and body. A larger request is answered 513 Message Too
	// Large and dropped whole: the connection goes on with the next
	// message, unless the header section alone is over the limit (there
	// is then no end to find; the connection is closed after the answer).
	// Above DefaultMaxMessageSize, give sipgo a parser with room for it
	// (NewSipgoParser). Default DefaultMaxMessageSize (65,535).
	MaxMessageSize int
	// MaxAcceptBackoff is the longest pause after a failed Accept; pauses
	// start at 5 ms and double. Default DefaultMaxAcceptBackoff (1 s).
	MaxAcceptBackoff time.Duration
	// LogInterval is the least time between two log lines of one kind of
	// trouble (accept errors, limits reached). Default DefaultLogInterval
	// (1 minute).
	LogInterval time.Duration
	// Logger receives the Listener's lines. Nil discards.
	Logger *slog.Logger
	// OnEvent, when set, is called for every event (see
	// TransportEventKind), on the goroutine of Accept or of the
	// connection's reader: count, do not block. Default nil.
	OnEvent func(TransportEvent)
	// TLS, when set, makes the Listener one for SIP over TLS (RFC 3261
	// §26.2; serve it with sipgo.Server.ServeTLS). The layers stay in the
	// order that keeps a peer's cost low: Allow, the rate limit and the
	// connection caps apply to the TCP connection at accept, before any
	// handshake; the handshake runs on the connection's first read (not in
	// Accept, so a slow one holds no other), bounded by HandshakeTimeout;
	// the message and idle timeouts, the size limit and the write timeout
	// apply to the decrypted stream, where the SIP framing is. Set
	// ClientAuth and ClientCAs for mutual TLS; TLSFiles.ServerConfig gives
	// a configuration whose certificate files reload. Default nil: plain
	// TCP.
	TLS *tls.Config
	// HandshakeTimeout bounds the TLS handshake, counted from accept; a
	// connection that has not completed it by then is closed
	// (EventHandshakeFailed). Default DefaultHandshakeTimeout (10 s).
	HandshakeTimeout time.Duration
}

// ListenerStats counts what a Listener did since it was made.
type ListenerStats struct {
	// Open is the number of connections open now.
	Open int
	// The counts of each TransportEventKind.
	Accepted, Refused, OverLimit, OverSourceLimit, AcceptErrors, MessageTimeouts, IdleTimeouts, TooLarge, Closed uint64
	// HandshakeFailures counts failed TLS handshakes (EventHandshakeFailed).
	HandshakeFailures uint64
	// OverRate counts connections closed at accept by the per-source
	// rate limit (EventOverRate).
	OverRate uint64
}

// Listener is a net.Listener for SIP over TCP in front of sipgo
// (sipgo.Server.ServeTCP), which on its own returns on the first failed
// Accept (a flood of connections that exhausts the file descriptors stops
// the server) and never closes a connection: see ListenerConfig for what
// it adds. Accept returns only when the Listener is closed. Wrap the TCP
// listener itself, not a tls.Listener (whose connections hide the SIP
// framing): with ListenerConfig.TLS the Listener does the TLS itself,
// between its accept-time checks and its framing (serve it with
// sipgo.Server.ServeTLS).
type Listener struct {
	inner  net.Listener
	cfg    ListenerConfig
	log    *slog.Logger
	parser *sipgosip.Parser
	done   chan struct{}
	once   sync.Once

	conns *connlimit.Counter // MaxConns and MaxConnsPerSource
	rate  *rateTable         // NewConnRate and NewConnBurst; nil: no limit
	epoch time.Time          // the origin of rate's clock (monotonic)

	acceptLog, limitLog, largeLog, rateLog logEvery
	counts                                 [eventKinds]atomic.Uint64
}

// NewListener wraps l.
func NewListener(l net.Listener, cfg ListenerConfig) *Listener {
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnsPerSource == 0 {
		cfg.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	if cfg.MessageTimeout <= 0 {
		cfg.MessageTimeout = DefaultMessageTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.MaxAcceptBackoff <= 0 {
		cfg.MaxAcceptBackoff = DefaultMaxAcceptBackoff
	}
	if cfg.LogInterval <= 0 {
		cfg.LogInterval = DefaultLogInterval
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.NewConnRate == 0 || math.IsNaN(cfg.NewConnRate) {
		cfg.NewConnRate = DefaultNewConnRate
	}
	if cfg.NewConnBurst <= 0 {
		cfg.NewConnBurst = DefaultNewConnBurst
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln := &Listener{
		inner: l, cfg: cfg, log: log, parser: sipgosip.NewParser(), done: make(chan struct{}),
		conns:     connlimit.NewCounter(connlimit.Limits{Max: cfg.MaxConns, PerSource: cfg.MaxConnsPerSource}),
		acceptLog: logEvery{interval: cfg.LogInterval}, limitLog: logEvery{interval: cfg.LogInterval},
		largeLog: logEvery{interval: cfg.LogInterval}, rateLog: logEvery{interval: cfg.LogInterval},
		epoch: time.Now(),
	}
	if cfg.NewConnRate > 0 && !math.IsInf(cfg.NewConnRate, 1) {
		ln.rate = newRateTable(cfg.NewConnRate, cfg.NewConnBurst, rateSources)
	}
	return ln
}

// Addr is the wrapped listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Close closes the wrapped listener: Accept returns, open connections stay.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.inner.Close()
}

// Stats returns the Listener's counts.
func (l *Listener) Stats() ListenerStats {
	open, _ := l.conns.Open(netip.Prefix{})
	c := func(k TransportEventKind) uint64 { return l.counts[k].Load() }
	return ListenerStats{
		Open: open, Accepted: c(EventAccepted), Refused: c(EventRefused), OverLimit: c(EventOverLimit),
		OverSourceLimit: c(EventOverSourceLimit), AcceptErrors: c(EventAcceptError), MessageTimeouts: c(EventMessageTimeout),
		IdleTimeouts: c(EventIdleTimeout), TooLarge: c(EventTooLarge), Closed: c(EventClosed),
		HandshakeFailures: c(EventHandshakeFailed), OverRate: c(EventOverRate),
	}
}

func (l *Listener) event(k TransportEventKind, remote netip.AddrPort, err error) {
	l.counts[k].Add(1)
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(TransportEvent{Kind: k, Remote: remote, Err: err})
	}
}

// Accept returns the next connection that passes Allow and the limits.
// A failed accept of the wrapped listener (EMFILE, ENFILE, ECONNABORTED…)
// is counted, logged at most once per LogInterval, and followed by a pause
// (5 ms doubling up to MaxAcceptBackoff); only Close ends Accept, with an
// error matching net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			select {
			case <-l.done:
				if !errors.Is(err, net.ErrClosed) {
					err = net.ErrClosed // a failure of the inner listener met after Close
				}
				return nil, err
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			l.event(EventAcceptError, netip.AddrPort{}, err)
			if n, ok := l.acceptLog.due(time.Now()); ok {
				l.log.Warn("accepting a connection failed; pausing and going on", "error", err, "failures_since_last_line", n)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), l.cfg.MaxAcceptBackoff)
			t := time.NewTimer(backoff)
			select {
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			case <-t.C:
			}
			continue
		}
		backoff = 0
		src := addrPortOf(c.RemoteAddr())
		if l.cfg.Allow != nil && !l.cfg.Allow(src.Addr()) {
			_ = c.Close()
			l.event(EventRefused, src, nil)
			continue
		}
		key := connlimit.Source(src.Addr())
		if l.rate != nil && !l.rate.allow(key, int64(time.Since(l.epoch))) {
			l.event(EventOverRate, src, nil) // counted before the peer sees the close
			_ = c.Close()
			if n, ok := l.rateLog.due(time.Now()); ok {
				l.log.Warn("connection rate limit reached; closing new connections of the source", "source", src.String(),
					"new_conn_rate", l.cfg.NewConnRate, "new_conn_burst", l.cfg.NewConnBurst, "refused_since_last_line", n)
			}
			continue
		}
		if k := l.reserve(key); k != 0 {
			_ = c.Close()
			l.event(k, src, nil)
			if n, ok := l.limitLog.due(time.Now()); ok {
				l.log.Warn("connection limit reached; closing new connections", "limit", k.String(), "source", src.String(),
					"max_conns", l.cfg.MaxConns, "max_conns_per_source", l.cfg.MaxConnsPerSource, "refused_since_last_line", n)
			}
			continue
		}
		l.event(EventAccepted, src, nil)
		now := time.Now()
		lc := &limitedConn{Conn: c, l: l, src: src, key: key, accepted: now, lastActive: now}
		if l.cfg.TLS != nil {
			lc.tls = tls.Server(c, l.cfg.TLS)
			lc.Conn = lc.tls
		}
		lc.fr.max = l.cfg.MaxMessageSize
		return lc, nil
	}
}

// reserve takes a place for a connection from key, or says which limit
// refuses it.
func (l *Listener) reserve(key netip.Prefix) TransportEventKind {
	switch l.conns.Acquire(key) {
	case nil:
		return 0
	case connlimit.ErrOverLimit:
		return EventOverLimit
	}
	return EventOverSourceLimit
}

// logEvery lets a kind of log line through at most once per interval,
// counting the occurrences in between.
type logEvery struct {
	interval time.Duration
	mu       sync.Mutex
	last     time.Time
	n        int
}

// due counts one occurrence and reports whether to log it now, with the
// occurrences since the last line.
func (e *logEvery) due(now time.Time) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if !e.last.IsZero() && now.Sub(e.last) < e.interval {
		return 0, false
	}
	n := e.n
	e.last, e.n = now, 0
	return n, true
}

// limitedConn is a connection of a Listener: it follows the SIP framing
// of what it reads (streamFramer) to apply MessageTimeout, IdleTimeout and
// MaxMessageSize, and bounds writes by WriteTimeout. Only one goroutine
// reads (sipgo's reader).
type limitedConn struct {
	net.Conn
	l        *Listener
	src      netip.AddrPort
	key      netip.Prefix
	closeMu  sync.Once
	fr       streamFramer
	out      []byte // framer output still to hand out
	off      int
	dead     bool // the stream cannot go on: close at the next Read
	readSet  time.Time
	accepted time.Time
	tls      *tls.Conn // over TLS: Conn is this, around the TCP connection
	shook    bool      // the TLS handshake is done

	msgStart, lastActive time.Time
	hadMessage           bool

	mu                  sync.Mutex
	userRead, userWrite time.Time
}

// Read hands on the stream, less the messages refused as too large, and
// closes the connection (returning io.EOF, which sipgo takes quietly) at
// a timeout of the Listener's.
func (c *limitedConn) Read(b []byte) (int, error) {
	for {
		if c.off < len(c.out) {
			n := copy(b, c.out[c.off:])
			c.off += n
			return n, nil
		}
		c.out, c.off = nil, 0
		if c.dead {
			_ = c.Close()
			return 0, io.EOF
		}
		if c.tls != nil && !c.shook {
			if err := c.handshake(); err != nil {
				return 0, io.EOF
			}
		}
		ours, kind := c.deadline()
		if err := c.armRead(ours); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(b)
		if n > 0 {
			out, ok := c.fr.feed(b[:n], c)
			c.dead = !ok
			if len(out) > 0 && !c.fr.fromReady {
				return len(out), nil
			}
			c.out = out
			continue
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && !ours.IsZero() && !time.Now().Before(ours) {
			if kind == EventIdleTimeout && c.l.cfg.InUse != nil && c.l.cfg.InUse(c.src) {
				c.lastActive = time.Now()
				continue
			}
			c.l.event(kind, c.src, nil)
			c.l.log.Debug("closing a connection", "reason", kind.String(), "remote", c.src.String())
			_ = c.Close()
			return 0, io.EOF
		}
		return 0, err
	}
}

// handshake runs the TLS handshake within HandshakeTimeout of accept;
// a failure is counted and closes the connection.
func (c *limitedConn) handshake() error {
	d := c.accepted.Add(c.l.cfg.HandshakeTimeout)
	c.mu.Lock()
	d = earliest(d, c.userRead)
	c.mu.Unlock()
	_ = c.Conn.SetDeadline(d)
	err := c.tls.Handshake()
	_ = c.Conn.SetWriteDeadline(time.Time{})
	c.readSet = d
	if err != nil {
		c.l.event(EventHandshakeFailed, c.src, err)
		c.l.log.Debug("closing a connection: TLS handshake failed", "remote", c.src.String(), "error", err)
		_ = c.Close()
		return err
	}
	c.shook = true
	return nil
}

// ConnectionState returns the TLS state of a connection of a Listener
// with ListenerConfig.TLS (the peer's certificates under mutual TLS), and
// false for a plain TCP one or before the handshake.
func (c *limitedConn) ConnectionState() (tls.ConnectionState, bool) {
	if c.tls == nil {
		return tls.ConnectionState{}, false
	}
	st := c.tls.ConnectionState()
	return st, st.HandshakeComplete
}

// deadline is when the connection's current wait must end, and what it
// is.
func (c *limitedConn) deadline() (time.Time, TransportEventKind) {
	cfg := &c.l.cfg
	switch {
	case !c.fr.idle():
		return c.msgStart.Add(cfg.MessageTimeout), EventMessageTimeout
	case !c.hadMessage:
		return c.accepted.Add(cfg.MessageTimeout), EventMessageTimeout
	case cfg.IdleTimeout > 0:
		return c.lastActive.Add(cfg.IdleTimeout), EventIdleTimeout
	}
	return time.Time{}, 0
}

// armRead sets the read deadline: ours or the user's, whichever is first.
func (c *limitedConn) armRead(ours time.Time) error {
	c.mu.Lock()
	d := earliest(ours, c.userRead)
	c.mu.Unlock()
	if d.Equal(c.readSet) {
		return nil
	}
	c.readSet = d
	return c.Conn.SetReadDeadline(d)
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// The frameEvents of the connection's framer.

func (c *limitedConn) started() {
	c.msgStart = time.Now()
	if !c.hadMessage {
		c.msgStart = c.accepted // the first message is timed from accept
	}
}

func (c *limitedConn) completed() {
	c.hadMessage = true
	c.lastActive = time.Now()
}

func (c *limitedConn) keepalive() {
	if c.hadMessage {
		c.lastActive = time.Now()
	}
}

func (c *limitedConn) tooLarge(head []byte, final bool) {
	c.l.event(EventTooLarge, c.src, nil)
	if n, ok := c.l.largeLog.due(time.Now()); ok {
		c.l.log.Info("refused a message over the size limit with 513", "remote", c.src.String(), "max_message_size", c.l.cfg.MaxMessageSize, "refused_since_last_line", n)
	}
	transport := "TCP"
	if c.tls != nil {
		transport = "TLS"
	}
	if res := tooLargeReply(c.l.parser, head, c.src, transport); res != nil {
		_, _ = c.Write(res)
	}
	if final {
		c.dead = true
	}
}

// Write writes b within WriteTimeout, or closes the connection.
func (c *limitedConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	d := c.userWrite
	c.mu.Unlock()
	if t := c.l.cfg.WriteTimeout; t > 0 {
		d = earliest(time.Now().Add(t), d)
	}
	if !d.IsZero() {
		if err := c.Conn.SetWriteDeadline(d); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Write(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.l.log.Debug("closing a connection that does not read", "remote", c.src.String())
		_ = c.Close()
	}
	return n, err
}

// SetDeadline sets the deadlines of the caller (sipgo's ReadTimeout and
// WriteTimeout); the Listener's own still apply.
func (c *limitedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.userRead, c.userWrite = t, t
	c.mu.Unlock()
	return nil
}

// SetReadDeadline: see SetDeadline.
func (c *limitedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.userRead = t
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline: see SetDeadline.
func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.userWrite = t
	c.mu.Unlock()
	return nil
}

// Close closes the connection and gives back its place. Closing again is
// a no-op with a nil error: the Listener closes a connection at a timeout
// before sipgo does, and sipgo would log the second Close's error.
func (c *limitedConn) Close() error {
	var err error
	c.closeMu.Do(func() {
		err = c.Conn.Close()
		c.l.conns.Release(c.key)
		c.l.event(EventClosed, c.src, nil)
	})
	return err
}
