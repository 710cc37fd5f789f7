package connlimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLogInterval is the default of Config.LogInterval.
const DefaultLogInterval = time.Minute

// Config configures a Listener. The zero value caps nothing (the Listener
// then only counts).
type Config struct {
	// MaxConns caps the connections open at once; 0 or less: no cap.
	MaxConns int
	// MaxConnsPerSource caps the connections open at once from one Source
	// (an IPv4 address, an IPv6 /64); 0 or less: no cap. Clients behind
	// one NAT or proxy share a source.
	MaxConnsPerSource int
	// LogInterval is the least time between two log lines of refusals;
	// each line counts the refusals since the last one. Default
	// DefaultLogInterval (1 minute).
	LogInterval time.Duration
	// Logger receives the refusal lines (Warn). Nil discards.
	Logger *slog.Logger
	// OnRefuse, when set, is called for every connection closed at accept,
	// with its remote address and ErrOverLimit or ErrOverSourceLimit, on
	// the goroutine of Accept: count, do not block. Default nil.
	OnRefuse func(remote net.Addr, err error)
}

// Listener is a net.Listener that closes, at accept, each connection past
// its caps: the server behind it never sees it. A connection it returns
// gives its place back when closed (once, however often Close is called).
type Listener struct {
	net.Listener
	cfg     Config
	log     *slog.Logger
	counter *Counter
	refused atomic.Uint64

	logMu   sync.Mutex
	logged  time.Time // of the last refusal line
	pending int       // refusals since then
}

// NewListener wraps l in a Listener with cfg's caps.
func NewListener(l net.Listener, cfg Config) *Listener {
	if cfg.LogInterval <= 0 {
		cfg.LogInterval = DefaultLogInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: l, cfg: cfg, log: log,
		counter: NewCounter(Limits{Max: cfg.MaxConns, PerSource: cfg.MaxConnsPerSource})}
}

// Accept returns the next connection within the caps; the wrapped
// listener's errors are returned as they are (net/http backs off on
// temporary ones, such as too many open files).
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := SourceOf(c.RemoteAddr())
		err = l.counter.Acquire(src)
		if err == nil {
			return &conn{Conn: c, l: l, src: src}, nil
		}
		_ = c.Close()
		l.refuse(c.RemoteAddr(), src, err)
	}
}

// Refused returns how many connections the Listener closed at accept.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Open returns how many connections the Listener holds open.
func (l *Listener) Open() int {
	n, _ := l.counter.Open(netip.Prefix{})
	return n
}

func (l *Listener) refuse(remote net.Addr, src netip.Prefix, err error) {
	l.refused.Add(1)
	if l.cfg.OnRefuse != nil {
		l.cfg.OnRefuse(remote, err)
	}
	l.logMu.Lock()
	l.pending++
	n, now := 0, time.Now()
	if l.logged.IsZero() || now.Sub(l.logged) >= l.cfg.LogInterval {
		n, l.pending, l.logged = l.pending, 0, now
	}
	l.logMu.Unlock()
	if n > 0 {
		open, fromSrc := l.counter.Open(src)
		l.log.Warn("connection limit reached; closing new connections", "error", err, "source", src.String(), "open", open,
			"open_from_source", fromSrc, "max_conns", l.cfg.MaxConns, "max_conns_per_source", l.cfg.MaxConnsPerSource,
			"refused_since_last_line", n)
	}
}

// conn gives its place back once, when closed.
type conn struct {
	net.Conn
	l    *Listener
	src  netip.Prefix
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.counter.Release(c.src) })
	return err
}
