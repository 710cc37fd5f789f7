package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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
		rx, err := NewReceiver(allocate(t), ReceiverConfig{LatchPackets: 1, Poller: poller})
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

// TestTimelineNotAhead runs issue 14 item 3's attack on the receive path:
// timestamps that each jump nearly the skew limit (500 packets in 0.56 s
// made a 499 s recording), and packets sent twenty times faster than real
// time with consecutive timestamps. Neither moves the timeline more than
// MaxTimestampSkew ahead of the arrival clock; what would is dropped and
// counted.
func TestTimelineNotAhead(t *testing.T) {
	tests := []struct {
		name   string
		tsStep uint32
		every  time.Duration
		n      int
	}{
		{"timestamps jump 0.975 s a packet", 7800 + 160, 1120 * time.Microsecond, 500},
		{"twenty times real time", 160, time.Millisecond, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestStream(t, 5)
			t0 := time.Unix(1700000000, 0)
			at := t0
			for i := range tc.n {
				at = t0.Add(time.Duration(i) * tc.every)
				s.process(rtpPacket(t, ssrcA, uint16(i), uint32(i)*tc.tsStep, 0, false, pattern(uint16(i), 160)), srcAddr, at)
			}
			s.flush()
			rec.check(t)
			st := s.stats()
			limit := durationSamples(at.Sub(t0)) + 8000 + 160 // skew 1 s, the last packet's own samples
			if rec.pos > limit {
				t.Errorf("timeline of %v after %v of arrivals, want at most %v", SamplesToDuration(rec.pos), at.Sub(t0), SamplesToDuration(limit))
			}
			if st.Ahead == 0 || st.AheadSamples == 0 || st.Samples+st.GapSamples != rec.pos {
				t.Errorf("stats: %d packets, %d samples dropped ahead; %d + %d samples delivered, timeline %d", st.Ahead, st.AheadSamples, st.Samples, st.GapSamples, rec.pos)
			}
			if int(st.Ahead)+len(rec.audio) != tc.n {
				t.Errorf("%d packets delivered + %d dropped ahead != %d sent", len(rec.audio), st.Ahead, tc.n)
			}
		})
	}
}

// FuzzTimeline: whatever the sequence numbers, timestamps, SSRCs, sizes
// and arrival times (forwards, backwards, bursts), no packet is placed
// more than MaxTimestampSkew ahead of the arrival clock (the latest
// arrival so far, from the arrival of position 0), the timeline stays
// continuous, and the statistics add up. Each 10 bytes of input are one
// packet: sequence number (2), timestamp (4), arrival step in 0.1 ms
// (int16, may be negative), payload length (1), flags (1: SSRC change,
// payload type 8 or 101, marker).
func FuzzTimeline(f *testing.F) {
	pkt := func(seq uint16, ts uint32, step int16, n, flags byte) []byte {
		b := make([]byte, 10)
		binary.BigEndian.PutUint16(b, seq)
		binary.BigEndian.PutUint32(b[2:], ts)
		binary.BigEndian.PutUint16(b[6:], uint16(step))
		b[8], b[9] = n, flags
		return b
	}
	var steady, attack, backwards []byte
	for i := range 20 {
		steady = append(steady, pkt(uint16(i), uint32(i*160), 200, 160, 0)...)
		attack = append(attack, pkt(uint16(i), uint32(i*7960), 11, 160, 0)...)
		backwards = append(backwards, pkt(uint16(i), uint32(i*160), int16(200-40*(i%3)*(i%5)), 160, byte(i%4))...)
	}
	f.Add(steady)
	f.Add(attack)
	f.Add(backwards)
	f.Fuzz(func(t *testing.T, data []byte) {
		const skew = 8000
		var first, latest time.Time
		var errs []string
		rec := &recorder{}
		check := HandlerFuncs{
			Audio: func(a Audio) {
				if a.Position == 0 {
					first = a.Arrival
				}
				if limit := durationSamples(latest.Sub(first)) + skew; a.Position > limit {
					errs = append(errs, fmt.Sprintf("audio at %d, limit %d", a.Position, limit))
				}
				rec.HandleAudio(a)
			},
			Gap: func(g Gap) {
				if limit := durationSamples(latest.Sub(first)) + skew; g.Position+g.Samples > limit {
					errs = append(errs, fmt.Sprintf("gap to %d, limit %d", g.Position+g.Samples, limit))
				}
				rec.HandleGap(g)
			},
		}
		sc, codecs, err := resolveConfig(ReceiverConfig{Handler: check, MaxTimestampSkew: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s := newStream(sc, codecs)
		at := time.Unix(1700000000, 0)
		for ; len(data) >= 10; data = data[10:] {
			seq, ts := binary.BigEndian.Uint16(data), binary.BigEndian.Uint32(data[2:])
			at = at.Add(time.Duration(int16(binary.BigEndian.Uint16(data[6:]))) * 100 * time.Microsecond)
			if at.After(latest) {
				latest = at
			}
			ssrc, pt := uint32(ssrcA), uint8(0)
			if data[9]&1 != 0 {
				ssrc = ssrcB
			}
			switch data[9] >> 1 & 3 {
			case 1:
				pt = 8
			case 2:
				pt = PayloadTypeTelephoneEvent
			}
			s.process(rtpPacket(t, ssrc, seq, ts, pt, data[9]&8 != 0, pattern(seq, int(data[8]))), srcAddr, at)
		}
		s.expire(latest.Add(time.Hour))
		s.flush()
		for _, e := range errs {
			t.Fatal(e)
		}
		rec.check(t)
		st := s.stats()
		if st.Samples+st.GapSamples != rec.pos {
			t.Fatalf("samples %d + gaps %d != timeline %d", st.Samples, st.GapSamples, rec.pos)
		}
	})
}
