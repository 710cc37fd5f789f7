package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// allocate returns an endpoint on loopback on a port the system chose
// (other developers' tests run on this machine at the same time).
func allocate(t testing.TB) *Endpoint {
	t.Helper()
	ep, err := Listen(loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ep.Close() })
	return ep
}

// recorder is a Handler that keeps a trace of what it receives and checks
// the timeline invariant as it goes.
type recorder struct {
	mu     sync.Mutex
	trace  []string
	pcm    []int16 // every delivered sample, gaps as zeros: the timeline
	audio  []Audio // copies
	gaps   []Gap
	dtmf   []DTMF
	errs   []string
	pos    int64 // end of the timeline so far
	strict bool  // PCM must be the decoding of the payload byte pattern
}

func (r *recorder) HandleAudio(a Audio) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.Position != r.pos {
		r.errs = append(r.errs, fmt.Sprintf("audio seq %d at %d, timeline at %d", a.SequenceNumber, a.Position, r.pos))
	}
	want := make([]int16, len(a.Payload))
	decode(a.Encoding, want, a.Payload)
	for i := range want {
		if a.PCM[i] != want[i] {
			r.errs = append(r.errs, fmt.Sprintf("seq %d: PCM[%d]=%d, want %d", a.SequenceNumber, i, a.PCM[i], want[i]))
			break
		}
	}
	if r.strict {
		for _, b := range a.Payload {
			if b != byte(a.SequenceNumber) {
				r.errs = append(r.errs, fmt.Sprintf("seq %d carries payload of another packet (%d)", a.SequenceNumber, b))
				break
			}
		}
	}
	r.pos = a.Position + int64(len(a.PCM))
	r.pcm = append(r.pcm, a.PCM...)
	c := a
	c.PCM = append([]int16(nil), a.PCM...)
	c.Payload = append([]byte(nil), a.Payload...)
	r.audio = append(r.audio, c)
	r.trace = append(r.trace, fmt.Sprintf("a%d@%d", a.SequenceNumber, a.Position))
}

func (r *recorder) HandleGap(g Gap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g.Position != r.pos {
		r.errs = append(r.errs, fmt.Sprintf("gap at %d, timeline at %d", g.Position, r.pos))
	}
	if g.Samples <= 0 {
		r.errs = append(r.errs, fmt.Sprintf("gap of %d samples", g.Samples))
	}
	r.pos = g.Position + g.Samples
	r.pcm = append(r.pcm, make([]int16, g.Samples)...)
	r.gaps = append(r.gaps, g)
	r.trace = append(r.trace, fmt.Sprintf("g%d@%d:%s", g.Samples, g.Position, g.Reason))
}

func (r *recorder) HandleDTMF(d DTMF) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dtmf = append(r.dtmf, d)
	end := ""
	if d.Ended {
		end = "E"
	}
	r.trace = append(r.trace, fmt.Sprintf("d%c@%d+%d%s", d.Digit, d.Position, d.Samples, end))
}

func (r *recorder) Trace() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.trace, " ")
}

func (r *recorder) check(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		t.Error(e)
	}
}

// startReceiver allocates an endpoint and runs a Receiver on it until the
// test ends. Its Handler is cfg.Handler, or a recorder it returns (set
// the recorder's fields before: the Handler runs on another goroutine).
//
// The tests that use it are about the receive path, not about latching:
// unless cfg sets LatchPackets, the Receiver latches at the first packet
// (LatchPackets 1), so that a test can wait for the first packets it
// sends. Latching has its own tests (latch_test.go), which set it.
func startReceiver(t testing.TB, cfg ReceiverConfig) (*Receiver, *recorder) {
	t.Helper()
	if cfg.LatchPackets == 0 {
		cfg.LatchPackets = 1
	}
	rec, ok := cfg.Handler.(*recorder)
	if !ok {
		rec = &recorder{}
	}
	if cfg.Handler == nil {
		cfg.Handler = rec
	}
	rx, err := NewReceiver(allocate(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rx.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		_ = rx.Close()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return rx, rec
}

// receivePaths runs f once for each way a Receiver reads its socket: in
// the goroutine running Run (p is nil), on a Poller's workers reading each
// stream's socket (one Poller with two workers, shared by every Receiver of
// the subtest), and on a Poller that steers the datagrams to its workers'
// shared sockets (skipped where steering is unavailable).
func receivePaths(t *testing.T, f func(t *testing.T, p *Poller)) {
	t.Helper()
	t.Run("goroutine", func(t *testing.T) { f(t, nil) })
	t.Run("poller", func(t *testing.T) { f(t, newTestPoller(t, 2)) })
	t.Run("steered", func(t *testing.T) { f(t, newSteeredPoller(t, 2)) })
}

// newTestPoller returns a Poller, without steering, closed when the test
// ends.
func newTestPoller(t testing.TB, workers int) *Poller {
	t.Helper()
	return newPollerMode(t, workers, SteerOff)
}

// newSteeredPoller returns a steering Poller closed when the test ends, or
// skips the test where steering is unavailable (no CAP_BPF and
// CAP_NET_ADMIN, a kernel before 5.9, not Linux).
func newSteeredPoller(t testing.TB, workers int) *Poller {
	t.Helper()
	p, err := NewPoller(PollerConfig{Workers: workers, Steering: SteerOn})
	if errors.Is(err, ErrSteeringUnavailable) {
		t.Skipf("steering needs Linux 5.9+ and CAP_BPF with CAP_NET_ADMIN (root): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if !p.Steered() {
		t.Fatal("a Poller made with SteerOn does not steer")
	}
	return p
}

func newPollerMode(t testing.TB, workers int, mode Steering) *Poller {
	t.Helper()
	p, err := NewPoller(PollerConfig{Workers: workers, Steering: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if runtime.GOOS == "linux" && (!p.Native() || p.Workers() != workers) {
		t.Fatalf("Poller on Linux: Native %v, %d workers", p.Native(), p.Workers())
	}
	return p
}

// waitStats polls rx until cond holds, failing after 5 s.
func waitStats(t testing.TB, rx *Receiver, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := rx.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stats %+v", what, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// peer sends hand-made RTP packets from its own loopback socket.
type peer struct {
	t    testing.TB
	conn *net.UDPConn
	to   netip.AddrPort
}

func newPeer(t testing.TB, to netip.AddrPort) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &peer{t: t, conn: c, to: to}
}

// addr returns the address the peer sends from.
func (p *peer) addr() netip.AddrPort {
	a := p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

func (p *peer) raw(b []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, p.to); err != nil {
		p.t.Fatal(err)
	}
}

// rtpPacket builds a packet whose payload is n bytes of byte(seq), so the
// receiver's output shows which packet it came from.
func rtpPacket(t testing.TB, ssrc uint32, seq uint16, ts uint32, pt uint8, marker bool, payload []byte) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: marker}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pattern(seq uint16, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seq)
	}
	return b
}

func eventPayload(t testing.TB, ev uint8, end bool, dur uint16) []byte {
	t.Helper()
	b, err := TelephoneEvent{Event: ev, End: end, Volume: 10, Duration: dur}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeClock is a ReceiverConfig.Now the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
