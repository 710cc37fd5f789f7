package main

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/voicegw/voicegw/sip"
)

// connLimitListener caps the HTTP API's connections in total and per source
// address (an IPv4 address or an IPv6 /64): one more is closed at accept,
// before net/http reads from it. Without it one source could hold every
// file descriptor of the process with idle connections (each kept up to
// the server's ReadHeaderTimeout and reopened), which the recording server
// needs for calls, RTP and recordings. http.max_conns and
// http.max_conns_per_source configure it; 0 or less: no cap of that kind.
type connLimitListener struct {
	net.Listener
	max, perSource int
	log            *slog.Logger

	mu      sync.Mutex
	open    int
	sources map[netip.Prefix]int
	refused int       // since the last log line
	logged  time.Time // of the last log line
}

func newConnLimitListener(l net.Listener, max, perSource int, log *slog.Logger) net.Listener {
	if max <= 0 && perSource <= 0 {
		return l
	}
	return &connLimitListener{Listener: l, max: max, perSource: perSource, log: log, sources: map[netip.Prefix]int{}}
}

// sourceOf is the prefix a connection's remote address is counted by.
func sourceOf(a net.Addr) netip.Prefix {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}
	}
	ip := ta.AddrPort().Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err // net/http backs off on temporary errors (EMFILE)
		}
		src := sourceOf(c.RemoteAddr())
		l.mu.Lock()
		over := (l.max > 0 && l.open >= l.max) || (l.perSource > 0 && l.sources[src] >= l.perSource)
		if !over {
			l.open++
			l.sources[src]++
			l.mu.Unlock()
			return &limitedConn{Conn: c, l: l, src: src}, nil
		}
		l.refused++
		var refused int
		if now := time.Now(); now.Sub(l.logged) >= time.Minute {
			refused, l.refused, l.logged = l.refused, 0, now
		}
		open, fromSrc := l.open, l.sources[src]
		l.mu.Unlock()
		_ = c.Close()
		if refused > 0 {
			l.log.Warn("HTTP connection limit reached; closing new connections", "source", src.String(), "open", open,
				"open_from_source", fromSrc, "max_conns", l.max, "max_conns_per_source", l.perSource, "refused_since_last_line", refused)
		}
	}
}

func (l *connLimitListener) release(src netip.Prefix) {
	l.mu.Lock()
	l.open--
	if l.sources[src]--; l.sources[src] <= 0 {
		delete(l.sources, src)
	}
	l.mu.Unlock()
}

// limitedConn gives its place back once, when closed.
type limitedConn struct {
	net.Conn
	l    *connLimitListener
	src  netip.Prefix
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.src) })
	return err
}

// requestLog is the logger of an HTTP handler that logs a line per failed
// request (admin.Config.Logger, insights.HandlerConfig.Logger): through
// sip.NewLogFilter, each kind of line at most sip.DefaultLogBurst times a
// minute, the rest counted in the next one's "suppressed". Clients decide
// how many requests fail: 2,000 wrong keys (401, then 429) wrote 330 KB of
// log to the admin API and 420 KB to the Insights API, in half a second.
func requestLog(log *slog.Logger, component string) *slog.Logger {
	return sip.FilterLogger(log.With("component", component), sip.LogFilterConfig{})
}
