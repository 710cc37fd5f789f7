package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// taken returns how many datagrams p's workers took from their shared
// sockets and handed to their streams.
func taken(p *Poller) uint64 {
	var n uint64
	for _, w := range p.workers {
		w.mu.Lock()
		n += w.taken
		w.mu.Unlock()
	}
	return n
}

// waitRegistered waits until p's workers serve n Receivers.
func waitRegistered(t *testing.T, p *Poller, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		got := 0
		for _, c := range workerLoads(p) {
			got += c
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Receivers registered, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSteeringSteers checks that a steering Poller takes a registered
// stream's datagrams from its worker's shared socket, every one of them, in
// order, with the stream's own source address (for latching) and
// statistics; and that a stranger sending to the stream's port is refused
// as on the stream's own socket.
func TestSteeringSteers(t *testing.T) {
	p := newSteeredPoller(t, 1)
	pe := newPeer(t, netip.AddrPort{})
	rx, rec := startReceiver(t, ReceiverConfig{Poller: p, Handler: &recorder{strict: true}, Remote: pe.addr(), LatchPackets: DefaultLatchPackets})
	pe.to = rx.LocalAddr()
	waitSteered(t, rx) // registered is not enough: steering follows
	stranger := newPeer(t, rx.LocalAddr())
	const n = 20
	for seq := range uint16(n) {
		pe.raw(rtpPacket(t, ssrcA, seq, uint32(seq)*160, 0, false, pattern(seq, 160)))
		if seq%5 == 2 {
			stranger.raw(rtpPacket(t, ssrcB, seq, uint32(seq)*160, 0, false, pattern(seq, 160)))
		}
	}
	waitStats(t, rx, "20 packets and 4 strangers", func(st Stats) bool { return st.Datagrams == n+4 })
	if got := taken(p); got != n+4 {
		t.Errorf("%d datagrams taken from the shared socket, want %d (every one)", got, n+4)
	}
	st := rx.Stats()
	checkStats(t, st, map[string]uint64{"Received": n, "Strangers": 4, "Lost": 0, "Late": 0, "OutOfOrder": 0, "Samples": n * 160})
	if st.Source != pe.addr() {
		t.Errorf("source %v, want the sender %v", st.Source, pe.addr())
	}
	rec.check(t)
}

// TestSteeringOrderAtStart sends datagrams before the Receiver runs (they
// wait in its own socket) and after it is steered (they go to the shared
// socket): the first ones are delivered first, none late or out of order,
// however many waited (up to what the socket holds: more than a round
// reads from one socket, drainMax, as when a gateway's Receiver is
// registered late while its RTP already comes).
func TestSteeringOrderAtStart(t *testing.T) {
	for _, before := range []uint16{5, drainMax + 36, 200} {
		t.Run(fmt.Sprintf("before=%d", before), func(t *testing.T) { steeringOrderAtStart(t, before) })
	}
}

func steeringOrderAtStart(t *testing.T, before uint16) {
	p := newSteeredPoller(t, 1)
	rec := &recorder{strict: true}
	rx, err := NewReceiver(allocate(t), ReceiverConfig{Poller: p, Handler: rec, LatchPackets: 1, ReorderDepth: 1})
	if err != nil {
		t.Fatal(err)
	}
	pe := newPeer(t, rx.LocalAddr())
	send := func(seq uint16) { pe.raw(rtpPacket(t, ssrcA, seq, uint32(seq)*160, 0, false, pattern(seq, 160))) }
	for seq := range before {
		send(seq)
	}
	w := p.workers[0]
	w.mu.Lock() // the worker reads nothing until the later datagrams are in the shared socket
	done := make(chan error, 1)
	go func() { done <- rx.Run(context.Background()) }()
	for deadline := time.Now().Add(5 * time.Second); rx.ps.w == nil || !w.slots[rx.ps.slot].steered; {
		w.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the Receiver was not steered")
		}
		time.Sleep(time.Millisecond)
		w.mu.Lock()
	}
	const after = 5
	for seq := before; seq < before+after; seq++ {
		send(seq)
	}
	w.mu.Unlock()
	total := uint64(before) + after
	waitStats(t, rx, fmt.Sprintf("%d packets", total), func(st Stats) bool { return st.Received+st.Late >= total })
	if err := rx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkStats(t, rx.Stats(), map[string]uint64{"Received": total, "Late": 0, "OutOfOrder": 0, "Lost": 0})
	if got := taken(p); got != after {
		t.Errorf("%d datagrams taken from the shared socket, want the %d sent after steering began", got, after)
	}
	rec.check(t)
}

// TestSteeringStopReadsWhatCame stops a steered Receiver while its last
// datagrams wait in the worker's shared socket: the stop delivers them, as
// it does those in the stream's own socket.
func TestSteeringStopReadsWhatCame(t *testing.T) {
	for _, how := range []string{"context", "Close"} {
		t.Run(how, func(t *testing.T) {
			p := newSteeredPoller(t, 1)
			w := p.workers[0]
			rx, err := NewReceiver(allocate(t), ReceiverConfig{LatchPackets: 1, Poller: p})
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- rx.Run(ctx) }()
			pe := newPeer(t, rx.LocalAddr())
			pe.raw(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)))
			waitStats(t, rx, "the first packet", func(st Stats) bool { return st.Received == 1 })
			w.mu.Lock() // no round reads the shared socket from now on
			const more = 5
			for i := range uint16(more) {
				seq := 2 + i
				pe.raw(rtpPacket(t, ssrcA, seq, uint32(seq-1)*160, 0, false, pattern(seq, 160)))
			}
			if how == "context" {
				cancel()
			} else {
				go func() { _ = rx.Close() }()
			}
			for !rx.stopping.Load() && how == "Close" {
				time.Sleep(100 * time.Microsecond)
			}
			w.mu.Unlock()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run = %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return")
			}
			if st := rx.Stats(); st.Received != 1+more || st.Lost != 0 {
				t.Fatalf("after the stop: received %d, lost %d; want %d and 0", st.Received, st.Lost, 1+more)
			}
		})
	}
}

// TestSteeringTakesOnlyItsStreams: datagrams for a socket of the same
// address that no Receiver of the Poller registered reach that socket, and
// once a steered Receiver is closed its port is no longer steered: a socket
// bound to it later receives what is sent there.
func TestSteeringTakesOnlyItsStreams(t *testing.T) {
	p := newSteeredPoller(t, 1)
	rx, _ := startReceiver(t, ReceiverConfig{Poller: p})
	waitSteered(t, rx)
	other, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	pe := newPeer(t, other.LocalAddr().(*net.UDPAddr).AddrPort())
	expect := func(c *net.UDPConn, what string) {
		t.Helper()
		pe.raw([]byte(what))
		buf := make([]byte, 64)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != what {
			t.Fatalf("read %q, %v; want %q", buf[:n], err, what)
		}
	}
	expect(other, "not steered")
	port := rx.LocalAddr()
	if err := rx.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(port))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	pe.to = port
	expect(again, "no longer steered")
	if got := taken(p); got != 0 {
		t.Errorf("%d datagrams taken from the shared socket, want none", got)
	}
}

// TestSteeringPublishesLastStats: a steered stream's counters are
// published at most once per publishLag while packets come, and the last
// packets' counters are published by a timer though no packet follows and
// the Receiver keeps running (Stats is never left behind for good).
func TestSteeringPublishesLastStats(t *testing.T) {
	p := newSteeredPoller(t, 1)
	pe := newPeer(t, netip.AddrPort{})
	rx, _ := startReceiver(t, ReceiverConfig{Poller: p, Handler: &recorder{strict: true}, Remote: pe.addr(), LatchPackets: 1})
	pe.to = rx.LocalAddr()
	waitSteered(t, rx)
	send := func(seq uint16) { pe.raw(rtpPacket(t, ssrcA, seq, uint32(seq)*160, 0, false, pattern(seq, 160))) }
	send(0)
	waitStats(t, rx, "the first packet", func(st Stats) bool { return st.Received == 1 })
	for round := range 3 {
		for seq := uint16(1 + 4*round); seq < uint16(5+4*round); seq++ {
			send(seq)
		}
		want := uint64(5 + 4*round)
		waitStats(t, rx, fmt.Sprintf("%d packets, the last ones published by the timer", want), func(st Stats) bool { return st.Received == want })
	}
	checkStats(t, rx.Stats(), map[string]uint64{"Received": 13, "Lost": 0, "Late": 0, "Samples": 13 * 160})
}

// TestRunReadyAfterSteering checks RunReady's promise: when ready is
// called, the Receiver's port is steered already, so every datagram sent
// from then on (as a peer does once it has the SDP answer) is taken from
// the worker's shared socket, none from the stream's own socket; and ready
// is called also when Run returns at once (ErrRunning, ErrClosed).
func TestRunReadyAfterSteering(t *testing.T) {
	p := newSteeredPoller(t, 1)
	rec := &recorder{strict: true}
	rx, err := NewReceiver(allocate(t), ReceiverConfig{Poller: p, Handler: rec, LatchPackets: 1})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- rx.RunReady(context.Background(), func() { close(ready) }) }()
	<-ready
	w := p.workers[0]
	w.mu.Lock()
	steered := rx.ps.w == w && w.slots[rx.ps.slot].steered
	w.mu.Unlock()
	if !steered {
		t.Fatal("ready was called before the Receiver's port was steered")
	}
	if err := rx.RunReady(context.Background(), func() {}); !errors.Is(err, ErrRunning) {
		t.Errorf("a second RunReady returned %v, want ErrRunning", err)
	}
	pe := newPeer(t, rx.LocalAddr())
	const n = 10
	for seq := range uint16(n) {
		pe.raw(rtpPacket(t, ssrcA, seq, uint32(seq)*160, 0, false, pattern(seq, 160)))
	}
	waitStats(t, rx, "every packet", func(st Stats) bool { return st.Received == n })
	if got := taken(p); got != n {
		t.Errorf("%d of %d datagrams taken from the shared socket, want every one", got, n)
	}
	if err := rx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	called := false
	if err := rx.RunReady(context.Background(), func() { called = true }); !errors.Is(err, ErrClosed) || !called {
		t.Errorf("RunReady after Close: %v, ready called %v; want ErrClosed, true", err, called)
	}
	rec.check(t)
}

// TestSteeredArrivalIsWhenItCame: a datagram that waits in the shared
// socket while the worker is busy (here: held in another stream's
// Handler for 300 ms) is delivered with the time the kernel received it
// as its Arrival, not the time the worker read it — so a recording places
// a stream whose first packets were read late where they belong.
func TestSteeredArrivalIsWhenItCame(t *testing.T) {
	p := newSteeredPoller(t, 1)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	blocking := HandlerFuncs{Audio: func(Audio) {
		once.Do(func() {
			close(held)
			<-release
		})
	}}
	late := &recorder{strict: true}
	rxA, rxB := startSteered(t, p, blocking), startSteered(t, p, late)
	newPeer(t, rxA.LocalAddr()).raw(rtpPacket(t, ssrcA, 0, 0, 0, false, pattern(0, 160)))
	<-held // the only worker is busy in A's Handler
	sent := time.Now()
	pb := newPeer(t, rxB.LocalAddr())
	for seq := range uint16(3) {
		pb.raw(rtpPacket(t, ssrcB, seq, uint32(seq)*160, 0, false, pattern(seq, 160)))
	}
	time.Sleep(300 * time.Millisecond)
	read := time.Now()
	close(release)
	waitStats(t, rxB, "B's packets", func(st Stats) bool { return st.Received == 3 })
	late.mu.Lock()
	defer late.mu.Unlock()
	if len(late.audio) == 0 {
		t.Fatal("no audio delivered for B")
	}
	// Its arrival lies between the send and the moment the worker could
	// read it (300 ms later); without the kernel's time it is after that.
	if a := late.audio[0].Arrival; a.Before(sent.Add(-time.Millisecond)) || !a.Before(read) {
		t.Fatalf("B's first Arrival %v after the send, %v before the worker could read it; want the send's time",
			a.Sub(sent), read.Sub(a))
	}
	// and it keeps the monotonic clock (the kernel's time is the wall
	// clock, which a step of the system clock moves)
	if a := late.audio[0].Arrival; a == a.Round(0) {
		t.Error("B's Arrival has no monotonic clock reading")
	}
}

// startSteered starts a Receiver on p delivering to h, and returns once
// its port is steered; it is closed at the test's end.
func startSteered(t *testing.T, p *Poller, h Handler) *Receiver {
	t.Helper()
	rx, err := NewReceiver(allocate(t), ReceiverConfig{Poller: p, Handler: h, LatchPackets: 1})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() { _ = rx.RunReady(context.Background(), func() { close(ready) }) }()
	<-ready
	t.Cleanup(func() { _ = rx.Close() })
	return rx
}

// prefetchRecorder is a recorder that is also a Prefetcher: it counts the
// Prefetch calls and, in HandleAudio, that one came before each packet.
type prefetchRecorder struct {
	recorder
	prefetches atomic.Int64
	audio      atomic.Int64
	early      atomic.Int64 // audio handled with no Prefetch before it
}

func (p *prefetchRecorder) Prefetch() uintptr { return uintptr(p.prefetches.Add(1)) }

func (p *prefetchRecorder) HandleAudio(a Audio) {
	if p.audio.Add(1) > p.prefetches.Load() {
		p.early.Add(1)
	}
	p.recorder.HandleAudio(a)
}

// TestSteeringPrefetches: a worker reading a batch of steered datagrams
// calls each one's stream handler's Prefetch before handling any; the
// worker's streams decode into the worker's one buffer, and a Receiver
// that leaves the worker stops using it.
func TestSteeringPrefetches(t *testing.T) {
	p := newSteeredPoller(t, 1)
	var recs [2]*prefetchRecorder
	var rxs [2]*Receiver
	for i := range rxs {
		recs[i] = &prefetchRecorder{recorder: recorder{strict: true}}
		rxs[i] = startSteered(t, p, recs[i])
	}
	w := p.workers[0]
	w.mu.Lock()
	shared := &rxs[0].s.pcm[0] == &w.pcm[0] && &rxs[1].s.pcm[0] == &w.pcm[0]
	w.mu.Unlock()
	if !shared {
		t.Error("the worker's streams do not decode into the worker's buffer")
	}
	peers := [2]*peer{newPeer(t, rxs[0].LocalAddr()), newPeer(t, rxs[1].LocalAddr())}
	const n = 50
	for seq := range uint16(n) {
		for i, pe := range peers {
			sq := seq + uint16(i)*100 // the payload's pattern is its sequence number
			pe.raw(rtpPacket(t, ssrcA+uint32(i), sq, uint32(seq)*160, 0, false, pattern(sq, 160)))
		}
	}
	for i, rx := range rxs {
		waitStats(t, rx, "every packet", func(st Stats) bool { return st.Received == n })
		if got := recs[i].prefetches.Load(); got < n {
			t.Errorf("stream %d: %d Prefetch calls for %d steered packets, want one each", i, got, n)
		}
		if got := recs[i].early.Load(); got != 0 {
			t.Errorf("stream %d: %d packets handled before their Prefetch", i, got)
		}
	}
	recs[0].check(t)
	recs[1].check(t)
	// A Receiver that leaves the worker no longer decodes into its buffer
	// (it would share it with the worker's streams from another goroutine).
	if err := rxs[0].Close(); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	own := rxs[0].s.pcm == nil || &rxs[0].s.pcm[0] != &w.pcm[0]
	w.mu.Unlock()
	if !own {
		t.Error("a closed Receiver's stream still decodes into the worker's buffer")
	}
}
