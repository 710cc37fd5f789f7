// Package siptest sets up sipgo user agents, servers and clients on the
// loopback interface for the module's tests: the setup every SIP test of
// sip, siprec and siprec/srs used to paste (a user agent whose transport
// and transaction layers log nowhere, a server or client on it, one port
// for both UDP and TCP, everything closed when the test ends).
//
//	srv, _ := siptest.NewServer(t, siptest.Config{})
//	srv.OnOptions(handler)
//	addr := siptest.Serve(t, srv) // "127.0.0.1:port", UDP and TCP
//	c, _ := siptest.NewClient(t, siptest.Config{})
//	res, err := c.Do(ctx, req)
//
// It is for tests only (it takes a testing.TB and fails it on error);
// runnable Examples keep their sipgo setup in the open, since that is what
// a reader copies.
package siptest

import (
	"log/slog"
	"net"
	"testing"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
)

// Host is the loopback address user agents, clients and listeners use
// unless told otherwise.
const Host = "127.0.0.1"

// Config configures a user agent and what runs on it. The zero value is a
// user agent on 127.0.0.1 whose logs are discarded.
type Config struct {
	// Host is the user agent's and the client's hostname (Via, Contact,
	// From): a loopback address. "" means 127.0.0.1. Another loopback
	// address (127.0.0.2) stands for another host: a client on it also
	// sends from it.
	Host string
	// NoHost leaves the user agent's hostname to sipgo (what a server that
	// never sends requests of its own is happy with).
	NoHost bool
	// Logger receives what sipgo logs (transport, transaction, server,
	// client). nil discards it.
	Logger *slog.Logger
}

func (c Config) host() string {
	if c.Host == "" {
		return Host
	}
	return c.Host
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// NewUA returns a sipgo user agent configured by cfg, closed when tb ends.
func NewUA(tb testing.TB, cfg Config) *sipgo.UserAgent {
	tb.Helper()
	log := cfg.logger()
	opts := []sipgo.UserAgentOption{
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(log)),
	}
	if !cfg.NoHost {
		opts = append(opts, sipgo.WithUserAgentHostname(cfg.host()))
	}
	ua, err := sipgo.NewUA(opts...)
	if err != nil {
		tb.Fatalf("siptest: user agent: %v", err)
	}
	tb.Cleanup(func() { _ = ua.Close() })
	return ua
}

// NewServer returns a sipgo server on a new user agent (see NewUA). Serve
// it with Serve, or on listeners of the test's own.
func NewServer(tb testing.TB, cfg Config) (*sipgo.Server, *sipgo.UserAgent) {
	tb.Helper()
	ua := NewUA(tb, cfg)
	return ServerOn(tb, ua, cfg), ua
}

// ServerOn returns a sipgo server on ua, logging to cfg.Logger.
func ServerOn(tb testing.TB, ua *sipgo.UserAgent, cfg Config) *sipgo.Server {
	tb.Helper()
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.logger()))
	if err != nil {
		tb.Fatalf("siptest: server: %v", err)
	}
	return srv
}

// NewClient returns a sipgo client on a new user agent (see NewUA), with
// cfg's hostname; a client on a loopback address other than 127.0.0.1 also
// sends from that address. opts are added after those.
func NewClient(tb testing.TB, cfg Config, opts ...sipgo.ClientOption) (*sipgo.Client, *sipgo.UserAgent) {
	tb.Helper()
	ua := NewUA(tb, cfg)
	return ClientOn(tb, ua, cfg, opts...), ua
}

// ClientOn returns a sipgo client on ua, as NewClient does.
func ClientOn(tb testing.TB, ua *sipgo.UserAgent, cfg Config, opts ...sipgo.ClientOption) *sipgo.Client {
	tb.Helper()
	all := []sipgo.ClientOption{sipgo.WithClientLogger(cfg.logger())}
	if !cfg.NoHost {
		all = append(all, sipgo.WithClientHostname(cfg.host()))
		if h := cfg.host(); h != Host {
			all = append(all, sipgo.WithClientConnectionAddr(h+":0"))
		}
	}
	c, err := sipgo.NewClient(ua, append(all, opts...)...)
	if err != nil {
		tb.Fatalf("siptest: client: %v", err)
	}
	return c
}

// ListenBoth listens on one loopback port for both UDP and TCP (UDP on a
// free port first, then TCP on the same number, retried when another
// process holds it). Both are closed when tb ends.
func ListenBoth(tb testing.TB) (net.PacketConn, net.Listener) {
	tb.Helper()
	for range 50 {
		pc, err := net.ListenPacket("udp", Host+":0")
		if err != nil {
			tb.Fatalf("siptest: listen UDP: %v", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			tb.Cleanup(func() { _ = pc.Close(); _ = l.Close() })
			return pc, l
		}
		_ = pc.Close()
	}
	tb.Fatal("siptest: no loopback port free for both UDP and TCP")
	return nil, nil
}

// Serve serves srv on UDP and TCP on one loopback port (ListenBoth) until
// tb ends, and returns that address ("127.0.0.1:port").
func Serve(tb testing.TB, srv *sipgo.Server) string {
	tb.Helper()
	pc, l := ListenBoth(tb)
	go func() { _ = srv.ServeUDP(pc) }()
	go func() { _ = srv.ServeTCP(l) }()
	return pc.LocalAddr().String()
}
