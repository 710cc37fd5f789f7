package media

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

var srcAddr = netip.MustParseAddrPort("192.0.2.1:4000")

func newTestStream(t testing.TB, depth int) (*stream, *recorder) {
	t.Helper()
	rec := &recorder{}
	sc, codecs, err := resolveConfig(ReceiverConfig{Handler: rec, ReorderDepth: depth})
	if err != nil {
		t.Fatal(err)
	}
	return newStream(sc, codecs), rec
}

// TestTimelineProperty feeds a long stream with random loss, reordering,
// duplicates and silence (arrival times consistent with the timestamps) and
// checks: the timeline is continuous; every packet lands at exactly its
// timestamp's offset from the first delivered; nothing is delivered twice or out of
// order; the statistics add up.
func TestTimelineProperty(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 7))
		depth := r.IntN(8)
		s, rec := newTestStream(t, depth)
		t0 := time.Unix(1700000000, 0)
		seq0 := uint16(r.Uint32())
		ts0 := r.Uint32()
		type sent struct {
			seq uint16
			ts  uint32
			at  time.Time
		}
		var order []sent
		ts := ts0
		for i := range 3000 {
			if r.IntN(50) == 0 {
				ts += uint32(160 * (1 + r.IntN(20))) // suppressed silence
			}
			p := sent{seq: seq0 + uint16(i), ts: ts, at: t0.Add(SamplesToDuration(int64(ts-ts0)) + time.Duration(r.IntN(30))*time.Millisecond)}
			ts += 160
			if r.IntN(10) == 0 {
				continue // lost
			}
			order = append(order, p)
			if r.IntN(20) == 0 {
				order = append(order, p) // duplicate
			}
		}
		for i := 0; i+1 < len(order); i++ {
			if r.IntN(10) == 0 {
				order[i], order[i+1] = order[i+1], order[i]
				order[i].at, order[i+1].at = order[i+1].at, order[i].at
			}
		}
		distinct := map[uint16]bool{}
		for _, p := range order {
			distinct[p.seq] = true
			s.process(rtpPacket(t, ssrcA, p.seq, p.ts, 0, false, pattern(p.seq, 160)), srcAddr, p.at)
		}
		s.flush()
		rec.check(t)
		var last int64 = -1
		for _, a := range rec.audio {
			if want := int64(a.Timestamp - rec.audio[0].Timestamp); a.Position != want {
				t.Fatalf("seed %d: seq %d at %d, want %d", seed, a.SequenceNumber, a.Position, want)
			}
			if a.Position <= last {
				t.Fatalf("seed %d: seq %d delivered out of order or twice", seed, a.SequenceNumber)
			}
			last = a.Position
		}
		st := s.stats()
		if st.Received != uint64(len(order)) || st.Received-st.Duplicates != uint64(len(distinct)) {
			t.Errorf("seed %d: received %d (dups %d), sent %d (%d distinct)", seed, st.Received, st.Duplicates, len(order), len(distinct))
		}
		if st.Expected-st.Lost != uint64(len(distinct)) {
			t.Errorf("seed %d: expected %d - lost %d != %d distinct", seed, st.Expected, st.Lost, len(distinct))
		}
		if uint64(len(rec.audio))+st.Late != uint64(len(distinct)) {
			t.Errorf("seed %d: %d delivered + %d late != %d distinct", seed, len(rec.audio), st.Late, len(distinct))
		}
		if st.Samples+st.GapSamples != rec.pos {
			t.Errorf("seed %d: samples %d + gaps %d != timeline %d", seed, st.Samples, st.GapSamples, rec.pos)
		}
	}
}

// TestReorderWait checks that a packet waits for a missing one at most
// ReorderWait, on a live Receiver (the missing packet never comes and the
// stream is not closed).
func TestReorderWait(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		rx, rec := startReceiver(t, ReceiverConfig{ReorderDepth: 50, ReorderWait: 30 * time.Millisecond, Poller: poller})
		p := newPeer(t, rx.LocalAddr())
		p.raw(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)))
		p.raw(rtpPacket(t, ssrcA, 3, 320, 0, false, pattern(3, 160)))
		waitStats(t, rx, "packet 3 released", func(st Stats) bool { return st.Samples == 320 })
		if got, want := rec.Trace(), "a1@0 g160@160:loss a3@320"; got != want {
			t.Errorf("trace %q, want %q", got, want)
		}
	})
}

// TestDTMFTimeout checks that an event whose end packets never come is
// delivered one second after its last packet, on a live Receiver.
func TestDTMFTimeout(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		clk := newFakeClock()
		rx, rec := startReceiver(t, ReceiverConfig{Now: clk.Now, Poller: poller})
		p := newPeer(t, rx.LocalAddr())
		p.raw(rtpPacket(t, ssrcA, 1, 0, PayloadTypeTelephoneEvent, true, eventPayload(t, 9, false, 160)))
		waitStats(t, rx, "event packet", func(st Stats) bool { return st.Received == 1 })
		clk.Advance(999 * time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		if st := rx.Stats(); st.DTMFEvents != 0 {
			t.Fatal("event delivered before its timeout")
		}
		clk.Advance(time.Millisecond)
		waitStats(t, rx, "event timed out", func(st Stats) bool { return st.DTMFEvents == 1 })
		if got, want := rec.Trace(), "d9@0+160"; got != want {
			t.Errorf("trace %q, want %q", got, want)
		}
	})
}

// TestLongDTMFEvent follows an event over two segments (RFC 4733 §2.5.1.3).
func TestLongDTMFEvent(t *testing.T) {
	s, rec := newTestStream(t, 0)
	at := time.Unix(0, 0)
	send := func(seq uint16, ts uint32, marker, end bool, dur uint16) {
		s.process(rtpPacket(t, ssrcA, seq, ts, PayloadTypeTelephoneEvent, marker, eventPayload(t, 0, end, dur)), srcAddr, at)
	}
	send(1, 1000, true, false, 160)
	send(2, 1000, false, false, 65535)
	send(3, 1000+65535, false, false, 160) // second segment
	send(4, 1000+65535, false, true, 1000)
	send(5, 1000+65535, false, true, 1000)
	s.flush()
	if got, want := rec.Trace(), "d0@0+66535E"; got != want {
		t.Errorf("trace %q, want %q", got, want)
	}
}

// TestRelatchAndSetCodecs follows a re-INVITE: the remote port changes
// (Relatch) and the codec changes from PCMU to PCMA on payload type 8.
func TestRelatchAndSetCodecs(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		rx, rec := startReceiver(t, ReceiverConfig{Codecs: []Codec{{PayloadType: 0, Encoding: EncodingPCMU, ClockRate: 8000}}, Poller: poller})
		a, b := newPeer(t, rx.LocalAddr()), newPeer(t, rx.LocalAddr())
		a.raw(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)))
		b.raw(rtpPacket(t, ssrcA, 2, 160, 8, false, pattern(2, 160))) // stranger, and PCMA not accepted yet
		waitStats(t, rx, "two datagrams", func(st Stats) bool { return st.Datagrams == 2 })
		rx.Relatch()
		rx.SetCodecs([]Codec{{PayloadType: 8, Encoding: EncodingPCMA, ClockRate: 8000}})
		b.raw(rtpPacket(t, ssrcA, 2, 160, 8, false, pattern(2, 160)))
		a.raw(rtpPacket(t, ssrcA, 3, 320, 8, false, pattern(3, 160)))
		b.raw(rtpPacket(t, ssrcA, 3, 320, 8, false, pattern(3, 160)))
		waitStats(t, rx, "five datagrams", func(st Stats) bool { return st.Datagrams == 5 })
		_ = rx.Close()
		rec.check(t)
		if got, want := rec.Trace(), "a1@0 a2@160 a3@320"; got != want {
			t.Errorf("trace %q, want %q", got, want)
		}
		if rec.audio[1].Encoding != EncodingPCMA {
			t.Errorf("packet 2 decoded as %v", rec.audio[1].Encoding)
		}
		checkStats(t, rx.Stats(), map[string]uint64{"Strangers": 2, "SourceChanges": 0, "Received": 3, "Lost": 0})
	})
}

func TestReceiverLifecycle(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		rx, err := NewReceiver(allocate(t), ReceiverConfig{Poller: poller})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- rx.Run(ctx) }()
		// Once a packet has been processed, the goroutine's Run is running.
		newPeer(t, rx.LocalAddr()).raw(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)))
		waitStats(t, rx, "the packet processed", func(st Stats) bool { return st.Datagrams == 1 })
		if err := rx.Run(ctx); !errors.Is(err, ErrRunning) {
			t.Fatalf("second Run = %v, want ErrRunning", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		// Run again, stopped by Close this time.
		go func() { done <- rx.Run(context.Background()) }()
		time.Sleep(10 * time.Millisecond)
		if err := rx.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("Run after Close = %v", err)
		}
		if err := rx.Run(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Run after Close = %v, want ErrClosed", err)
		}
		if err := rx.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if _, err := NewReceiver(nil, ReceiverConfig{}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewReceiver(nil) = %v", err)
		}
		if _, err := NewReceiver(allocate(t), ReceiverConfig{ReorderDepth: 5000}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ReorderDepth 5000: %v", err)
		}
	})
}
