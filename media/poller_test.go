package media

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewPollerConfig(t *testing.T) {
	for _, cfg := range []PollerConfig{
		{Workers: -1}, {Workers: 1025}, {Batch: -1}, {Batch: 65}, {Steering: SteerOn + 1},
	} {
		if p, err := NewPoller(cfg); !errors.Is(err, ErrInvalidConfig) {
			if p != nil {
				_ = p.Close()
			}
			t.Errorf("NewPoller(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	p, err := NewPoller(PollerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && (!p.Native() || p.Workers() != runtime.GOMAXPROCS(0)) {
		t.Errorf("default Poller: Native %v, %d workers, want %d", p.Native(), p.Workers(), runtime.GOMAXPROCS(0))
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestPollerManyStreams runs 200 Receivers on two Pollers of two workers
// each, and sends every one of them its own stream at once, with loss,
// reordering, duplicates and sequence wrap-around: each Receiver must
// deliver exactly its stream, on a continuous timeline, with the right
// statistics.
func TestPollerManyStreams(t *testing.T) {
	const streams, packets = 200, 40
	// One Poller reads each stream's socket, the other steers where it can.
	pollers := []*Poller{newTestPoller(t, 2), newPollerMode(t, 2, SteerAuto)}
	type plan struct {
		rx       *Receiver
		rec      *recorder
		order    []uint16 // sequence numbers as sent
		distinct int
		span     uint16 // last - first sequence number
	}
	plans := make([]*plan, streams)
	for i := range plans {
		r := rand.New(rand.NewPCG(uint64(i), 3))
		first := uint16(65535 - r.IntN(60)) // most streams wrap around
		var order []uint16
		for k := range packets {
			seq := first + uint16(k)
			if k > 0 && k < packets-1 && r.IntN(8) == 0 {
				continue // lost (never the first or the last)
			}
			order = append(order, seq)
		}
		distinct := len(order)
		for k := 1; k+1 < len(order); k++ {
			if r.IntN(6) == 0 {
				order[k], order[k+1] = order[k+1], order[k] // reordered
			}
		}
		if r.IntN(3) == 0 {
			order = append(order, order[len(order)/2]) // a duplicate
		}
		// The Receiver's ReorderWait is long, so that held packets wait for
		// the next ones however slowly the machine runs; Close flushes.
		rx, rec := startReceiver(t, ReceiverConfig{ReorderDepth: 8, ReorderWait: time.Minute, Poller: pollers[i%2], Handler: &recorder{strict: true}})
		plans[i] = &plan{rx: rx, rec: rec, order: order, distinct: distinct, span: uint16(packets - 1)}
	}
	peers := make([]*peer, streams)
	for i, p := range plans {
		peers[i] = newPeer(t, p.rx.LocalAddr())
	}
	var wg sync.WaitGroup
	for g := range 4 { // four senders, each for a quarter of the streams, interleaved
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				more := false
				for i := g; i < streams; i += 4 {
					p := plans[i]
					if k >= len(p.order) {
						continue
					}
					more = true
					seq := p.order[k]
					ts := uint32(seq-p.order[0]) * 160 // order[0] is the first sequence number
					if _, err := peers[i].conn.WriteToUDPAddrPort(rtpPacket(t, ssrcA, seq, ts, 0, false, pattern(seq, 160)), peers[i].to); err != nil {
						t.Error(err)
						return
					}
				}
				if !more {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, p := range plans {
		want := uint64(len(p.order))
		waitStats(t, p.rx, fmt.Sprintf("stream %d: %d datagrams", i, want), func(st Stats) bool { return st.Datagrams == want })
	}
	for i, p := range plans {
		if err := p.rx.Close(); err != nil {
			t.Fatal(err)
		}
		p.rec.check(t)
		st := p.rx.Stats()
		lost := uint64(int(p.span) + 1 - p.distinct)
		checkStats(t, st, map[string]uint64{
			"Received": uint64(len(p.order)), "Expected": uint64(p.span) + 1, "Lost": lost,
			"Duplicates": uint64(len(p.order) - p.distinct), "Late": 0,
		})
		// The timeline runs from the first to the end of the last packet.
		if got, want := p.rec.pos, int64(p.span+1)*160; got != want {
			t.Errorf("stream %d: timeline of %d samples, want %d", i, got, want)
		}
		if got := len(p.rec.audio); got != p.distinct {
			t.Errorf("stream %d: %d packets delivered, want %d", i, got, p.distinct)
		}
		if t.Failed() {
			t.Fatalf("stream %d sent %v: %s", i, p.order, p.rec.Trace())
		}
	}
	for _, p := range pollers {
		for i, n := range workerLoads(p) {
			if n != 0 {
				t.Errorf("worker %d still counts %d receivers after every Close", i, n)
			}
		}
	}
}

// TestPollerSpreadsReceivers checks that Receivers go to the least loaded
// worker.
func TestPollerSpreadsReceivers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Poller has workers on Linux only")
	}
	p := newTestPoller(t, 3)
	for range 9 {
		rx, _ := startReceiver(t, ReceiverConfig{Poller: p})
		newPeer(t, rx.LocalAddr()).raw(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)))
		waitStats(t, rx, "the packet", func(st Stats) bool { return st.Received == 1 })
	}
	for i, n := range workerLoads(p) {
		if n != 3 {
			t.Errorf("worker %d serves %d receivers, want 3", i, n)
		}
	}
}

// TestPollerCloseWhilePacketsArrive closes Receivers while their packets
// keep coming: Close returns, Run returns nil, no Handler call follows
// Close, and the Receivers left still work.
func TestPollerCloseWhilePacketsArrive(t *testing.T) {
	p := newTestPoller(t, 2)
	if !p.Native() {
		t.Skip("without epoll a Poller has no workers to close")
	}
	const n = 20
	type live struct {
		rx   *Receiver
		done chan error
		h    *countHandler
	}
	var rxs []live
	for range n {
		h := &countHandler{}
		rx, err := NewReceiver(allocate(t), ReceiverConfig{LatchPackets: 1, Handler: h, Poller: p})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- rx.Run(context.Background()) }()
		rxs = append(rxs, live{rx, done, h})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var senders sync.WaitGroup
	for _, l := range rxs {
		senders.Add(1)
		go func() {
			defer senders.Done()
			pe := newPeer(t, l.rx.LocalAddr())
			pkt := rtpPacket(t, ssrcA, 0, 0, 0, false, pattern(0, 160))
			for i := 0; ctx.Err() == nil; i++ {
				rewrite(pkt, uint16(i), uint32(i*160))
				_, _ = pe.conn.WriteToUDPAddrPort(pkt, pe.to)
				if i%20 == 19 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	defer func() { cancel(); senders.Wait() }()
	for _, l := range rxs {
		waitStats(t, l.rx, "packets", func(st Stats) bool { return st.Received > 10 })
	}
	for _, l := range rxs[:n/2] {
		if err := l.rx.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-l.done; err != nil {
			t.Errorf("Run after Close = %v", err)
		}
		after := l.h.calls.Load()
		time.Sleep(5 * time.Millisecond)
		if got := l.h.calls.Load(); got != after {
			t.Errorf("%d Handler calls after Close returned", got-after)
		}
	}
	for _, l := range rxs[n/2:] {
		before := l.rx.Stats().Received
		waitStats(t, l.rx, "more packets", func(st Stats) bool { return st.Received > before+10 })
	}
	// Closing the Poller stops the Receivers left, with ErrClosed.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, l := range rxs[n/2:] {
		if err := <-l.done; !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Poller.Close = %v, want ErrClosed", err)
		}
		if err := l.rx.Close(); err != nil {
			t.Error(err)
		}
	}
	// A Receiver on a closed Poller does not run.
	rx, err := NewReceiver(allocate(t), ReceiverConfig{LatchPackets: 1, Poller: p})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := rx.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run on a closed Poller = %v, want ErrClosed", err)
	}
}

// countHandler counts calls from any goroutine.
type countHandler struct{ calls atomic.Int64 }

func (h *countHandler) HandleAudio(Audio) { h.calls.Add(1) }
func (h *countHandler) HandleGap(Gap)     { h.calls.Add(1) }
func (h *countHandler) HandleDTMF(DTMF)   { h.calls.Add(1) }

// TestPollerContextCancel stops a polled Run with its context: what the
// reorder buffer held is delivered, and Run can start again on the same
// socket.
func TestPollerContextCancel(t *testing.T) {
	p := newTestPoller(t, 1)
	rec := &recorder{}
	rx, err := NewReceiver(allocate(t), ReceiverConfig{LatchPackets: 1, Handler: rec, ReorderWait: time.Minute, Poller: p})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	pe := newPeer(t, rx.LocalAddr())
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- rx.Run(ctx) }()
		base := uint16(3 * round)
		pe.raw(rtpPacket(t, ssrcA, base+1, uint32(base+1)*160, 0, false, pattern(base+1, 160)))
		pe.raw(rtpPacket(t, ssrcA, base+3, uint32(base+3)*160, 0, false, pattern(base+3, 160)))
		waitStats(t, rx, "two packets", func(st Stats) bool { return st.Received == uint64(2*round+2) })
		if st := rx.Stats(); st.Samples != int64(160*(2*round+1)) {
			t.Fatalf("round %d: %d samples before the cancel, want the held packet still held", round, st.Samples)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run after cancel = %v", err)
		}
		if st := rx.Stats(); st.Samples != int64(160*(2*round+2)) {
			t.Errorf("round %d: %d samples after the cancel, want the held packet delivered", round, st.Samples)
		}
	}
	rec.check(t)
	if got, want := rec.Trace(), "a1@0 g160@160:loss a3@320 a4@480 g160@640:loss a6@800"; got != want {
		t.Errorf("trace\n got: %s\nwant: %s", got, want)
	}
}

// TestPollerTimersManyReceivers gives 30 Receivers on one worker each a
// held packet and a different reorder wait: every one is released by its
// timer, without further packets.
func TestPollerTimersManyReceivers(t *testing.T) {
	p := newTestPoller(t, 1)
	var rxs []*Receiver
	var recs []*recorder
	for i := range 30 {
		rx, rec := startReceiver(t, ReceiverConfig{ReorderDepth: 50, ReorderWait: time.Duration(5+7*i) * time.Millisecond, Poller: p})
		pe := newPeer(t, rx.LocalAddr())
		pe.raw(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)))
		pe.raw(rtpPacket(t, ssrcA, 3, 320, 0, false, pattern(3, 160)))
		rxs, recs = append(rxs, rx), append(recs, rec)
	}
	for i, rx := range rxs {
		waitStats(t, rx, "packet 3 released", func(st Stats) bool { return st.Samples == 320 })
		if got, want := recs[i].Trace(), "a1@0 g160@160:loss a3@320"; got != want {
			t.Errorf("receiver %d: trace %q, want %q", i, got, want)
		}
	}
}

// TestPollerEndpointClosed closes the Endpoint under a running polled
// Receiver: Run ends without error, as it does without a Poller.
func TestPollerEndpointClosed(t *testing.T) {
	receivePaths(t, func(t *testing.T, p *Poller) {
		ep := allocate(t)
		rx, err := NewReceiver(ep, ReceiverConfig{LatchPackets: 1, Poller: p})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- rx.Run(context.Background()) }()
		newPeer(t, rx.LocalAddr()).raw(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)))
		waitStats(t, rx, "the packet", func(st Stats) bool { return st.Received == 1 })
		if err := ep.Close(); err != nil {
			t.Fatal(err)
		}
		// Run returns by itself, as it does without a Poller (whose read
		// fails at once).
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its Endpoint was closed")
		}
		_ = rx.Close()
	})
}

// TestPollerBatch reads with recvmmsg (Batch 8): a burst of 50 packets
// arrives whole and in order.
func TestPollerBatch(t *testing.T) {
	p, err := NewPoller(PollerConfig{Workers: 1, Batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	rx, rec := startReceiver(t, ReceiverConfig{Poller: p, Handler: &recorder{strict: true}})
	pe := newPeer(t, rx.LocalAddr())
	for i := range uint16(50) {
		pe.raw(rtpPacket(t, ssrcA, 1000+i, uint32(i)*160, 0, false, pattern(1000+i, 160)))
	}
	waitStats(t, rx, "50 packets", func(st Stats) bool { return st.Received == 50 })
	_ = rx.Close()
	rec.check(t)
	checkStats(t, rx.Stats(), map[string]uint64{"Lost": 0, "OutOfOrder": 0, "Samples": 8000, "GapSamples": 0})
	if got := rx.Stats().Source; got != pe.conn.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Errorf("source %v, want %v", got, pe.conn.LocalAddr())
	}
}

// TestPollerIPv6 receives on ::1: the source address read by the worker is
// the sender's.
func TestPollerIPv6(t *testing.T) {
	t.Run("poller", func(t *testing.T) { testPollerIPv6(t, newTestPoller) })
	t.Run("steered", func(t *testing.T) { testPollerIPv6(t, newSteeredPoller) })
}

func testPollerIPv6(t *testing.T, newPoller func(testing.TB, int) *Poller) {
	ep, err := Listen(netip.IPv6Loopback())
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	p := newPoller(t, 1)
	rec := &recorder{}
	rx, err := NewReceiver(ep, ReceiverConfig{LatchPackets: 1, Handler: rec, Poller: p})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rx.Run(context.Background()) }()
	if p.Steered() {
		waitSteered(t, rx)
	}
	c, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv6Loopback(), 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range uint16(3) {
		if _, err := c.WriteToUDPAddrPort(rtpPacket(t, ssrcA, i, uint32(i)*160, 0, false, pattern(i, 160)), rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, rx, "3 packets", func(st Stats) bool { return st.Received == 3 })
	if n := steeredDatagrams(p); p.Steered() && n == 0 {
		t.Error("the steering Poller took no datagram from its IPv6 shared socket")
	}
	if got, want := rx.Stats().Source, c.LocalAddr().(*net.UDPAddr).AddrPort(); got != want {
		t.Errorf("source %v, want %v", got, want)
	}
	// The Endpoint still sends from its port (symmetric RTP), to IPv6.
	if _, err := ep.WriteToUDPAddrPort([]byte("back"), c.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "back" || from.Port() != rx.LocalAddr().Port() {
		t.Errorf("read %q from %v (%v), want \"back\" from port %d", buf[:n], from, err, rx.LocalAddr().Port())
	}
	if err := rx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec.check(t)
}

// TestPolledEndpointSends sends from the Endpoint of a polled Receiver (a
// Sender on the same port: symmetric RTP) while it receives, then after
// Close.
func TestPolledEndpointSends(t *testing.T) {
	receivePaths(t, func(t *testing.T, p *Poller) {
		ep := allocate(t)
		rx, rec := func() (*Receiver, *recorder) {
			rec := &recorder{}
			rx, err := NewReceiver(ep, ReceiverConfig{LatchPackets: 1, Handler: rec, Poller: p})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- rx.Run(context.Background()) }()
			t.Cleanup(func() { _ = rx.Close(); <-done })
			return rx, rec
		}()
		far := newPeer(t, rx.LocalAddr())
		far.raw(rtpPacket(t, ssrcB, 7, 0, 0, false, pattern(7, 160)))
		waitStats(t, rx, "the far end's packet", func(st Stats) bool { return st.Received == 1 })
		s, err := NewSender(ep, far.conn.LocalAddr().(*net.UDPAddr).AddrPort(), SenderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		src := tone(440, 9000, 480)
		if err := s.WritePCM(src); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		_ = far.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i := range 3 {
			n, from, err := far.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("packet %d: %v", i, err)
			}
			if from != ep.LocalAddr() || n != 172 {
				t.Errorf("packet %d: %d bytes from %v, want 172 from %v", i, n, from, ep.LocalAddr())
			}
		}
		if testing.CoverMode() == "" {
			pcm := src[:160]
			if a := testing.AllocsPerRun(50, func() { _ = s.WritePCM(pcm) }); a != 0 {
				t.Errorf("%v allocations per packet sent from the Endpoint", a)
			}
		}
		_ = rx.Close()
		rec.check(t)
		if err := s.WritePCM(src[:160]); !errors.Is(err, net.ErrClosed) {
			t.Errorf("send after Close = %v, want net.ErrClosed", err)
		}
	})
}
