package media

import (
	"math"
	"testing"
	"time"
)

// rfcJitter computes the interarrival jitter of RFC 3550 §6.4.1, in
// timestamp units, from scratch and in floating point: for consecutive
// packets i-1, i with arrival times R (converted to timestamp units at
// 8 kHz) and RTP timestamps S, D = (R_i - R_{i-1}) - (S_i - S_{i-1}) and
// J += (|D| - J) / 16, starting from j. arrivals are offsets from any fixed
// instant.
func rfcJitter(j float64, arrivals []time.Duration, timestamps []uint32) float64 {
	for i := 1; i < len(arrivals); i++ {
		r := (arrivals[i] - arrivals[i-1]).Seconds() * 8000
		s := float64(int32(timestamps[i] - timestamps[i-1]))
		j += (math.Abs(r-s) - j) / 16
	}
	return j
}

// paced returns n audio packets of source ssrc (20 ms, 160 timestamp units
// apart, sequence numbers from seq, timestamps from ts) arriving gaps[i%len]
// apart (the first after first), with their arrival offsets and timestamps.
func paced(ssrc uint32, seq uint16, ts uint32, n int, first time.Duration, gaps ...time.Duration) (steps []step, arrivals []time.Duration, timestamps []uint32) {
	var at time.Duration
	for i := range n {
		gap := first
		if i > 0 {
			gap = gaps[(i-1)%len(gaps)]
		}
		at += gap
		s := step{seq: seq + uint16(i), ts: ts + uint32(160*i), ssrc: ssrc, after: gap}
		steps = append(steps, s)
		arrivals = append(arrivals, at)
		timestamps = append(timestamps, s.ts)
	}
	return steps, arrivals, timestamps
}

// TestReceiverJitter checks the RFC 3550 interarrival jitter of the
// statistics against the RFC's formula computed here in floating point
// (the receiver uses the integer form of RFC 3550 A.8, hence a tolerance
// of one timestamp unit), over real UDP sockets with a fake clock, and what
// happens when the source changes: the step from the old source's last
// packet to the new source's first is no transit (its timestamp jump would
// otherwise add a huge D), and the estimate starts again from zero, as
// RFC 3550 keeps one per SSRC.
func TestReceiverJitter(t *testing.T) {
	type phase struct {
		steps      []step
		arrivals   []time.Duration
		timestamps []uint32
	}
	mk := func(steps []step, arr []time.Duration, ts []uint32) phase { return phase{steps, arr, ts} }
	ms := time.Millisecond
	tests := []struct {
		name   string
		phases []phase // one per source; no transit between phases
		want   float64 // a sanity bound on the RFC value: it must be within 3 of it
	}{
		{"steady 20 ms", []phase{mk(paced(ssrcA, 100, 0, 20, 20*ms, 20*ms))}, 0},
		// every D is |80 - 160| or |240 - 160| = 80: J converges to 80
		{"alternately 10 and 30 ms", []phase{mk(paced(ssrcA, 100, 0, 80, 20*ms, 10*ms, 30*ms))}, 80},
		// the old source's J (near 80 after 60 packets) is forgotten; the
		// new one's packets have D = 40 (7 transits: the jump between the
		// sources does not count)
		{"SSRC change", []phase{
			mk(paced(ssrcA, 100, 0, 60, 20*ms, 10*ms, 30*ms)),
			mk(paced(ssrcB, 9000, 5_000_000, 8, 20*ms, 15*ms, 25*ms)),
		}, 40 * (1 - math.Pow(15.0/16, 7))},
		{"steady after an SSRC change", []phase{
			mk(paced(ssrcA, 100, 0, 60, 20*ms, 10*ms, 30*ms)),
			mk(paced(ssrcB, 9000, 5_000_000, 5, 20*ms, 20*ms)),
		}, 0},
	}
	receivePaths(t, func(t *testing.T, poller *Poller) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				clk := newFakeClock()
				rx, _ := startReceiver(t, ReceiverConfig{Now: clk.Now, Poller: poller})
				var steps []step
				for _, p := range tc.phases {
					steps = append(steps, p.steps...)
				}
				sendSteps(t, rx, clk, steps)
				var want float64
				for _, p := range tc.phases {
					want = rfcJitter(0, p.arrivals, p.timestamps) // one estimate per SSRC
				}
				if math.Abs(want-tc.want) > 3 {
					t.Fatalf("test data: RFC jitter %.2f, expected about %.2f", want, tc.want)
				}
				st := rx.Stats()
				if math.Abs(float64(st.JitterUnits)-want) > 1 {
					t.Errorf("JitterUnits = %d, want %.2f (RFC 3550 §6.4.1) ± 1", st.JitterUnits, want)
				}
				if wantD := time.Duration(st.JitterUnits) * time.Second / 8000; st.Jitter != wantD {
					t.Errorf("Jitter = %v, want %v (JitterUnits at 8 kHz)", st.Jitter, wantD)
				}
				if err := rx.Close(); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}
