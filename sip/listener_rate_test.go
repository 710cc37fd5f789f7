package sip

import (
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicegw/voicegw/sip/connlimit"
)

var (
	srcA = connlimit.Source(netip.MustParseAddr("192.0.2.1"))
	srcB = connlimit.Source(netip.MustParseAddr("192.0.2.2"))
	srcC = connlimit.Source(netip.MustParseAddr("192.0.2.3"))
	srcD = connlimit.Source(netip.MustParseAddr("192.0.2.4"))
)

const ms = int64(time.Millisecond)

// takes counts how many of n connections at now the table allows.
func takes(t *rateTable, src netip.Prefix, now int64, n int) int {
	ok := 0
	for range n {
		if t.allow(src, now) {
			ok++
		}
	}
	return ok
}

// TestRateTableBurstAndRefill: a source gets its burst at once, then one
// connection per 1/rate; a refused attempt spends nothing; a bucket never
// holds more than the burst however long the source waits; sources do not
// share buckets. The clock is the test's.
func TestRateTableBurstAndRefill(t *testing.T) {
	rt := newRateTable(10, 20, 100) // 10 a second: a token per 100 ms
	if n := takes(rt, srcA, 0, 30); n != 20 {
		t.Fatalf("at once: %d of 30 allowed, want the burst of 20", n)
	}
	if rt.allow(srcA, 99*ms) {
		t.Fatal("allowed 99 ms after the burst, before a token was earned")
	}
	if n := takes(rt, srcA, 101*ms, 5); n != 1 {
		t.Fatalf("101 ms after the burst: %d allowed, want 1 (refusals spend nothing, so the token earned is there)", n)
	}
	if n := takes(rt, srcA, 351*ms, 5); n != 2 {
		t.Fatalf("250 ms later: %d allowed, want 2 (the half token kept for later)", n)
	}
	if n := takes(rt, srcA, 421*ms, 5); n != 1 {
		t.Fatalf("70 ms later: %d allowed, want 1 (the half and 0.7 make one)", n)
	}
	if n := takes(rt, srcA, 3600*ms, 50); n != 20 {
		t.Fatalf("after 3 s: %d allowed, want the burst of 20, no more", n)
	}
	if n := takes(rt, srcB, 3600*ms, 50); n != 20 {
		t.Fatalf("another source: %d allowed, want its own burst of 20", n)
	}
	// a clock read before another caller's (Accept on two goroutines)
	// earns nothing and breaks nothing
	if rt.allow(srcA, 3000*ms) {
		t.Fatal("allowed at an earlier time with an empty bucket")
	}
	if n := takes(rt, srcA, 3701*ms, 5); n != 1 {
		t.Fatalf("101 ms after the last time seen: %d allowed, want 1", n)
	}
}

// TestRateTableBound: however many sources connect, the table holds at
// most its bound; when full of busy sources a new one forgets the least
// recently seen (which starts again full), never refuses the new one, and
// keeps the state of the others.
func TestRateTableBound(t *testing.T) {
	rt := newRateTable(1, 1, 2) // one connection, then one a second
	if !rt.allow(srcA, 0) || !rt.allow(srcB, 0) {
		t.Fatal("first connections refused")
	}
	if rt.allow(srcA, 0) { // A is now the most recently seen
		t.Fatal("A's second connection allowed")
	}
	if !rt.allow(srcC, 0) { // full of busy sources: C takes the overflow's one token
		t.Fatal("a new source refused in a full table with the overflow bucket full")
	}
	if rt.allow(srcD, 0) {
		t.Fatal("a second untracked source allowed: the overflow bucket was spent")
	}
	if rt.allow(srcA, 0) || rt.allow(srcB, 0) {
		t.Fatal("A or B, tracked with empty buckets, allowed")
	}
	if n := rt.len(); n != 2 {
		t.Fatalf("%d sources tracked, want the bound of 2", n)
	}

	// an attacker spraying sources, all busy (no bucket has refilled): the
	// table stays bounded and its entries reused
	rt = newRateTable(1, 2, 1000)
	allowed := 0
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if rt.allow(connlimit.Source(a), int64(i)) {
			allowed++
		}
		if n := rt.len(); n > 1000 {
			t.Fatalf("%d sources tracked after %d, want at most 1000", n, i+1)
		}
	}
	if n, c := rt.len(), cap(rt.ents); n != 1000 || c > 2048 {
		t.Fatalf("after 100,000 sources: %d tracked, %d entries allocated; want 1000 and the entries reused", n, c)
	}
	if allowed > 1000+2 {
		t.Fatalf("%d of 100,000 new sources allowed, want the 1,000 tracked and the overflow's burst of 2", allowed)
	}
}

// TestRateTableRoundRobin: more busy sources than the table holds, each
// coming back again and again (an IPv6 /48's /64s in turn), get no more
// than the tracked sources' buckets and the overflow's: cycling through
// them never restores a full bucket.
func TestRateTableRoundRobin(t *testing.T) {
	const max, burst, sources, rounds = 100, 20, 101, 10
	rt := newRateTable(10, burst, max)
	allowed, now := 0, int64(0)
	for range rounds {
		for s := range sources {
			src := connlimit.Source(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, byte(s >> 8), byte(s)}))
			for range burst {
				now += 10 // 10 ns a connection: nothing refills
				if rt.allow(src, now) {
					allowed++
				}
			}
		}
	}
	if want := max*burst + burst; allowed > want {
		t.Fatalf("%d connections allowed from %d sources in %d rounds, want at most %d (each tracked source's burst, and the overflow's)", allowed, sources, rounds, want)
	}
}

// TestRateTableForgetsIdle: sources whose buckets have refilled are
// forgotten as others come (two a call), so the table holds about the
// sources of the last burst/rate seconds, not of all time.
func TestRateTableForgetsIdle(t *testing.T) {
	rt := newRateTable(10, 20, 1000) // a bucket refills in 2 s
	for i := range 100 {
		takes(rt, connlimit.Source(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})), 0, 20) // each spends its burst
	}
	if n := rt.len(); n != 100 {
		t.Fatalf("%d sources tracked, want 100", n)
	}
	rt.allow(srcA, 1000*ms) // one second on: none has refilled
	if n := rt.len(); n != 101 {
		t.Fatalf("after 1 s: %d sources tracked, want 101 (none idle yet)", n)
	}
	for range 50 {
		rt.allow(srcA, 2001*ms) // two seconds on: every bucket of the 100 is full again
	}
	if n := rt.len(); n != 1 {
		t.Fatalf("after 2 s and 50 connections of another source: %d sources tracked, want 1", n)
	}
}

// TestRateTableSources: the table is keyed by connlimit.Source, as the
// Listener calls it: an IPv6 /64 is one source, an IPv4-mapped address is
// its IPv4 address.
func TestRateTableSources(t *testing.T) {
	rt := newRateTable(1, 1, 100)
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"2001:db8:1:2::1", true},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", false}, // same /64: the bucket is empty
		{"2001:db8:1:3::1", true},                   // the next /64
		{"192.0.2.9", true},
		{"::ffff:192.0.2.9", false}, // the same IPv4 source
		{"fe80::1%eth0", true},
		{"fe80::2%eth1", false}, // zones ignored: the same /64
	} {
		if got := rt.allow(connlimit.Source(netip.MustParseAddr(tc.addr)), 0); got != tc.want {
			t.Errorf("%s: allowed %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestRateTableDoesNotAllocate(t *testing.T) {
	rt := newRateTable(1e9, 20, 100)
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() { now++; rt.allow(srcA, now) }); n != 0 {
		t.Fatalf("%v allocations per connection of a known source", n)
	}
	// new sources reuse the entries of forgotten ones
	for i := range 200 {
		rt.allow(connlimit.Source(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})), now)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		i++
		rt.allow(connlimit.Source(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})), now)
	}); n != 0 {
		t.Fatalf("%v allocations per new source in a full table", n)
	}
}

func TestListenerRateDefaults(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	for _, tc := range []struct {
		rate  float64
		burst int
		on    bool
		want  ListenerConfig
	}{
		{0, 0, true, ListenerConfig{NewConnRate: DefaultNewConnRate, NewConnBurst: DefaultNewConnBurst}},
		{math.NaN(), -5, true, ListenerConfig{NewConnRate: DefaultNewConnRate, NewConnBurst: DefaultNewConnBurst}},
		{0.5, 3, true, ListenerConfig{NewConnRate: 0.5, NewConnBurst: 3}},
		{-1, 0, false, ListenerConfig{NewConnRate: -1, NewConnBurst: DefaultNewConnBurst}},
		{math.Inf(1), 0, false, ListenerConfig{NewConnRate: math.Inf(1), NewConnBurst: DefaultNewConnBurst}},
	} {
		l := NewListener(inner, ListenerConfig{NewConnRate: tc.rate, NewConnBurst: tc.burst})
		if l.cfg.NewConnRate != tc.want.NewConnRate || l.cfg.NewConnBurst != tc.want.NewConnBurst || (l.rate != nil) != tc.on {
			t.Errorf("NewConnRate %v, NewConnBurst %d: got %v, %d, limited %v; want %v, %d, %v", tc.rate, tc.burst,
				l.cfg.NewConnRate, l.cfg.NewConnBurst, l.rate != nil, tc.want.NewConnRate, tc.want.NewConnBurst, tc.on)
		}
	}
}

// TestListenerNewConnRate opens TLS connections from one source faster
// than its rate (a rate of one per 1,000 s and a burst of 3, so the
// test's own speed does not matter): the first 3 complete their
// handshake, the others are closed at accept without one (no handshake
// failure is counted: the server never read their ClientHello), in one
// log line; another source is still served, over TLS and plain TCP.
func TestListenerNewConnRate(t *testing.T) {
	files := tlsFiles(t, t.TempDir(), "")
	roots := poolOf(files.Certificate())
	var events eventLog
	var logs logBuffer
	addr, l := sipgoTLS(t, ListenerConfig{TLS: files.ServerConfig(), NewConnRate: 0.001, NewConnBurst: 3,
		OnEvent: events.record, Logger: logs.logger()})
	handshake := func(ip string) error {
		raw := dialFrom(t, ip, addr)
		c := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c.Handshake()
	}
	var ok, refused int
	for i := range 10 {
		switch err := handshake("127.0.0.2"); {
		case err == nil:
			ok++
		case strings.Contains(err.Error(), "timeout"):
			t.Fatalf("handshake %d: %v, want it completed or the connection closed", i, err)
		default:
			refused++
		}
	}
	if ok != 3 || refused != 7 {
		t.Fatalf("10 handshakes from one source: %d completed, %d refused; want the burst of 3, and 7 refused", ok, refused)
	}
	c, err := dialTLS(t, addr, roots) // from 127.0.0.1
	if err != nil {
		t.Fatalf("another source: %v", err)
	}
	optionsOver(t, c, "other-source")
	s := l.Stats()
	if s.OverRate != 7 || s.Accepted != 4 || s.HandshakeFailures != 0 || events.count(EventOverRate) != 7 {
		t.Fatalf("stats %+v, %d over_rate events; want 7 over the rate, 4 accepted, no handshake failure", s, events.count(EventOverRate))
	}
	lines := strings.Count(logs.String(), "connection rate limit reached")
	if lines != 1 || !strings.Contains(logs.String(), "source=127.0.0.2:") || !strings.Contains(logs.String(), "new_conn_burst=3") {
		t.Fatalf("%d log lines for 7 refusals, want 1 naming the source and the limit:\n%s", lines, logs.String())
	}

	// plain TCP, the connection caps after the rate: a refused connection
	// takes no place
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l2 := NewListener(inner, ListenerConfig{NewConnRate: 0.001, NewConnBurst: 2, MaxConnsPerSource: 2})
	rawServer(t, l2)
	a1, a2 := dialFrom(t, "127.0.0.2", inner.Addr().String()), dialFrom(t, "127.0.0.2", inner.Addr().String())
	waitClosed(t, dialFrom(t, "127.0.0.2", inner.Addr().String()), "a connection over the rate")
	b := dialFrom(t, "127.0.0.3", inner.Addr().String())
	for i, c := range []net.Conn{a1, a2, b} {
		if !stillOpen(c, 200*time.Millisecond) {
			t.Fatalf("connection %d, within the rate, closed", i)
		}
	}
	if s := l2.Stats(); s.OverRate != 1 || s.OverSourceLimit != 0 || s.Open != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// BenchmarkListenerAccept measures what a connection costs the Listener
// (and the kernel: dial, accept, close on loopback) without and with the
// rate limit: "off" and "on" accept every connection (a rate no client
// here reaches), "refused" closes every one at accept (an empty bucket).
// cpu-ns/conn is the CPU of the process (client and server) per
// connection: go test ./sip/ -run '^$' -bench ListenerAccept -benchtime 20000x
func BenchmarkListenerAccept(b *testing.B) {
	for _, bc := range []struct {
		name string
		rate float64
	}{{"off", -1}, {"on", 1e9}, {"refused", 1e-9}} {
		b.Run(bc.name, func(b *testing.B) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			l := NewListener(inner, ListenerConfig{NewConnRate: bc.rate, NewConnBurst: 1, MaxConnsPerSource: -1})
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					_ = c.Close()
				}
			}()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
			one := make([]byte, 1)
			b.ResetTimer()
			cpu0 := processCPU()
			for i := range b.N {
				c, err := d.Dial("tcp", inner.Addr().String())
				if err != nil {
					b.Fatal(fmt.Errorf("connection %d: %w", i, err))
				}
				_, _ = c.Read(one) // until the server closes it
				_ = c.Close()
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/conn")
		})
	}
}

// TestRateTableConcurrent: Accept on several goroutines shares one
// table; no token is spent twice (go test -race checks the locking).
func TestRateTableConcurrent(t *testing.T) {
	rt := newRateTable(1, 100, 10)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if rt.allow(srcA, 0) {
					allowed.Add(1)
				}
				rt.allow(srcB, 0)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Fatalf("8 goroutines, 8,000 connections at one instant: %d allowed, want the burst of 100", n)
	}
}

// BenchmarkRateTable is the rate limit's own cost per connection: a known
// source, and a new source in a full table (forgetting another).
func BenchmarkRateTable(b *testing.B) {
	b.Run("known", func(b *testing.B) {
		rt := newRateTable(1e9, 20, rateSources)
		for i := range b.N {
			rt.allow(srcA, int64(i))
		}
	})
	b.Run("new", func(b *testing.B) {
		rt := newRateTable(1, 20, rateSources)
		for i := range b.N {
			rt.allow(connlimit.Source(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})), 0)
		}
	})
}

// TestTransportEventKindNames: every kind has a name of its own (a metric
// label), over_rate included.
func TestTransportEventKindNames(t *testing.T) {
	seen := map[string]TransportEventKind{}
	for k := EventAccepted; k < eventKinds; k++ {
		name := k.String()
		if name == "unknown" || seen[name] != 0 {
			t.Errorf("kind %d: name %q (also kind %d)", k, name, seen[name])
		}
		seen[name] = k
	}
	if EventOverRate.String() != "over_rate" || eventKinds.String() != "unknown" {
		t.Errorf("EventOverRate %q, past the last kind %q", EventOverRate, eventKinds)
	}
}
