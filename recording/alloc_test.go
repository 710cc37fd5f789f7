package recording

import (
	"testing"
)

// TestNoAllocationsPerPacket: in steady state, a packet costs no
// allocation — writes, mixing, encoding, file writes and flushes included.
func TestNoAllocationsPerPacket(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, f := range []Format{WAV, MP3} {
		t.Run(f.String(), func(t *testing.T) {
			var l *LAME
			if f == MP3 {
				l = requireLAME(t)
			}
			r, _ := newTestRecorder(t, Config{Format: f, LAME: l, Streams: twoStreams(), FlushInterval: 100 * 1e6})
			a, b := r.Stream(0), r.Stream(1)
			must(t, a.StartAt(0))
			must(t, b.StartAt(0))
			pa, pb := tone(1000, 8000, rate8k, 0, 160), tone(600, 8000, rate8k, 0, 160)
			var k int64
			packet := func() {
				// Reordered pairs, a gap, a duplicate: every path of a packet.
				switch k % 50 {
				case 10:
					_ = a.Write((k+1)*160, pa)
					_ = a.Write(k*160, pa)
					_ = b.Gap(k*160, 320)
					k += 2
					return
				case 20:
					_ = a.Write(k*160, pa)
					_ = a.Write(k*160, pa)
				default:
					_ = a.Write(k*160, pa)
				}
				_ = b.Write(k*160, pb)
				k++
			}
			for range 500 { // warm up: buffers, LAME's start
				packet()
			}
			if n := testing.AllocsPerRun(5000, packet); n != 0 {
				t.Errorf("%.3f allocations per packet, want 0", n)
			}
			st := a.Stats()
			if st.Duplicate == 0 {
				t.Error("the duplicate path was not exercised")
			}
			_, err := r.Stop()
			must(t, err)
		})
	}
}
