package media

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// anotherAddress is a second address of the machine for the attacker: on
// Linux every 127.0.0.0/8 address is the loopback interface's.
var anotherAddress = netip.MustParseAddr("127.0.0.2")

// listenOn binds a UDP socket on addr (port chosen by the system), or
// skips the test when the system does not have that address.
func listenOn(t *testing.T, addr netip.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Skipf("cannot bind %v (on Linux every 127/8 address is loopback's): %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	a := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// blaster sends valid PCMU packets whose payload is all 0xAA from each of
// its sockets, about every millisecond (~1,000 packets per second per
// socket), until stopped: the RTP hijack of issue 14.
type blaster struct {
	stop chan struct{}
	done sync.WaitGroup
	sent atomic.Int64
}

func blast(t *testing.T, to netip.AddrPort, from ...*net.UDPConn) *blaster {
	b := &blaster{stop: make(chan struct{})}
	for i, c := range from {
		b.done.Go(func() {
			pkt := rtpPacket(t, 0xBAD00000+uint32(i), 0, 0, 0, false, bytes.Repeat([]byte{0xAA}, 160))
			for n := 0; ; n++ {
				select {
				case <-b.stop:
					return
				default:
				}
				rewrite(pkt, uint16(n), uint32(n*160))
				if _, err := c.WriteToUDPAddrPort(pkt, to); err == nil {
					b.sent.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	t.Cleanup(b.halt)
	return b
}

func (b *blaster) halt() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.done.Wait()
}

// sendLegit sends n packets of all-0x55 PCMU from c, 5 ms apart (20 ms of
// audio each: four times real time, well within the timeline's skew).
func sendLegit(t *testing.T, c *net.UDPConn, to netip.AddrPort, n int) {
	t.Helper()
	pkt := rtpPacket(t, ssrcA, 0, 0, 0, false, bytes.Repeat([]byte{0x55}, 160))
	for i := range n {
		rewrite(pkt, uint16(1000+i), uint32(8000+i*160))
		if _, err := c.WriteToUDPAddrPort(pkt, to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkOnlyLegit checks that every packet delivered is the legitimate
// sender's, and that all n of them were.
func checkOnlyLegit(t *testing.T, rec *recorder, n int) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, a := range rec.audio {
		if a.Payload[0] != 0x55 {
			t.Fatalf("audio seq %d from SSRC %#x with payload %#x was recorded: the attacker won", a.SequenceNumber, a.SSRC, a.Payload[0])
		}
	}
	if len(rec.audio) != n {
		t.Errorf("%d packets of the legitimate sender delivered, want %d", len(rec.audio), n)
	}
}

// TestLatchHijack runs the attack of issue 14 item 2 on real sockets: an
// attacker blasts PCMU at the port from another address (127.0.0.2) and
// from another port of the sender's address, starting before the
// legitimate sender and going on while it sends. With the default strict
// latching and the SDP's address as Remote, the attacker never latches:
// every packet delivered is the legitimate sender's, all of them are, and
// the attacker's are counted as strangers.
func TestLatchHijack(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		legit := listenOn(t, loopback)
		attackers := []*net.UDPConn{listenOn(t, anotherAddress), listenOn(t, loopback)}
		rx, rec := startReceiver(t, ReceiverConfig{Poller: poller, Remote: addrOf(legit), LatchPackets: DefaultLatchPackets})
		b := blast(t, rx.LocalAddr(), attackers...)
		waitStats(t, rx, "the attacker's first 50 packets", func(st Stats) bool { return st.Strangers >= 50 })
		sendLegit(t, legit, rx.LocalAddr(), 40)
		waitStats(t, rx, "the 40 legitimate packets", func(st Stats) bool { return st.Received == 40 })
		b.halt()
		sent := uint64(b.sent.Load())
		waitStats(t, rx, "every datagram", func(st Stats) bool { return st.Datagrams == sent+40 })
		_ = rx.Close()
		checkOnlyLegit(t, rec, 40)
		st := rx.Stats()
		if st.Source != addrOf(legit) || st.Strangers != sent || st.SSRC != ssrcA {
			t.Errorf("source %v (SSRC %#x), %d strangers; want %v, %d (every packet the attacker sent)", st.Source, st.SSRC, st.Strangers, addrOf(legit), sent)
		}
	})
}

// TestLatchRelaxed: the SDP names an address the sender is not at (a
// private address behind a NAT). Strict latching accepts nothing from the
// sender's real address; relaxed latching accepts any port of the SIP
// signalling source's address, and still nothing from an attacker at
// another address.
func TestLatchRelaxed(t *testing.T) {
	sdp := netip.MustParseAddrPort("192.168.1.20:40000") // what the NATed sender wrote
	for _, mode := range []Latching{LatchStrict, LatchRelaxed} {
		t.Run(mode.String(), func(t *testing.T) {
			legit := listenOn(t, loopback) // the NAT's public address, another port
			attacker := listenOn(t, anotherAddress)
			rx, rec := startReceiver(t, ReceiverConfig{Remote: sdp, Signalling: loopback, Latching: mode, LatchPackets: DefaultLatchPackets})
			b := blast(t, rx.LocalAddr(), attacker)
			waitStats(t, rx, "the attacker's first 20 packets", func(st Stats) bool { return st.Strangers >= 20 })
			sendLegit(t, legit, rx.LocalAddr(), 20)
			b.halt()
			sent := uint64(b.sent.Load())
			waitStats(t, rx, "every datagram", func(st Stats) bool { return st.Datagrams == sent+20 })
			_ = rx.Close()
			st := rx.Stats()
			if mode == LatchStrict {
				if len(rec.audio) != 0 || st.Source.IsValid() || st.Strangers != sent+20 {
					t.Errorf("strict: %d packets delivered from %v, %d strangers; want none, %d", len(rec.audio), st.Source, st.Strangers, sent+20)
				}
				return
			}
			checkOnlyLegit(t, rec, 20)
			if st.Source != addrOf(legit) || st.Strangers != sent {
				t.Errorf("relaxed: source %v, %d strangers; want %v, %d", st.Source, st.Strangers, addrOf(legit), sent)
			}
		})
	}
}

// TestSetRemote follows a re-INVITE that moves the sender: after
// SetRemote, the old address is a stranger and the new one latches, with
// the stream going on where it was.
func TestSetRemote(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		clk := newFakeClock()
		peers := newPeers(t)
		rx, rec := startReceiver(t, ReceiverConfig{Poller: poller, Now: clk.Now, Handler: &recorder{strict: true},
			Remote: peers[0].addr(), LatchPackets: 2})
		sendSteps(t, rx, clk, []step{audio(1, 0), {from: 1, seq: 50, ts: 0}, audio(2, 160), audio(3, 320)}, peers...)
		rx.SetRemote(peers[1].addr())
		sendSteps(t, rx, clk, []step{audio(4, 480), {from: 1, seq: 5, ts: 640}, audio(6, 960), {from: 1, seq: 6, ts: 800},
			{from: 1, seq: 7, ts: 960}}, peers...)
		_ = rx.Close()
		rec.check(t)
		if got, want := rec.Trace(), "a1@0 a2@160 a3@320 g160@480:loss a5@640 a6@800 a7@960"; got != want {
			t.Errorf("trace %q, want %q", got, want)
		}
		checkStats(t, rx.Stats(), map[string]uint64{"Strangers": 3, "SourceChanges": 0})
		if st := rx.Stats(); st.Source != peers[1].addr() {
			t.Errorf("source %v, want the new remote %v", st.Source, peers[1].addr())
		}
	})
}

// TestLatchConsecutive: where several addresses may latch (LatchAny here),
// a source latches only after LatchPackets usable packets in a row; a
// packet of another address in between makes that one the candidate and
// the first candidate's packets are dropped as a stranger's. The packets of
// the source that latches are all delivered, in order; an unusable payload
// type neither latches nor breaks a run. A stream shorter than
// LatchPackets is delivered when it ends, if nobody competed.
func TestLatchConsecutive(t *testing.T) {
	a, b := netip.MustParseAddrPort("192.0.2.1:4000"), netip.MustParseAddrPort("192.0.2.1:4002")
	type pk struct {
		from netip.AddrPort
		seq  uint16
		pt   uint8
	}
	tests := []struct {
		name    string
		mode    Latching
		remote  netip.AddrPort
		pkts    []pk
		trace   string
		stats   map[string]uint64
		latched netip.AddrPort
	}{
		{
			name:  "interleaved sources latch the first to send four in a row",
			mode:  LatchAny,
			pkts:  []pk{{a, 1, 0}, {a, 2, 0}, {a, 3, 0}, {b, 100, 0}, {a, 4, 0}, {b, 101, 0}, {b, 102, 0}, {b, 103, 0}, {b, 104, 0}, {a, 5, 0}},
			trace: "a101@0 a102@160 a103@320 a104@480",
			stats: map[string]uint64{"Strangers": 6, "Received": 4}, latched: b,
		},
		{
			name:  "an unknown payload type neither latches nor breaks the run",
			mode:  LatchAny,
			pkts:  []pk{{b, 7, 18}, {a, 1, 0}, {a, 2, 18}, {a, 3, 0}, {a, 4, 0}, {a, 5, 0}, {a, 6, 0}},
			trace: "a1@0 g160@160:silence a3@320 a4@480 a5@640 a6@800",
			stats: map[string]uint64{"Strangers": 0, "Ignored": 2, "Received": 6}, latched: a,
		},
		{
			name:   "a short stream is delivered at the end",
			mode:   LatchStrict,
			remote: a,
			pkts:   []pk{{b, 1, 0}, {a, 1, 0}, {a, 2, 0}},
			trace:  "a1@0 a2@160",
			stats:  map[string]uint64{"Strangers": 1, "Received": 2}, latched: a,
		},
		{
			name:   "strict: a source at another address never latches",
			mode:   LatchStrict,
			remote: a,
			pkts:   []pk{{b, 1, 0}, {b, 2, 0}, {b, 3, 0}, {b, 4, 0}, {b, 5, 0}},
			trace:  "",
			stats:  map[string]uint64{"Strangers": 5, "Received": 0},
		},
		{
			name:   "strict: an unspecified SDP address matches nobody",
			mode:   LatchStrict,
			remote: netip.MustParseAddrPort("0.0.0.0:4000"),
			pkts:   []pk{{a, 1, 0}, {a, 2, 0}, {a, 3, 0}, {a, 4, 0}},
			trace:  "",
			stats:  map[string]uint64{"Strangers": 4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{strict: true}
			sc, codecs, err := resolveConfig(ReceiverConfig{Handler: rec, Latching: tc.mode, Remote: tc.remote})
			if err != nil {
				t.Fatal(err)
			}
			s := newStream(sc, codecs)
			at := time.Unix(1700000000, 0)
			for _, p := range tc.pkts {
				at = at.Add(20 * time.Millisecond)
				s.process(rtpPacket(t, ssrcA, p.seq, uint32(p.seq)*160, p.pt, false, pattern(p.seq, 160)), p.from, at)
			}
			s.flush()
			rec.check(t)
			if got := rec.Trace(); got != tc.trace {
				t.Errorf("trace %q, want %q", got, tc.trace)
			}
			st := s.stats()
			checkStats(t, st, tc.stats)
			if st.Source != tc.latched {
				t.Errorf("latched %v, want %v", st.Source, tc.latched)
			}
		})
	}
}

func TestLatchingConfig(t *testing.T) {
	for _, l := range []Latching{LatchStrict, LatchRelaxed, LatchAny} {
		b, err := l.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Latching
		if err := back.UnmarshalText(b); err != nil || back != l {
			t.Errorf("%v: round trip gave %v, %v", l, back, err)
		}
	}
	if l, err := ParseLatching(""); err != nil || l != LatchStrict {
		t.Errorf(`ParseLatching("") = %v, %v; want the default, strict`, l, err)
	}
	if _, err := ParseLatching("loose"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf(`ParseLatching("loose") = %v, want ErrInvalidConfig`, err)
	}
	if _, err := Latching(9).MarshalText(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Latching(9).MarshalText() = %v", err)
	}
	for _, cfg := range []ReceiverConfig{{Latching: 3}, {LatchPackets: -1}, {LatchPackets: 65}} {
		if _, err := NewReceiver(allocate(t), cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewReceiver(Latching %d, LatchPackets %d) = %v, want ErrInvalidConfig", cfg.Latching, cfg.LatchPackets, err)
		}
	}
}
