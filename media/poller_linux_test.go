package media

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests look inside the Linux Poller's workers (their lock, their
// epoll descriptor, their idle waits) to put them in the state a defect
// needs, without relying on timing.

// TestPollerIdleWaitDoesNotAllocate sends sparse packets to a Receiver on
// a Poller with no pause between rounds: after each packet the worker finds
// nothing and waits in Go's network poller, and each packet wakes it. Going
// idle and waking must not allocate (it happens once per packet here, and
// per packet for any stream whose packets are further apart than the idle
// rounds).
func TestPollerIdleWaitDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	p, err := NewPoller(PollerConfig{Workers: 1, RoundInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	w := p.workers[0]
	rx, _ := startReceiver(t, ReceiverConfig{Handler: &nopHandler{}, Poller: p})
	pe := newPeer(t, rx.LocalAddr())
	pkt := rtpPacket(t, ssrcA, 0, 0, 0, false, pattern(0, 160))
	sent := 0
	send := func() {
		waits := w.idleWaits.Load()
		rewrite(pkt, uint16(sent), uint32(sent*160))
		if _, err := pe.conn.WriteToUDPAddrPort(pkt, pe.to); err != nil {
			t.Fatal(err)
		}
		sent++
		deadline := time.Now().Add(5 * time.Second)
		// The packet is processed, and the worker waits again.
		for rx.Stats().Datagrams < uint64(sent) || w.idleWaits.Load() == waits {
			if time.Now().After(deadline) {
				t.Fatalf("packet %d: %d datagrams, %d idle waits (%d before it)", sent, rx.Stats().Datagrams, w.idleWaits.Load(), waits)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	for range 20 {
		send()
	}
	if n := testing.AllocsPerRun(200, send); n != 0 {
		t.Errorf("%v allocations per packet that wakes an idle worker", n)
	}
}

// TestPollerDrainsBurst holds the worker while a burst lands in one
// socket, the packet the others wait for last: the worker must read the
// burst in one round (with a batch of one: two, the first reading one
// packet), so the missing packet is found before the reorder timer (30 ms;
// a round per packet would take 59 ms at least) declares it lost.
func TestPollerDrainsBurst(t *testing.T) {
	for _, tc := range []struct{ batch, rounds int }{{1, 2}, {8, 1}} {
		t.Run(fmt.Sprintf("batch=%d", tc.batch), func(t *testing.T) {
			p, err := NewPoller(PollerConfig{Workers: 1, Batch: tc.batch})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			w := p.workers[0]
			// 60 packets (1.2 s of audio) arrive within milliseconds: a skew
			// of 2 s keeps them all on the timeline (see Stats.Ahead).
			rx, rec := startReceiver(t, ReceiverConfig{ReorderDepth: 64, ReorderWait: 30 * time.Millisecond, Poller: p, Handler: &recorder{strict: true},
				MaxTimestampSkew: 2 * time.Second})
			pe := newPeer(t, rx.LocalAddr())
			send := func(seq uint16) { pe.raw(rtpPacket(t, ssrcA, seq, uint32(seq)*160, 0, false, pattern(seq, 160))) }
			send(1)
			waitStats(t, rx, "the first packet", func(st Stats) bool { return st.Received == 1 })
			w.mu.Lock() // no round can read the socket until the burst is in it
			for seq := uint16(3); seq <= 60; seq++ {
				send(seq)
			}
			send(2)
			before := w.rounds
			w.mu.Unlock()
			waitStats(t, rx, "60 packets", func(st Stats) bool { return st.Received == 60 })
			w.mu.Lock()
			rounds := int(w.rounds - before)
			w.mu.Unlock()
			if rounds > tc.rounds {
				t.Errorf("the burst took %d rounds to read, want %d at most", rounds, tc.rounds)
			}
			rec.check(t)
			checkStats(t, rx.Stats(), map[string]uint64{"Lost": 0, "Late": 0, "Samples": 60 * 160, "GapSamples": 0})
			if t.Failed() {
				t.Log(rec.Trace())
			}
		})
	}
}

// TestPollerRegisterErrors: a Poller not made by NewPoller, or whose
// workers all failed, cannot take a Receiver; Run says why.
func TestPollerRegisterErrors(t *testing.T) {
	t.Run("zero Poller", func(t *testing.T) {
		p := &Poller{}
		rx, err := NewReceiver(allocate(t), ReceiverConfig{LatchPackets: 1, Poller: p})
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		if err := runWithin(t, rx, context.Background()); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Run on a Poller{} = %v, want ErrInvalidConfig", err)
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Run("every worker failed", func(t *testing.T) {
		p := newTestPoller(t, 1)
		w := p.workers[0]
		rx1, err := NewReceiver(allocate(t), ReceiverConfig{LatchPackets: 1, Poller: p})
		if err != nil {
			t.Fatal(err)
		}
		defer rx1.Close()
		done := make(chan error, 1)
		go func() { done <- rx1.Run(context.Background()) }()
		pe := newPeer(t, rx1.LocalAddr())
		pe.raw(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)))
		waitStats(t, rx1, "the first packet", func(st Stats) bool { return st.Received == 1 })
		// Break the worker's epoll descriptor (a descriptor that is not an
		// epoll instance takes its number, so epoll_wait fails with EINVAL);
		// keep the instance itself open, so that a worker waiting in Go's
		// poller wakes for the next packet.
		keep, err := unix.Dup(w.epfd)
		if err != nil {
			t.Fatal(err)
		}
		null, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer null.Close()
		if err := unix.Dup3(int(null.Fd()), w.epfd, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Close(keep) }) // after the Poller's Close
		pe.raw(rtpPacket(t, ssrcA, 2, 160, 0, false, pattern(2, 160)))
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "epoll_wait") {
				t.Errorf("Run of a Receiver on the failed worker = %v, want the epoll_wait error", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its worker failed")
		}
		rx2, err := NewReceiver(allocate(t), ReceiverConfig{LatchPackets: 1, Poller: p})
		if err != nil {
			t.Fatal(err)
		}
		defer rx2.Close()
		err = runWithin(t, rx2, context.Background())
		if !errors.Is(err, ErrClosed) || !errors.Is(err, unix.EINVAL) {
			t.Errorf("Run on a Poller whose workers failed = %v, want ErrClosed and the workers' failure", err)
		}
	})
}

// runWithin runs rx and fails the test if Run does not return within 5 s.
func runWithin(t *testing.T, rx *Receiver, ctx context.Context) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- rx.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// TestPollerStopBeforePollerClose: a Run asked to stop (context or Close)
// returns nil even when the Poller is closed before Run has left its
// worker. The worker's lock is held so that the Poller's drop of the
// Receiver (done here as Poller.Close does it) comes between the request
// and Run's deregistration.
func TestPollerStopBeforePollerClose(t *testing.T) {
	for _, how := range []string{"context", "Close"} {
		t.Run(how, func(t *testing.T) {
			p := newTestPoller(t, 1)
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
			newPeer(t, rx.LocalAddr()).raw(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)))
			waitStats(t, rx, "the first packet", func(st Stats) bool { return st.Received == 1 })
			w.mu.Lock()
			closed := make(chan error, 1)
			if how == "context" {
				cancel()
			} else {
				go func() { closed <- rx.Close() }()
				for !rx.stopping.Load() {
					time.Sleep(100 * time.Microsecond)
				}
			}
			w.drop(rx.ps.slot, errPollerClosed())
			w.mu.Unlock()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil (the stop was asked before the Poller closed)", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return")
			}
			if how == "Close" {
				if err := <-closed; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// workerLoads returns how many Receivers each of p's workers serves.
func workerLoads(p *Poller) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := make([]int, len(p.workers))
	for i, w := range p.workers {
		n[i] = w.count
	}
	return n
}

// TestPollerStopReadsWhatCame checks that the datagrams already in a polled
// Receiver's socket when it is stopped are read and delivered, as a
// Receiver reading its own socket would have: a worker that had not come
// round to them (here: the socket is taken out of its epoll set, so it never
// will) must not lose the end of the stream.
func TestPollerStopReadsWhatCame(t *testing.T) {
	for _, how := range []string{"context", "Close"} {
		t.Run(how, func(t *testing.T) {
			p := newTestPoller(t, 1)
			w := p.workers[0]
			rec := &recorder{}
			rx, err := NewReceiver(allocate(t), ReceiverConfig{LatchPackets: 1, Poller: p, Handler: rec})
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- rx.Run(ctx) }()
			peer := newPeer(t, rx.LocalAddr())
			peer.raw(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)))
			waitStats(t, rx, "the first packet", func(st Stats) bool { return st.Received == 1 })
			w.mu.Lock()
			if err := w.ctl(unix.EPOLL_CTL_DEL, rx.ps.sock, rx.ps.slot, rx.ps.gen); err != nil {
				w.mu.Unlock()
				t.Fatal(err)
			}
			w.mu.Unlock()
			const more = 5
			for i := range uint16(more) {
				seq := 2 + i
				peer.raw(rtpPacket(t, ssrcA, seq, uint32(seq-1)*160, 0, false, pattern(seq, 160)))
			}
			// On loopback the datagrams are in the socket when the sends return.
			if how == "context" {
				cancel()
			} else if err := rx.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run = %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return")
			}
			if st := rx.Stats(); st.Received != 1+more || st.Lost != 0 {
				t.Fatalf("after the stop: received %d, lost %d; want %d and 0 (the datagrams in the socket)", st.Received, st.Lost, 1+more)
			}
		})
	}
}

// steeredDatagrams returns how many datagrams p's workers took from their
// shared sockets.
func steeredDatagrams(p *Poller) uint64 { return taken(p) }

// waitSteered waits until rx is registered with its Poller and steered.
func waitSteered(t testing.TB, rx *Receiver) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if w := rx.poller.workerOf(rx); w != nil {
			w.mu.Lock()
			ok := rx.ps.w == w && w.slots[rx.ps.slot].steered
			w.mu.Unlock()
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the Receiver was not steered")
		}
		time.Sleep(time.Millisecond)
	}
}

// workerOf returns the worker rx is registered with, or nil.
func (p *Poller) workerOf(rx *Receiver) *pollWorker {
	for _, w := range p.workers {
		w.mu.Lock()
		ok := rx.ps.w == w
		w.mu.Unlock()
		if ok {
			return w
		}
	}
	return nil
}
