package recording

import (
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const rate8k = 8000

// t0 is the wall-clock start of the recordings in these tests.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// model is the expected content of a file: per channel, per frame.
type model [][]int16

func newModel(channels, frames int) model {
	m := make(model, channels)
	for c := range m {
		m[c] = make([]int16, frames)
	}
	return m
}

// put places the tone samples of a packet in channel c at timeline
// position at.
func (m model) put(c int, at int64, pcm []int16) {
	for i, v := range pcm {
		if p := at + int64(i); p >= 0 && p < int64(len(m[c])) {
			m[c][p] = v
		}
	}
}

// compare checks the file against the model sample by sample.
func (m model) compare(t *testing.T, w wavFile) {
	t.Helper()
	if w.channels != len(m) {
		t.Fatalf("file has %d channels, want %d", w.channels, len(m))
	}
	if w.frames() != len(m[0]) {
		t.Fatalf("file has %d frames (%.4fs), want %d (%.4fs)", w.frames(), float64(w.frames())/rate8k, len(m[0]), float64(len(m[0]))/rate8k)
	}
	for c := range m {
		for i := range m[c] {
			if w.ch[c][i] != m[c][i] {
				t.Fatalf("channel %d frame %d (%.4fs): got %d, want %d", c, i, float64(i)/rate8k, w.ch[c][i], m[c][i])
			}
		}
	}
}

func newTestRecorder(t *testing.T, cfg Config) (*Recorder, string) {
	t.Helper()
	if cfg.Start.IsZero() {
		cfg.Start = t0
	}
	path := filepath.Join(t.TempDir(), "rec"+cfg.Format.Ext())
	r, err := New(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, path
}

func twoStreams() []StreamConfig {
	return []StreamConfig{{Label: "caller"}, {Label: "callee"}}
}

// TestTimeline checks, sample by sample, that the file's timeline is the
// call's: late starts, lost packets, explicit gaps, reordering, duplicates
// and late packets each have their exact effect.
func TestTimeline(t *testing.T) {
	const pkt = 160 // 20 ms
	type step struct {
		stream int
		pos    int64
		n      int
		gap    bool
	}
	seq := func(stream int, from, to int64) []step { // packets [from, to) by index
		var s []step
		for k := from; k < to; k++ {
			s = append(s, step{stream: stream, pos: k * pkt, n: pkt})
		}
		return s
	}
	interleave := func(a, b []step) []step {
		var s []step
		for i := 0; i < max(len(a), len(b)); i++ {
			if i < len(a) {
				s = append(s, a[i])
			}
			if i < len(b) {
				s = append(s, b[i])
			}
		}
		return s
	}
	without := func(s []step, drop func(step) bool) []step {
		var out []step
		for _, x := range s {
			if !drop(x) {
				out = append(out, x)
			}
		}
		return out
	}
	freqs := []float64{1000, 600}
	tests := []struct {
		name   string
		starts []time.Duration // per stream, wall-clock start after t0
		steps  []step
		end    []bool // End() the stream after the steps
		// expected: per stream, the packets (stream positions) present in the file
		present func(stream int, pos int64) bool
		frames  int
		late    []int64
		dup     []int64
	}{
		{
			name:   "late start lands late in the file",
			starts: []time.Duration{0, 1500 * time.Millisecond},
			// The callee's first packet comes with the caller's 76th.
			steps:  append(seq(0, 0, 75), interleave(seq(0, 75, 150), seq(1, 0, 75))...),
			frames: 150 * pkt,
		},
		{
			name:   "a packet from before the first one received lands before it",
			starts: []time.Duration{0, time.Second},
			// The caller's audio is 40 ms behind the callee's: not yet written out
			// when the callee's first two packets arrive swapped.
			steps: append(append(seq(0, 0, 48), step{1, 0, pkt, false}, step{1, -pkt, pkt, false}),
				interleave(seq(0, 48, 100), seq(1, 1, 50))...),
			frames: 100 * pkt,
		},
		{
			name:    "lost packets become silence of their exact length",
			starts:  []time.Duration{0, 0},
			steps:   without(interleave(seq(0, 0, 100), seq(1, 0, 100)), func(s step) bool { return s.stream == 0 && s.pos >= 10*pkt && s.pos < 15*pkt }),
			present: func(st int, pos int64) bool { return !(st == 0 && pos >= 10*pkt && pos < 15*pkt) },
			frames:  100 * pkt,
		},
		{
			name:   "explicit gap is silence and needs no waiting",
			starts: []time.Duration{0, 0},
			steps: append(append(interleave(seq(0, 0, 10), seq(1, 0, 10)),
				step{stream: 0, pos: 10 * pkt, n: 5 * pkt, gap: true}),
				interleave(seq(0, 15, 50), seq(1, 10, 50))...),
			present: func(st int, pos int64) bool { return !(st == 0 && pos >= 10*pkt && pos < 15*pkt) },
			frames:  50 * pkt,
		},
		{
			name:   "reordered packets land in place",
			starts: []time.Duration{0, 0},
			steps: func() []step {
				s := interleave(seq(0, 0, 60), seq(1, 0, 60))
				for i := 0; i+5 < len(s); i += 6 { // swap each third packet pair of a stream
					s[i], s[i+2] = s[i+2], s[i]
					s[i+1], s[i+5] = s[i+5], s[i+1]
				}
				return s
			}(),
			frames: 60 * pkt,
		},
		{
			name:   "duplicates are dropped",
			starts: []time.Duration{0, 0},
			steps: func() []step {
				var s []step
				for k := int64(0); k < 40; k++ {
					// A duplicate still in the window, then one already written out.
					s = append(s, step{0, k * pkt, pkt, false}, step{0, k * pkt, pkt, false}, step{1, k * pkt, pkt, false})
					if k > 3 {
						s = append(s, step{1, (k - 3) * pkt, pkt, false})
					}
				}
				return s
			}(),
			frames: 40 * pkt,
			late:   []int64{0, 36 * pkt},
			dup:    []int64{40 * pkt, 0},
		},
		{
			name:   "a packet later than the window is dropped",
			starts: []time.Duration{0, 0},
			steps: func() []step {
				s := without(interleave(seq(0, 0, 200), seq(1, 0, 200)), func(s step) bool { return s.stream == 1 && s.pos == 20*pkt })
				return append(s, step{1, 20 * pkt, pkt, false}) // 3.6 s late
			}(),
			present: func(st int, pos int64) bool { return !(st == 1 && pos == 20*pkt) },
			frames:  200 * pkt,
			late:    []int64{0, pkt},
		},
		{
			name:   "a stream that ends early leaves silence, the other goes on",
			starts: []time.Duration{0, 0},
			steps:  interleave(seq(0, 0, 50), seq(1, 0, 150)),
			end:    []bool{true, false},
			frames: 150 * pkt,
		},
		{
			name:   "a stream that never starts holds nothing back for ever",
			starts: []time.Duration{0, -1},
			steps:  seq(0, 0, 150),
			frames: 150 * pkt,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, path := newTestRecorder(t, Config{Streams: twoStreams()})
			for i, d := range tc.starts {
				if d >= 0 {
					must(t, r.Stream(i).Start(t0.Add(d)))
				}
			}
			m := newModel(2, tc.frames)
			for _, s := range tc.steps {
				st := r.Stream(s.stream)
				if s.gap {
					must(t, st.Gap(s.pos, s.n))
					continue
				}
				pcm := tone(freqs[s.stream], 8000, rate8k, s.pos, s.n)
				must(t, st.Write(s.pos, pcm))
			}
			// The model: every packet sent once, where it belongs.
			for _, s := range tc.steps {
				if s.gap || (tc.present != nil && !tc.present(s.stream, s.pos)) {
					continue
				}
				at := durationToFrames(tc.starts[s.stream], rate8k) + s.pos
				m.put(s.stream, at, tone(freqs[s.stream], 8000, rate8k, s.pos, s.n))
			}
			for i, e := range tc.end {
				if e {
					must(t, r.Stream(i).End())
				}
			}
			for i, want := range tc.late {
				if got := r.Stream(i).Stats().Late; got != want {
					t.Errorf("stream %d: Late = %d, want %d", i, got, want)
				}
			}
			for i, want := range tc.dup {
				if got := r.Stream(i).Stats().Duplicate; got != want {
					t.Errorf("stream %d: Duplicate = %d, want %d", i, got, want)
				}
			}
			res, err := r.Stop()
			must(t, err)
			if want := framesToDuration(int64(tc.frames), rate8k); res.Duration != want {
				t.Errorf("Result.Duration = %v, want %v", res.Duration, want)
			}
			m.compare(t, readWAV(t, path))
		})
	}
}

// TestLayouts checks the channels each layout makes and where each stream
// goes, including the documented rule for more than two streams and the
// saturation of the mix.
func TestLayouts(t *testing.T) {
	const n = 800
	// Constant "DC" packets make sums easy to predict.
	dc := func(v int16) []int16 {
		p := make([]int16, n)
		for i := range p {
			p[i] = v
		}
		return p
	}
	tests := []struct {
		name     string
		layout   Layout
		streams  []StreamConfig
		values   []int16
		channels int
		want     []int16 // per channel
	}{
		{"one stream auto is mono", LayoutAuto, []StreamConfig{{}}, []int16{1000}, 1, []int16{1000}},
		{"two streams auto is stereo, first left", LayoutAuto, twoStreams(), []int16{1000, -2000}, 2, []int16{1000, -2000}},
		{"mono mix sums", LayoutMono, twoStreams(), []int16{1000, -2500}, 1, []int16{-1500}},
		{"mono mix saturates high", LayoutMono, twoStreams(), []int16{30000, 10000}, 1, []int16{32767}},
		{"mono mix saturates low", LayoutMono, []StreamConfig{{}, {}, {}}, []int16{-30000, -10000, 5000}, 1, []int16{-32768}},
		{"third stream on both channels", LayoutAuto, []StreamConfig{{}, {}, {}}, []int16{1000, 2000, 300}, 2, []int16{1300, 2300}},
		{"four streams", LayoutStereo, []StreamConfig{{}, {}, {}, {}}, []int16{1000, 2000, 300, 40}, 2, []int16{1340, 2340}},
		{"explicit channels swap", LayoutStereo, []StreamConfig{{Channel: ChannelRight}, {Channel: ChannelLeft}}, []int16{1000, 2000}, 2, []int16{2000, 1000}},
		{"explicit both and left", LayoutStereo, []StreamConfig{{Channel: ChannelBoth}, {Channel: ChannelLeft}}, []int16{1000, 2000}, 2, []int16{3000, 1000}},
		{"stereo with one stream leaves right silent", LayoutStereo, []StreamConfig{{}}, []int16{1000}, 2, []int16{1000, 0}},
		{"stereo sum saturates", LayoutStereo, []StreamConfig{{}, {}, {}}, []int16{32000, -32000, 32000}, 2, []int16{32767, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, path := newTestRecorder(t, Config{Layout: tc.layout, Streams: tc.streams})
			if r.Channels() != tc.channels {
				t.Fatalf("Channels() = %d, want %d", r.Channels(), tc.channels)
			}
			for i, s := range r.Streams() {
				must(t, s.StartAt(0))
				must(t, s.Write(0, dc(tc.values[i])))
			}
			_, err := r.Stop()
			must(t, err)
			w := readWAV(t, path)
			if w.channels != tc.channels {
				t.Fatalf("go-audio/wav: %d channels, want %d", w.channels, tc.channels)
			}
			if _, ch, samples := soxInfo(t, path); ch != tc.channels || samples != n {
				t.Errorf("sox --i: %d channels, %d samples; want %d, %d", ch, samples, tc.channels, n)
			}
			for c, want := range tc.want {
				for i, v := range w.ch[c] {
					if v != want {
						t.Fatalf("channel %d frame %d = %d, want %d", c, i, v, want)
					}
				}
			}
		})
	}
}

// TestPause checks both pause modes: silence keeps the timeline, cut
// removes the paused stretch; and the tone is where it belongs, by
// go-audio/wav and by sox.
func TestPause(t *testing.T) {
	const pkt = 160
	for _, mode := range []PauseMode{PauseSilence, PauseCut} {
		t.Run(mode.String(), func(t *testing.T) {
			r, path := newTestRecorder(t, Config{Streams: twoStreams(), PauseMode: mode})
			a := feeder{t, r.Stream(0), rate8k, 1000, 10000}
			b := feeder{t, r.Stream(1), rate8k, 600, 10000}
			must(t, a.s.StartAt(0))
			must(t, b.s.StartAt(0))
			// 3 s call; paused from 1.0 s to 2.0 s (a=inactive, then sendonly),
			// while both parties keep sending.
			for k := int64(0); k < 150; k++ {
				if k == 50 {
					must(t, r.Pause(t0.Add(time.Second)))
					if !r.Paused() {
						t.Fatal("Paused() = false after Pause")
					}
				}
				if k == 100 {
					must(t, r.Resume(t0.Add(2*time.Second)))
				}
				a.send(k*pkt, pkt)
				b.send(k*pkt, pkt)
			}
			res, err := r.Stop()
			must(t, err)
			if res.Paused != time.Second {
				t.Errorf("Result.Paused = %v, want 1s", res.Paused)
			}
			w := readWAV(t, path)
			wantDur := 3 * time.Second
			if mode == PauseCut {
				wantDur = 2 * time.Second
			}
			if res.Duration != wantDur || w.frames() != int(durationToFrames(wantDur, rate8k)) {
				t.Fatalf("duration: Result %v, file %d frames; want %v", res.Duration, w.frames(), wantDur)
			}
			// The file sample by sample.
			m := newModel(2, w.frames())
			for st, f := range []float64{1000, 600} {
				m.put(st, 0, tone(f, 10000, rate8k, 0, 8000))
				if mode == PauseSilence {
					m.put(st, 16000, tone(f, 10000, rate8k, 16000, 8000))
				} else {
					m.put(st, 8000, tone(f, 10000, rate8k, 16000, 8000))
				}
			}
			m.compare(t, w)
			// And through sox: tone, silence, tone.
			if mode == PauseSilence {
				for ch, f := range []int{1000, 600} {
					if rms, _, fr := soxStat(t, path, ch+1, 0.1, 0.8); rms < 0.15 || abs(fr-f) > 30 {
						t.Errorf("sox: channel %d before the pause: RMS %.3f, %d Hz; want the %d Hz tone", ch+1, rms, fr, f)
					}
					if _, maxAmp, _ := soxStat(t, path, ch+1, 1.0, 1.0); maxAmp != 0 {
						t.Errorf("sox: channel %d while paused: max amplitude %v, want silence", ch+1, maxAmp)
					}
					if rms, _, fr := soxStat(t, path, ch+1, 2.1, 0.8); rms < 0.15 || abs(fr-f) > 30 {
						t.Errorf("sox: channel %d after the pause: RMS %.3f, %d Hz; want the %d Hz tone", ch+1, rms, fr, f)
					}
				}
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestPauseWhileSilent: a pause during which nothing arrives (a=inactive
// stops RTP) is silence of the paused length in PauseSilence mode, and the
// stream's positions continue from where they left off (RTP timestamps of
// the resumed stream jump by the paused time).
func TestPauseWhileSilent(t *testing.T) {
	r, path := newTestRecorder(t, Config{Streams: []StreamConfig{{}}})
	a := feeder{t, r.Stream(0), rate8k, 1000, 10000}
	must(t, a.s.StartAt(0))
	for k := int64(0); k < 50; k++ {
		a.send(k*160, 160)
	}
	must(t, r.Pause(t0.Add(time.Second)))
	must(t, r.Resume(t0.Add(2500*time.Millisecond)))
	for k := int64(125); k < 150; k++ {
		a.send(k*160, 160)
	}
	res, err := r.Stop()
	must(t, err)
	if res.Duration != 3*time.Second || res.Paused != 1500*time.Millisecond {
		t.Fatalf("Duration %v, Paused %v; want 3s, 1.5s", res.Duration, res.Paused)
	}
	w := readWAV(t, path)
	if p := peak(window(w.ch[0], rate8k, 1, 2.5)); p != 0 {
		t.Errorf("paused stretch has peak %d, want silence", p)
	}
	if l := level(window(w.ch[0], rate8k, 2.5, 3), rate8k, 1000); l < 9000 {
		t.Errorf("after resume: 1 kHz level %.0f, want about 10000", l)
	}
}

// TestReported: the harmless repeated calls are reported with their
// sentinel errors and change nothing.
func TestReported(t *testing.T) {
	r, path := newTestRecorder(t, Config{Streams: twoStreams()})
	s := r.Stream(0)
	checks := []struct {
		name string
		err  error
		want error
	}{
		{"write before start", s.Write(0, make([]int16, 160)), ErrStreamNotStarted},
		{"gap before start", s.Gap(0, 160), ErrStreamNotStarted},
		{"start", s.StartAt(0), nil},
		{"start twice", s.Start(t0), ErrStreamStarted},
		{"resume when not paused", r.Resume(time.Time{}), ErrNotPaused},
		{"pause", r.Pause(t0), nil},
		{"pause twice", r.Pause(t0), ErrAlreadyPaused},
		{"resume", r.Resume(t0), nil},
		{"resume twice", r.Resume(t0), ErrNotPaused},
		{"negative gap", s.Gap(0, -1), ErrBadConfig},
		{"end", r.Stream(1).End(), nil},
		{"end twice", r.Stream(1).End(), ErrStreamEnded},
		{"write after end", r.Stream(1).Write(0, make([]int16, 160)), ErrStreamEnded},
		{"start after end", r.Stream(1).StartAt(0), ErrStreamEnded},
	}
	for _, c := range checks {
		if !errors.Is(c.err, c.want) || (c.want == nil && c.err != nil) {
			t.Errorf("%s: err = %v, want %v", c.name, c.err, c.want)
		}
	}
	must(t, s.Write(0, tone(1000, 1000, rate8k, 0, 800)))
	res1, err := r.Stop()
	must(t, err)
	res2, err := r.Stop()
	if !errors.Is(err, ErrStopped) || !reflect.DeepEqual(res2, res1) {
		t.Errorf("second Stop: %+v, %v; want the first result and ErrStopped", res2, err)
	}
	for name, err := range map[string]error{
		"write after stop":  s.Write(800, make([]int16, 160)),
		"pause after stop":  r.Pause(time.Time{}),
		"resume after stop": r.Resume(time.Time{}),
		"flush after stop":  r.Flush(),
		"end after stop":    s.End(),
		"abort after stop":  r.Abort(),
	} {
		if !errors.Is(err, ErrStopped) {
			t.Errorf("%s: err = %v, want ErrStopped", name, err)
		}
	}
	if _, err := r.Finish(t.Context()); !errors.Is(err, ErrNoUploader) {
		t.Errorf("Finish of a recording made by New: %v, want ErrNoUploader", err)
	}
	if w := readWAV(t, path); w.frames() != 800 {
		t.Errorf("file has %d frames, want 800", w.frames())
	}
}

// TestConfigErrors: each bad field is refused with ErrBadConfig and a
// message naming it.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		says string
	}{
		{"format", Config{Format: 7}, "Format 7"},
		{"layout", Config{Layout: 9}, "Layout 9"},
		{"pause mode", Config{PauseMode: 5}, "PauseMode 5"},
		{"sample rate", Config{SampleRate: 500}, "SampleRate 500"},
		{"too many streams", Config{Streams: make([]StreamConfig, 65)}, "65 Streams"},
		{"stream rate", Config{Streams: []StreamConfig{{Label: "b", SampleRate: 16000}}}, `Streams[0] ("b") SampleRate 16000`},
		{"stream channel", Config{Streams: []StreamConfig{{}, {Label: "x", Channel: 8}}}, `Streams[1] ("x") Channel 8`},
		{"window", Config{Window: time.Millisecond}, "Window 1ms"},
		{"flush interval", Config{FlushInterval: time.Millisecond}, "FlushInterval 1ms"},
		{"mp3 rate", Config{Format: MP3, MP3: MP3Config{SampleRate: 17000}}, "MP3.SampleRate 17000"},
		{"mp3 rate not 1× or 2×", Config{Format: MP3, MP3: MP3Config{SampleRate: 22050}}, "MP3.SampleRate 22050 is neither"},
		{"mp3 bitrate", Config{Format: MP3, MP3: MP3Config{Bitrate: 33}}, "MP3.Bitrate 33"},
		{"mp3 bitrate for the rate", Config{Format: MP3, SampleRate: 16000, MP3: MP3Config{SampleRate: 32000, Bitrate: 8}}, "MP3.Bitrate 8 kbit/s is not a Layer III bitrate at 32000 Hz"},
		{"mp3 quality", Config{Format: MP3, MP3: MP3Config{Quality: 10}}, "MP3.Quality 10"},
		{"every stream separate", Config{Streams: []StreamConfig{{Separate: true}, {Separate: true}}}, "every one of the 2 Streams is Separate"},
		{"separate files with one name", Config{Streams: []StreamConfig{{}, {Label: "m", Separate: true}, {Label: "m", Separate: true}}},
			`Streams[1] and Streams[2] are both Separate with the label "m"`},
		{"per stream with a channel", Config{Layout: LayoutPerStream, Streams: []StreamConfig{{}, {Label: "b", Channel: ChannelLeft}}},
			`Streams[1] ("b") Channel left: LayoutPerStream`},
		{"per stream, 3 channels of MP3", Config{Format: MP3, Layout: LayoutPerStream, Streams: make([]StreamConfig, 3)},
			"LayoutPerStream with 3 streams in an MP3 file"},
		{"per stream, 9 channels", Config{Layout: LayoutPerStream, Streams: make([]StreamConfig, 9)}, "LayoutPerStream with 9 streams (at most 8 channels)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x")
			_, err := New(path, tc.cfg)
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("New: %v; want ErrBadConfig saying %q", err, tc.says)
			}
			if _, serr := Inspect(path); serr == nil {
				t.Error("a refused configuration left a file behind")
			}
		})
	}
}

// TestNewRefusesExistingFile: a recording never overwrites a file.
func TestNewRefusesExistingFile(t *testing.T) {
	r, path := newTestRecorder(t, Config{})
	_, err := r.Stop()
	must(t, err)
	if _, err := New(path, Config{}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("New on an existing file: %v, want an error", err)
	}
}

// TestStartByWallClock: Start converts wall-clock times to sample offsets,
// rounding to the nearest sample.
func TestStartByWallClock(t *testing.T) {
	r, _ := newTestRecorder(t, Config{Streams: twoStreams()})
	must(t, r.Stream(0).Start(t0.Add(1234567*time.Microsecond)))
	must(t, r.Stream(1).Start(t0.Add(-time.Second)))
	if got := r.Stream(0).Stats().Offset; got != 9877 { // 1.234567 s × 8000 = 9876.5
		t.Errorf("offset = %d, want 9877", got)
	}
	if got := r.Stream(1).Stats().Offset; got != -8000 {
		t.Errorf("offset = %d, want -8000", got)
	}
	_, err := r.Stop()
	must(t, err)
}

func TestDurationConversions(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		rate int
		n    int64
	}{
		{time.Second, 8000, 8000},
		{-time.Second, 8000, -8000},
		{62500 * time.Nanosecond, 8000, 1}, // half a sample rounds up
		{-62500 * time.Nanosecond, 8000, -1},
		{time.Hour, 48000, 172800000},
		{20 * time.Millisecond, 16000, 320},
	} {
		if got := durationToFrames(tc.d, tc.rate); got != tc.n {
			t.Errorf("durationToFrames(%v, %d) = %d, want %d", tc.d, tc.rate, got, tc.n)
		}
	}
	if got := framesToDuration(172800000, 48000); got != time.Hour {
		t.Errorf("framesToDuration = %v", got)
	}
	if got := framesToDuration(1, 8000); got != 125*time.Microsecond {
		t.Errorf("framesToDuration(1, 8000) = %v", got)
	}
	_ = math.Pi
}
