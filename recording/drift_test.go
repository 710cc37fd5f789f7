package recording

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/media"
)

// sender simulates one party's RTP as a MediaHandler sees it: packets of
// 160 samples of the sender's clock, which runs ppm fast (negative: slow)
// against the wall clock, captured from start (wall-clock time since t0),
// arriving one packet period plus delay plus a random jitter later.
type sender struct {
	ppm    float64
	start  time.Duration
	delay  time.Duration
	jitter func() time.Duration
}

// period returns the wall-clock length of one packet.
func (s sender) period() float64 { return 0.020 / (1 + s.ppm*1e-6) }

// capture returns the wall-clock time since t0 at which packet k's first
// sample was captured.
func (s sender) capture(k int64) float64 { return s.start.Seconds() + float64(k)*s.period() }

// arrival returns when packet k is read from the socket.
func (s sender) arrival(k int64) time.Time {
	at := time.Duration(math.Round((s.capture(k) + s.period()) * 1e9))
	return t0.Add(at + s.delay + s.jitter())
}

// TestMediaHandlerClockDrift simulates a one-hour two-party call (no real
// time passes) whose caller's clock runs 100 ppm fast and callee's 100 ppm
// slow, each with up to 30 ms of network jitter: uncorrected, the caller
// would end 360 ms (18 packets) late in the file and the callee 360 ms
// early. Marker packets captured at known wall-clock instants (every five
// minutes, and 1 s before the end) must each be found in the file within
// one packet (160 samples) of the place its wall-clock time gives it, and
// the two parties within one packet of each other; the correction goes one
// way only (samples dropped from the fast sender, silence inserted into the
// slow one), and adds up to the drift.
func TestMediaHandlerClockDrift(t *testing.T) {
	testenv.Short(t, "writes a one-hour (115 MB) WAV")
	const pkt = 160
	rng := rand.New(rand.NewPCG(3, 4))
	jitter := func() time.Duration { return time.Duration(rng.Int64N(int64(30 * time.Millisecond))) }
	parties := [2]sender{
		{ppm: +100, start: 200 * time.Millisecond, delay: 40 * time.Millisecond, jitter: jitter},
		{ppm: -100, start: 1503750 * time.Microsecond, delay: 25 * time.Millisecond, jitter: jitter},
	}
	var markers []time.Duration
	for m := 1; m <= 11; m++ {
		markers = append(markers, time.Duration(m)*5*time.Minute)
	}
	markers = append(markers, time.Hour-time.Second)
	// markerPacket[c][k] is the marker number+1 of party c's packet k.
	var markerPacket [2]map[int64]int
	for c, p := range parties {
		markerPacket[c] = map[int64]int{}
		for i, m := range markers {
			k := int64(math.Ceil((m.Seconds() - p.start.Seconds()) / p.period()))
			markerPacket[c][k] = i + 1
		}
	}
	value := func(c int, k int64) int16 {
		v := int16(1000)
		if m := markerPacket[c][k]; m > 0 {
			v = int16(20000 + m)
		}
		if c == 1 {
			v = -v
		}
		return v
	}

	r, path := newTestRecorder(t, Config{Streams: twoStreams()})
	var hs [2]*MediaHandler
	for c := range hs {
		h, err := r.Stream(c).MediaHandler()
		must(t, err)
		hs[c] = h
	}
	pcm := make([]int16, pkt)
	var next [2]int64
	for {
		// The party whose next packet is due first on the wall clock.
		c := 0
		if parties[1].capture(next[1]) < parties[0].capture(next[0]) {
			c = 1
		}
		k := next[c]
		if parties[c].capture(k) >= 3600 {
			break
		}
		for i := range pcm {
			pcm[i] = value(c, k)
		}
		hs[c].HandleAudio(media.Audio{Position: k * pkt, PCM: pcm, Arrival: parties[c].arrival(k), Encoding: media.EncodingPCMU})
		next[c]++
	}
	res, err := r.Stop()
	must(t, err)

	stats := [2]MediaStats{hs[0].Stats(), hs[1].Stats()}
	t.Logf("caller %+v, callee %+v, file %v", stats[0], stats[1], res.Duration)
	// 100 ppm of the hour each stream lasted, in samples.
	for c, want := range [2]MediaStats{{Dropped: 2880}, {Inserted: 2880}} {
		got := stats[c]
		if math.Abs(float64(got.Dropped-want.Dropped)) > 160 || math.Abs(float64(got.Inserted-want.Inserted)) > 160 ||
			(want.Dropped == 0) != (got.Dropped == 0) || (want.Inserted == 0) != (got.Inserted == 0) {
			t.Errorf("party %d: dropped %d, inserted %d samples; want about %d and %d", c, got.Dropped, got.Inserted, want.Dropped, want.Inserted)
		}
	}

	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	// find returns the first frame of channel c in [from, to) holding v.
	buf := make([]byte, 4*8000)
	find := func(c int, from, to int64, v int16) int64 {
		from = max(from, 0)
		n, _ := f.ReadAt(buf[:4*(to-from)], wavHeaderSize+4*from)
		for i := 0; i+4 <= n; i += 4 {
			if int16(binary.LittleEndian.Uint16(buf[i+2*c:])) == v {
				return from + int64(i/4)
			}
		}
		return -1
	}
	for i, m := range markers {
		var errs [2]int64
		for c, p := range parties {
			var k int64
			for kk, mm := range markerPacket[c] {
				if mm == i+1 {
					k = kk
				}
			}
			// Where the marker's wall-clock capture time puts it: the
			// stream's placement (its first packet's arrival) plus the
			// wall-clock time since its first sample.
			want := r.Stream(c).Stats().Offset + int64(math.Round((p.capture(k)-p.capture(0))*rate8k))
			got := find(c, want-4000, want+4000, value(c, k))
			if got < 0 {
				t.Fatalf("marker %d (%v) of party %d not found within 0.5 s of frame %d", i+1, m, c, want)
			}
			errs[c] = got - want
			if abs(int(errs[c])) > pkt {
				t.Errorf("marker %d (%v) of party %d at frame %d, %d samples off its wall-clock time (more than a packet)",
					i+1, m, c, got, errs[c])
			}
		}
		if d := errs[0] - errs[1]; abs(int(d)) > pkt {
			t.Errorf("marker %d (%v): the parties are %d samples apart (more than a packet)", i+1, m, d)
		}
		t.Logf("marker %v: caller %+d, callee %+d samples", m, errs[0], errs[1])
	}
}

// TestMediaHandlerJitterNotCorrected: a sender whose clock is accurate is
// never shifted, however its packets jitter (±30 ms at random) and however
// often it stops sending (silence suppression: 2 s of every 10 s are a
// Gap); the file holds every packet at its position.
func TestMediaHandlerJitterNotCorrected(t *testing.T) {
	const (
		pkt     = 160
		packets = 20 * 60 * 50 // 20 minutes
	)
	rng := rand.New(rand.NewPCG(5, 6))
	r, path := newTestRecorder(t, Config{})
	h, err := r.Stream(0).MediaHandler()
	must(t, err)
	pcm := make([]int16, pkt)
	talking := func(k int64) bool { return k%500 < 400 }
	gapFrom := int64(-1)
	for k := int64(0); k < packets; k++ {
		if !talking(k) {
			if gapFrom < 0 {
				gapFrom = k
			}
			continue
		}
		if gapFrom >= 0 {
			h.HandleGap(media.Gap{Position: gapFrom * pkt, Samples: (k - gapFrom) * pkt, Reason: media.GapSilence})
			gapFrom = -1
		}
		j := time.Duration(rng.Int64N(int64(60*time.Millisecond))) - 30*time.Millisecond
		for i := range pcm {
			pcm[i] = int16(k%30000 + 1)
		}
		h.HandleAudio(media.Audio{Position: k * pkt, PCM: pcm, Arrival: t0.Add(time.Second + time.Duration(k)*20*time.Millisecond + j)})
	}
	_, err = r.Stop()
	must(t, err)
	if st := h.Stats(); st.Dropped != 0 || st.Inserted != 0 {
		t.Errorf("an accurate clock was corrected: %+v", st)
	}
	offset := r.Stream(0).Stats().Offset
	data, err := os.ReadFile(path)
	must(t, err)
	data = data[wavHeaderSize:]
	for k := int64(0); k < packets; k++ {
		want := int16(0)
		if talking(k) {
			want = int16(k%30000 + 1)
		}
		for _, p := range []int64{k * pkt, k*pkt + pkt - 1} {
			f := offset + p
			if 2*f+2 > int64(len(data)) && want == 0 {
				continue // silence after the last packet: not in the file
			}
			if got := int16(binary.LittleEndian.Uint16(data[2*f:])); got != want {
				t.Fatalf("packet %d, sample %d: %d, want %d", k, p, got, want)
			}
		}
	}
}

// TestMediaHandlerMaxDrift: Config.MaxDrift sets how far a stream may run
// off before it is corrected, and a negative one turns the correction
// off. A sender 1000 ppm fast for a minute runs 480 samples ahead, 448 of
// them after the first 4 s window that sets its reference: corrected in
// steps just over MaxDrift, it ends less than a step ahead.
func TestMediaHandlerMaxDrift(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxDrift time.Duration
		// want: the drop count's bounds.
		lo, hi int64
	}{
		{"default", 0, 448 - 81, 448},
		{"20ms", 20 * time.Millisecond, 448 - 161, 448 - 82},
		{"off", -1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newTestRecorder(t, Config{MaxDrift: tc.maxDrift})
			h, err := r.Stream(0).MediaHandler()
			must(t, err)
			p := sender{ppm: 1000, jitter: func() time.Duration { return 0 }}
			pcm := make([]int16, 160)
			for k := int64(0); p.capture(k) < 60; k++ {
				h.HandleAudio(media.Audio{Position: k * 160, PCM: pcm, Arrival: p.arrival(k)})
			}
			_, err = r.Stop()
			must(t, err)
			if st := h.Stats(); st.Dropped < tc.lo || st.Dropped > tc.hi || st.Inserted != 0 {
				t.Errorf("%+v; want %d to %d samples dropped, none inserted", st, tc.lo, tc.hi)
			}
		})
	}
	if _, err := New(t.TempDir()+"/x.wav", Config{MaxDrift: time.Second}); err == nil {
		t.Error("a MaxDrift over half the Window was accepted")
	}
}
