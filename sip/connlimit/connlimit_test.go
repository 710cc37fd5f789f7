package connlimit

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestSource(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"}, // IPv4-mapped: the IPv4 source
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"}, // same /64: same source
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	} {
		if got := Source(netip.MustParseAddr(tc.addr)); got.String() != tc.want {
			t.Errorf("Source(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
	if got := Source(netip.Addr{}); got.IsValid() {
		t.Errorf("Source(zero) = %s, want the zero Prefix", got)
	}
	if got := SourceOf(&net.TCPAddr{IP: net.ParseIP("192.0.2.9"), Port: 5060}); got.String() != "192.0.2.9/32" {
		t.Errorf("SourceOf(TCPAddr) = %s", got)
	}
	if got := AddrPortOf(&net.UDPAddr{IP: net.ParseIP("::ffff:192.0.2.9"), Port: 5060}); got.String() != "192.0.2.9:5060" {
		t.Errorf("AddrPortOf(IPv4-mapped UDPAddr) = %s, want 192.0.2.9:5060", got)
	}
	if got := AddrPortOf(fakeAddr("[2001:db8::1]:5061")); got.String() != "[2001:db8::1]:5061" {
		t.Errorf("AddrPortOf(host:port String) = %s", got)
	}
	if got := SourceOf(nil); got.IsValid() {
		t.Errorf("SourceOf(nil) = %s, want the zero Prefix", got)
	}
}

func TestCounter(t *testing.T) {
	a, b := Source(netip.MustParseAddr("192.0.2.1")), Source(netip.MustParseAddr("192.0.2.2"))
	c := NewCounter(Limits{Max: 3, PerSource: 2})
	for i, want := range []error{nil, nil, ErrOverSourceLimit} {
		if err := c.Acquire(a); err != want {
			t.Fatalf("Acquire(a) #%d = %v, want %v", i+1, err, want)
		}
	}
	if err := c.Acquire(b); err != nil {
		t.Fatalf("another source under its cap: %v", err)
	}
	if err := c.Acquire(b); !errors.Is(err, ErrOverLimit) {
		t.Fatalf("past the total cap: %v, want ErrOverLimit", err)
	}
	c.Release(a)
	if total, fromA := c.Open(a); total != 2 || fromA != 1 {
		t.Fatalf("after a Release: open %d, from a %d; want 2, 1", total, fromA)
	}
	if err := c.Acquire(b); err != nil {
		t.Fatalf("a place given back is taken again: %v", err)
	}
	c.Release(a)
	if _, fromA := c.Open(a); fromA != 0 || len(c.sources) != 1 {
		t.Fatalf("a source with nothing open is forgotten: from a %d, %d sources kept", fromA, len(c.sources))
	}
	none := NewCounter(Limits{})
	for range 1000 {
		if err := none.Acquire(a); err != nil {
			t.Fatalf("zero Limits refused: %v", err)
		}
	}
}

// TestCounterNoAlloc: counting a connection of a known source costs no
// allocation (the SIP listener counts at every accept).
// A Release without its Acquire (a caller's double close) does not free a
// place that is still taken: the total cap still holds.
func TestCounterUnmatchedRelease(t *testing.T) {
	c := NewCounter(Limits{Max: 2})
	a, b := Source(netip.MustParseAddr("192.0.2.1")), Source(netip.MustParseAddr("192.0.2.2"))
	c.Release(a) // never acquired
	if total, _ := c.Open(a); total != 0 {
		t.Fatalf("after a Release without Acquire: %d open, want 0", total)
	}
	if c.Acquire(a) != nil || c.Acquire(b) != nil {
		t.Fatal("two places under Max 2 refused")
	}
	c.Release(b)
	c.Release(b) // the second one has nothing to give back
	if err := c.Acquire(a); err != nil {
		t.Fatalf("a third place after b's one release: %v", err)
	}
	if err := c.Acquire(b); !errors.Is(err, ErrOverLimit) {
		t.Fatalf("a place past Max after a double Release: %v, want ErrOverLimit", err)
	}
}

func TestCounterNoAlloc(t *testing.T) {
	c := NewCounter(Limits{Max: 10, PerSource: 10})
	src := Source(netip.MustParseAddr("2001:db8::1"))
	_ = c.Acquire(src)
	if n := testing.AllocsPerRun(100, func() {
		if c.Acquire(src) == nil {
			c.Release(src)
		}
	}); n != 0 {
		t.Fatalf("Acquire+Release: %v allocations, want 0", n)
	}
}

// server accepts on a Listener over real loopback TCP and writes one
// byte to each connection it gets, which a client reads: a byte means
// served, EOF (or a reset) means closed at accept.
type server struct {
	l    *Listener
	mu   sync.Mutex
	held []net.Conn
	done chan struct{}
}

func serve(t *testing.T, cfg Config) *server {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{l: NewListener(inner, cfg), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := s.l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte{'k'})
			s.mu.Lock()
			s.held = append(s.held, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		s.l.Close()
		<-s.done
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.held {
			c.Close()
		}
	})
	return s
}

// dial connects from the local address ip and reports whether the
// connection was served.
func (s *server) dial(t *testing.T, ip string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", s.l.Addr().String())
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	b := make([]byte, 1)
	n, _ := c.Read(b)
	return c, n == 1
}

func (s *server) closeHeld(i int) {
	s.mu.Lock()
	c := s.held[i]
	s.mu.Unlock()
	c.Close()
	c.Close() // a second Close gives nothing back twice
}

func TestListenerCaps(t *testing.T) {
	var logs bytes.Buffer
	var refusals []error
	var mu sync.Mutex
	s := serve(t, Config{MaxConns: 5, MaxConnsPerSource: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnRefuse: func(_ net.Addr, err error) { mu.Lock(); refusals = append(refusals, err); mu.Unlock() }})
	served := 0
	for range 10 {
		if _, ok := s.dial(t, "127.0.0.1"); ok {
			served++
		}
	}
	if served != 3 || s.l.Refused() != 7 {
		t.Fatalf("10 connections from one source, cap 3: %d served, %d refused", served, s.l.Refused())
	}
	mu.Lock()
	for _, err := range refusals {
		if err != ErrOverSourceLimit {
			t.Fatalf("OnRefuse got %v, want ErrOverSourceLimit", err)
		}
	}
	mu.Unlock()
	if n := strings.Count(logs.String(), "connection limit reached"); n != 1 {
		t.Fatalf("7 refusals within the log interval: %d log lines, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "source=127.0.0.1/32") || !strings.Contains(logs.String(), "open_from_source=3") {
		t.Fatalf("the log line does not say the source and its count:\n%s", logs.String())
	}
	s.closeHeld(0)
	if _, ok := s.dial(t, "127.0.0.1"); !ok {
		t.Fatal("a closed connection's place was not given back")
	}
	if _, ok := s.dial(t, "127.0.0.1"); ok {
		t.Fatal("a connection closed twice gave back two places")
	}
	if s.l.Open() != 3 {
		t.Fatalf("Open = %d, want 3", s.l.Open())
	}
}

// TestListenerOtherSource: one source at its cap does not keep another
// out; the total cap does (Linux: every 127/8 address is local).
func TestListenerOtherSource(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("binding 127.0.0.2 needs Linux's loopback")
	}
	s := serve(t, Config{MaxConns: 4, MaxConnsPerSource: 2})
	for i, want := range []bool{true, true, false} {
		if _, ok := s.dial(t, "127.0.0.2"); ok != want {
			t.Fatalf("connection %d from the flooding source: served %v, want %v", i+1, ok, want)
		}
	}
	for i, want := range []bool{true, true, false} {
		if _, ok := s.dial(t, "127.0.0.3"); ok != want {
			t.Fatalf("connection %d from another source: served %v, want %v", i+1, ok, want)
		}
	}
	if _, ok := s.dial(t, "127.0.0.4"); ok {
		t.Fatal("a fifth connection past MaxConns 4 was served")
	}
}

// fakeAddr is a net.Addr of another kind than TCP or UDP.
type fakeAddr string

func (a fakeAddr) Network() string { return "fake" }
func (a fakeAddr) String() string  { return string(a) }
