package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// goMP3Audio returns the audio of a file decoded by go-mp3 with the
// decoder's extra samples removed, using the LAME tag (which go-mp3 does
// not read: it decodes the tag frame as 576 samples of silence) for the
// encoder delay and padding; go-mp3 adds the usual 529-sample decoder delay.
func goMP3Audio(t *testing.T, path string) (m mp3File, tag lameTag) {
	t.Helper()
	m = decodeGoMP3(t, path)
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	st, _ := f.Stat()
	s, err := scanMP3(f, st.Size())
	must(t, err)
	if !s.hasTag || s.tag.Delay < 0 {
		t.Fatalf("%s has no LAME tag", path)
	}
	spf := s.first.samples()
	if len(m.left) != spf*int(s.frames+1) {
		t.Fatalf("go-mp3 decoded %d samples, want %d frames of %d", len(m.left), s.frames+1, spf)
	}
	skip := spf + s.tag.Delay + 529
	n := len(m.left) - spf - s.tag.Delay - s.tag.Padding
	if skip+n > len(m.left) {
		n = len(m.left) - skip // the last 529 samples are still in the decoder
	}
	m.left, m.right = m.left[skip:skip+n], m.right[skip:skip+n]
	return m, s.tag
}

// decodeMP3 decodes path with `lame --decode`, which honours the LAME tag
// (no encoder delay, exact length; without a tag, as after a crash, the
// encoder delay stays in), and reads the result with go-audio/wav. A mono
// file gives the same samples in both channels.
func decodeMP3(t testing.TB, path string) mp3File {
	t.Helper()
	w := readWAV(t, lameDecode(t, path))
	m := mp3File{rate: w.rate, left: w.ch[0], right: w.ch[0]}
	if w.channels > 1 {
		m.right = w.ch[1]
	}
	return m
}

// TestMP3Checked records the call of TestWAVChecked as MP3, at the default
// 8 kHz (MPEG-2.5) and at 16 kHz (MPEG-2), and checks it decoded by `lame
// --decode` (read by go-audio/wav, and measured by sox) and, at 16 kHz, by
// go-mp3 too.
func TestMP3Checked(t *testing.T) {
	for _, tc := range []struct {
		name string
		mp3  MP3Config
		rate int
	}{
		{"default 8 kHz", MP3Config{}, 8000},
		{"16 kHz", MP3Config{SampleRate: 16000}, 16000},
	} {
		t.Run(tc.name, func(t *testing.T) { testMP3Checked(t, tc.mp3, tc.rate) })
	}
}

func testMP3Checked(t *testing.T, mc MP3Config, fr int) {
	l := requireLAME(t)
	const pkt = 160
	r, path := newTestRecorder(t, Config{Format: MP3, LAME: l, MP3: mc, Streams: twoStreams()})
	a := feeder{t, r.Stream(0), rate8k, 1000, 12000}
	b := feeder{t, r.Stream(1), rate8k, 600, 12000}
	must(t, a.s.Start(t0))
	for k := int64(0); k < 161; k++ {
		if k == 25 {
			must(t, b.s.Start(t0.Add(500*time.Millisecond)))
		}
		if k == 125 {
			must(t, r.Pause(t0.Add(2500*time.Millisecond)))
		}
		if k == 150 {
			must(t, r.Resume(t0.Add(3*time.Second)))
		}
		if k < 75 || k >= 100 {
			n := pkt
			if k == 160 {
				n = 136
			}
			a.send(k*pkt, n)
		}
		if k >= 25 && k < 160 {
			b.send((k-25)*pkt, pkt)
		}
	}
	res, err := r.Stop()
	must(t, err)
	const want = 3217 * time.Millisecond
	samples := int64(3217 * fr / 1000)
	if res.Duration != want || res.Channels != 2 || res.SampleRate != fr || res.Format != MP3 {
		t.Fatalf("Result = %+v; want 3.217s stereo %d Hz MP3", res, fr)
	}
	info, err := Inspect(path)
	must(t, err)
	if info.Duration != want || info.Frames != samples || info.Channels != 2 || info.SampleRate != fr || info.Bitrate != 48 || info.Size != res.Size {
		t.Errorf("Inspect = %+v; want 3.217 s (%d samples), stereo, %d Hz, 48 kbit/s, %d bytes", info, samples, fr, res.Size)
	}

	checks := []struct {
		what     string
		ch       int
		from, to float64
		freq     float64
		on       bool
	}{
		{"caller talks", 0, 0.0, 1.5, 1000, true},
		{"callee not yet started", 1, 0.0, 0.5, 600, false},
		{"callee talks", 1, 0.5, 2.5, 600, true},
		{"caller's lost packets", 0, 1.5, 2.0, 1000, false},
		{"caller after the loss", 0, 2.0, 2.5, 1000, true},
		{"paused, caller", 0, 2.5, 3.0, 1000, false},
		{"paused, callee", 1, 2.5, 3.0, 600, false},
		{"resumed, caller", 0, 3.0, 3.217, 1000, true},
		{"resumed, callee", 1, 3.0, 3.2, 600, true},
	}
	// Stretches are checked 20 ms inside their edges: MP3 smears a
	// transient over a granule (36 ms at 16 kHz).
	const edge = 0.02

	// The audio, sample-exact: levels per stretch and the callee's onset.
	checkAudio := func(t *testing.T, decoder string, m mp3File) {
		t.Helper()
		if m.rate != fr {
			t.Fatalf("%s: %d Hz", decoder, m.rate)
		}
		if got := time.Duration(len(m.left)) * time.Second / time.Duration(fr); got != want {
			t.Errorf("%s: %v of audio (tag delay and padding removed), want %v", decoder, got, want)
		}
		chans := [][]int16{m.left, m.right}
		for _, c := range checks {
			x := window(chans[c.ch], fr, c.from+edge, c.to-edge)
			l, other := level(x, fr, c.freq), level(window(chans[1-c.ch], fr, c.from+edge, c.to-edge), fr, c.freq)
			if c.on && (l < 9000 || other > 300) {
				t.Errorf("%s: %s: %.0f Hz level %.0f in channel %d (want ~12000), %.0f in the other", decoder, c.what, c.freq, l, c.ch, other)
			}
			if !c.on && peak(x) > 300 {
				t.Errorf("%s: %s: peak %d in channel %d, want (near) silence", decoder, c.what, peak(x), c.ch)
			}
		}
		// The callee's onset at 0.5 s, to within a millisecond.
		onset := -1
		for i, v := range m.right {
			if v > 2000 || v < -2000 {
				onset = i
				break
			}
		}
		if d := onset - fr/2; d < -fr/1000 || d > fr/1000 {
			t.Errorf("%s: callee onset at sample %d (%.4f s), want 0.5 s ± 1 ms", decoder, onset, float64(onset)/float64(fr))
		}
	}
	t.Run("lame --decode", func(t *testing.T) { checkAudio(t, "lame --decode", decodeMP3(t, path)) })
	if fr == 16000 {
		t.Run("go-mp3", func(t *testing.T) {
			m, _ := goMP3Audio(t, path)
			checkAudio(t, "go-mp3", m)
		})
	}

	t.Run("lame --decode and sox", func(t *testing.T) {
		dec := lameDecode(t, path)
		rate, ch, n := soxInfo(t, dec)
		if rate != fr || ch != 2 || n != samples {
			t.Errorf("sox --i of lame's output: %d Hz, %d channels, %d samples; want %d, 2, %d (3.217 s)", rate, ch, n, fr, samples)
		}
		for _, c := range checks {
			rms, _, freq := soxStat(t, dec, c.ch+1, c.from+edge, c.to-c.from-2*edge)
			if c.on && (rms < 0.18 || abs(freq-int(c.freq)) > 40) {
				t.Errorf("%s: RMS %.3f at %d Hz in channel %d, want the %.0f Hz tone", c.what, rms, freq, c.ch+1, c.freq)
			}
			if !c.on && rms > 0.005 {
				t.Errorf("%s: RMS %.4f in channel %d, want silence", c.what, rms, c.ch+1)
			}
		}
	})
}

// TestMP3Mono: a mono mix is a one-channel MP3 holding both parties, made
// by LayoutMono or by MP3Config.Mono (whatever the Layout, here LayoutAuto).
// Its default bitrate is 32 kbit/s (48 for stereo). MP3Config.Mono leaves
// a WAV recording of the same Config in stereo and is refused with
// LayoutPerStream.
func TestMP3Mono(t *testing.T) {
	l := requireLAME(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		kbps int
	}{
		// a file of one channel defaults to 32 kbit/s, a stereo one to 48
		{"LayoutMono", Config{Format: MP3, LAME: l, Layout: LayoutMono, Streams: twoStreams()}, 32},
		{"MP3Config.Mono", Config{Format: MP3, LAME: l, MP3: MP3Config{Mono: true}, Streams: twoStreams()}, 32},
		{"MP3Config.Mono at 48", Config{Format: MP3, LAME: l, MP3: MP3Config{Mono: true, Bitrate: 48}, Streams: twoStreams()}, 48},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, path := newTestRecorder(t, tc.cfg)
			a := feeder{t, r.Stream(0), rate8k, 1000, 6000}
			b := feeder{t, r.Stream(1), rate8k, 600, 6000}
			must(t, a.s.StartAt(0))
			must(t, b.s.StartAt(0))
			for k := int64(0); k < 100; k++ {
				a.send(k*160, 160)
				b.send(k*160, 160)
			}
			res, err := r.Stop()
			must(t, err)
			if res.Channels != 1 || res.Duration != 2*time.Second {
				t.Fatalf("Result %+v, want mono 2 s", res)
			}
			if info, err := Inspect(path); err != nil || info.Channels != 1 || info.SampleRate != 8000 || info.Bitrate != tc.kbps {
				t.Errorf("Inspect: %+v, %v; want a mono 8 kHz file at %d kbit/s", info, err, tc.kbps)
			}
			dec := lameDecode(t, path)
			if _, ch, n := soxInfo(t, dec); ch != 1 || n != 16000 {
				t.Errorf("lame --decode: %d channels, %d samples; want 1, 16000", ch, n)
			}
			m := decodeMP3(t, path)
			x := window(m.left, 8000, 0.1, 1.9)
			if l1, l2 := level(x, 8000, 1000), level(x, 8000, 600); l1 < 5000 || l2 < 5000 {
				t.Errorf("mix levels: 1 kHz %.0f, 600 Hz %.0f; want both ~6000", l1, l2)
			}
		})
	}

	mc := MP3Config{Mono: true}
	w, _ := newTestRecorder(t, Config{Format: WAV, MP3: mc, Streams: twoStreams()})
	if w.Channels() != 2 {
		t.Errorf("WAV with MP3.Mono: %d channels; want 2 (Mono is for MP3 files)", w.Channels())
	}
	_ = w.Abort()

	for _, layout := range []Layout{LayoutPerStream, LayoutStereo} {
		_, err := New(filepath.Join(t.TempDir(), "x.mp3"), Config{Format: MP3, LAME: l, MP3: mc, Layout: layout, Streams: twoStreams()})
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "MP3.Mono") {
			t.Errorf("MP3.Mono with %v: %v; want ErrBadConfig naming MP3.Mono", layout, err)
		}
	}
}

// TestMP3BitrateByChannels: the default bitrate follows the channels each
// file actually has, whatever the Layout that gave them: 32 kbit/s for an
// 8 kHz one-channel file (one stream with LayoutAuto or LayoutPerStream,
// the two-channel LayoutStereo file excepted; every Separate stream's
// file), 48 for a two-channel one and for a 16 kHz file (where 32 would
// leave no room for LAME's tag); a Bitrate set applies to every file.
func TestMP3BitrateByChannels(t *testing.T) {
	l := requireLAME(t)
	type file struct {
		suffix         string
		channels, kbps int
	}
	for _, tc := range []struct {
		name  string
		cfg   Config
		files []file
	}{
		{"one stream LayoutAuto", Config{Format: MP3, LAME: l}, []file{{"", 1, 32}}},
		{"one stream LayoutPerStream", Config{Format: MP3, LAME: l, Layout: LayoutPerStream}, []file{{"", 1, 32}}},
		{"one stream LayoutStereo", Config{Format: MP3, LAME: l, Layout: LayoutStereo}, []file{{"", 2, 48}}},
		{"one stream at 16 kHz (no room for LAME's tag at 32)", Config{Format: MP3, LAME: l, MP3: MP3Config{SampleRate: 16000}}, []file{{"", 1, 48}}},
		{"MP3.Mono at 16 kHz", Config{Format: MP3, LAME: l, MP3: MP3Config{SampleRate: 16000, Mono: true}, Streams: twoStreams()}, []file{{"", 1, 48}}},
		{"two streams LayoutAuto", Config{Format: MP3, LAME: l, Streams: twoStreams()}, []file{{"", 2, 48}}},
		{"two streams and a Separate one", Config{Format: MP3, LAME: l,
			Streams: []StreamConfig{{Label: "caller"}, {Label: "callee"}, {Label: "m", Separate: true}}},
			[]file{{"", 2, 48}, {".m", 1, 32}}},
		{"one stream and a Separate one", Config{Format: MP3, LAME: l,
			Streams: []StreamConfig{{Label: "caller"}, {Label: "m", Separate: true}}},
			[]file{{"", 1, 32}, {".m", 1, 32}}},
		{"Bitrate set", Config{Format: MP3, LAME: l, MP3: MP3Config{Bitrate: 40},
			Streams: []StreamConfig{{Label: "caller"}, {Label: "callee"}, {Label: "m", Separate: true}}},
			[]file{{"", 2, 40}, {".m", 1, 40}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, path := newTestRecorder(t, tc.cfg)
			for i, s := range r.Streams() {
				f := feeder{t, s, rate8k, 600 + 200*float64(i), 6000}
				must(t, f.s.StartAt(0))
				for k := int64(0); k < 50; k++ {
					f.send(k*160, 160)
				}
			}
			if _, err := r.Stop(); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.files {
				p := strings.TrimSuffix(path, ".mp3") + f.suffix + ".mp3"
				if info, err := Inspect(p); err != nil || info.Channels != f.channels || info.Bitrate != f.kbps {
					t.Errorf("Inspect(%s): %+v, %v; want %d channel(s) at %d kbit/s", filepath.Base(p), info, err, f.channels, f.kbps)
				}
			}
		})
	}
}

// TestMP3Rates: both output rates (the streams' and twice it), for 8 and
// 16 kHz streams, and configured bitrate and quality.
func TestMP3Rates(t *testing.T) {
	l := requireLAME(t)
	tests := []struct {
		name       string
		streamRate int
		mp3        MP3Config
		rate       int
		goMP3      bool // go-mp3 cannot read MPEG-2.5 (8, 11.025, 12 kHz)
	}{
		{"8 kHz streams, default: 8 kHz MPEG-2.5", 8000, MP3Config{}, 8000, false},
		{"8 kHz 24 kbit/s quality 5", 8000, MP3Config{Bitrate: 24, Quality: 5}, 8000, false},
		{"8 kHz 16 kbit/s (no LAME tag)", 8000, MP3Config{Bitrate: 16}, 8000, false},
		{"16 kHz 48 kbit/s", 8000, MP3Config{SampleRate: 16000}, 16000, true},
		{"16 kHz 64 kbit/s quality 2", 8000, MP3Config{SampleRate: 16000, Bitrate: 64, Quality: 2}, 16000, true},
		{"16 kHz 32 kbit/s (no LAME tag)", 8000, MP3Config{SampleRate: 16000, Bitrate: 32, Quality: 9}, 16000, true},
		{"16 kHz streams to 32 kHz MPEG-1", 16000, MP3Config{SampleRate: 32000, Bitrate: 64}, 32000, true},
		{"16 kHz streams, default: no resampling", 16000, MP3Config{}, 16000, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, path := newTestRecorder(t, Config{Format: MP3, LAME: l, MP3: tc.mp3, SampleRate: tc.streamRate})
			a := feeder{t, r.Stream(0), tc.streamRate, 1000, 10000}
			must(t, a.s.StartAt(0))
			pkt := tc.streamRate / 50
			for k := int64(0); k < 100; k++ {
				a.send(k*int64(pkt), pkt)
			}
			res, err := r.Stop()
			must(t, err)
			info, err := Inspect(path)
			must(t, err)
			wantBR := tc.mp3.withDefaults(tc.streamRate, true).Bitrate // one stream: one channel
			if res.SampleRate != tc.rate || info.SampleRate != tc.rate || info.Bitrate != wantBR {
				t.Fatalf("Result %+v, Inspect %+v; want %d Hz, %d kbit/s", res, info, tc.rate, wantBR)
			}
			// Without a LAME tag (below 40 kbit/s at 16 kHz, 24 at 8 kHz) the
			// length includes the encoder delay and padding.
			slack := time.Duration(0)
			if tc.mp3.Bitrate == 32 && tc.rate == 16000 || tc.mp3.Bitrate == 16 {
				slack = 300 * time.Millisecond
			}
			if d := info.Duration - 2*time.Second; d < 0 || d > slack {
				t.Errorf("Inspect: %v, want 2 s (+ %v)", info.Duration, slack)
			}
			dec := lameDecode(t, path)
			rate, _, n := soxInfo(t, dec)
			if d := time.Duration(n) * time.Second / time.Duration(tc.rate); rate != tc.rate || d < 2*time.Second || d > 2*time.Second+slack {
				t.Errorf("lame --decode: %d Hz, %d samples (%v); want %d Hz, 2 s (+ %v)", rate, n, d, tc.rate, slack)
			}
			if rms, _, f := soxStat(t, dec, 1, 0.1, 1.8); rms < 0.15 || abs(f-1000) > 30 {
				t.Errorf("lame --decode: RMS %.3f at %d Hz, want the 1 kHz tone", rms, f)
			}
			if tc.goMP3 {
				m := decodeGoMP3(t, path)
				if m.rate != tc.rate {
					t.Errorf("go-mp3: %d Hz, want %d", m.rate, tc.rate)
				}
				if lv := level(window(m.left, m.rate, 0.3, 1.5), m.rate, 1000); lv < 8000 {
					t.Errorf("go-mp3: 1 kHz level %.0f, want ~10000", lv)
				}
			}
		})
	}
}

// TestMP3Unavailable: without LAME, MP3 is refused with ErrMP3Unavailable
// naming the package to install, no file is left, and WAV still works.
func TestMP3Unavailable(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nowhere", "libmp3lame.so.0")
	_, err := OpenLAME(missing)
	if !errors.Is(err, ErrMP3Unavailable) || !strings.Contains(err.Error(), "libmp3lame0") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("OpenLAME(%q): %v; want ErrMP3Unavailable naming libmp3lame0 and the path", missing, err)
	}
	notALibrary := filepath.Join(dir, "libfake.so")
	must(t, os.WriteFile(notALibrary, []byte("not an ELF file"), 0o600))
	if _, err := OpenLAME(notALibrary); !errors.Is(err, ErrMP3Unavailable) {
		t.Errorf("OpenLAME of a file that is no library: %v", err)
	}

	cfg := Config{Format: MP3, LAMEPath: missing, Start: t0}
	p := filepath.Join(dir, "call.mp3")
	if _, err := New(p, cfg); !errors.Is(err, ErrMP3Unavailable) || !strings.Contains(err.Error(), "libmp3lame0") {
		t.Fatalf("New MP3 without LAME: %v; want ErrMP3Unavailable naming libmp3lame0", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused MP3 recording left a file: %v", err)
	}
	d, err := OpenDir(DirConfig{Path: filepath.Join(dir, "spool")})
	must(t, err)
	if _, err := d.Create(ID{"AC1", "AP1", "S1"}, cfg); !errors.Is(err, ErrMP3Unavailable) {
		t.Errorf("Dir.Create MP3 without LAME: %v", err)
	}

	cfg.Format = WAV
	r, err := New(filepath.Join(dir, "call.wav"), cfg)
	must(t, err)
	must(t, r.Stream(0).StartAt(0))
	must(t, r.Stream(0).Write(0, tone(1000, 1000, rate8k, 0, 8000)))
	res, err := r.Stop()
	must(t, err)
	if res.Duration != time.Second {
		t.Errorf("WAV without LAME: %+v", res)
	}
}

// TestMP3Concurrent: many MP3 recordings at once, each with its own LAME
// handle from one shared LAME, each getting its own audio. Run with -race.
func TestMP3Concurrent(t *testing.T) {
	l := requireLAME(t)
	const n = 8
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = func() error {
				r, err := New(filepath.Join(dir, fmt.Sprintf("c%d.mp3", i)), Config{Format: MP3, LAME: l, Streams: twoStreams(), Start: t0})
				if err != nil {
					return err
				}
				// Each stream fed by its own goroutine, as media does. Real
				// streams are paced by the clock; here the two meet every
				// 10 packets, so they never run a Window apart.
				var sw sync.WaitGroup
				serr := make([]error, 2)
				bar := newBarrier(2)
				for st := range 2 {
					sw.Add(1)
					go func() {
						defer sw.Done()
						s := r.Stream(st)
						serr[st] = s.StartAt(0)
						f := float64(400 + 100*i + 50*st)
						for k := int64(0); k < 150; k++ {
							if k%10 == 0 {
								bar.wait()
							}
							if serr[st] == nil {
								serr[st] = s.Write(k*160, tone(f, 8000, rate8k, k*160, 160))
							}
						}
					}()
				}
				sw.Wait()
				if err := errors.Join(serr...); err != nil {
					return err
				}
				_, err = r.Stop()
				return err
			}()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("recording %d: %v", i, err)
		}
	}
	for i := range n {
		m := decodeMP3(t, filepath.Join(dir, fmt.Sprintf("c%d.mp3", i)))
		if len(m.left) != 24000 || m.rate != 8000 {
			t.Errorf("recording %d: %d samples at %d Hz, want 24000 at 8000", i, len(m.left), m.rate)
		}
		for st, x := range [][]int16{m.left, m.right} {
			f := float64(400 + 100*i + 50*st)
			w := window(x, 8000, 0.2, 2.8)
			if own, other := level(w, 8000, f), level(w, 8000, f+50-100*float64(st)); own < 6000 || other > 200 {
				t.Errorf("recording %d channel %d: own %.0f Hz level %.0f, the other stream's %.0f", i, st, f, own, other)
			}
		}
	}
}

// TestRepairMP3: an MP3 cut off mid-frame is cut back to whole frames, and
// then decodes with go-mp3 and lame.
func TestRepairMP3(t *testing.T) {
	l := requireLAME(t)
	r, path := newTestRecorder(t, Config{Format: MP3, LAME: l})
	a := feeder{t, r.Stream(0), rate8k, 1000, 10000}
	must(t, a.s.StartAt(0))
	for k := int64(0); k < 100; k++ {
		a.send(k*160, 160)
	}
	must(t, r.Flush())
	// What a crash leaves: the file as it is on disk mid-call, and a frame
	// written halfway.
	cut := filepath.Join(t.TempDir(), "cut.mp3")
	b, err := os.ReadFile(path)
	must(t, err)
	whole := len(b)
	b = append(b, b[len(b)-216:len(b)-100]...)
	must(t, os.WriteFile(cut, b, 0o600))
	_, err = r.Stop()
	must(t, err)

	res, err := Repair(cut)
	must(t, err)
	// LAME's output mid-call need not end on a frame boundary; the repaired
	// file does, and keeps every whole frame (8 kHz, 48 kbit/s, mono:
	// frames of 432 bytes).
	const fs = 432
	if !res.Changed || res.Info.Size%fs != 0 || res.Info.Size < int64(whole-fs) || res.Truncated != int64(len(b))-res.Info.Size || res.Format != MP3 {
		t.Fatalf("Repair = %+v; want whole %d-byte frames, at least %d bytes kept of %d", res, fs, whole-fs, len(b))
	}
	// The placeholder of the LAME tag is a silent frame: without the tag the
	// length counts every frame.
	if res.Info.Frames%576 != 0 || res.Info.Duration < 1700*time.Millisecond || res.Info.SampleRate != 8000 {
		t.Errorf("repaired MP3: %+v", res.Info)
	}
	m := decodeMP3(t, cut)
	if lv := level(window(m.left, 8000, 0.3, 1.5), 8000, 1000); lv < 8000 {
		t.Errorf("lame --decode of the repaired file: 1 kHz level %.0f", lv)
	}
	if n := len(m.left); n < 14000 {
		t.Errorf("lame --decode of the repaired file: %d samples", n)
	}
	if res2, err := Repair(cut); err != nil || res2.Changed {
		t.Errorf("second Repair: %+v, %v", res2, err)
	}
	// A finished file needs no repair and keeps its exact length.
	if res, err := Repair(path); err != nil || res.Changed || res.Info.Duration != 2*time.Second {
		t.Errorf("Repair of a finished file: %+v, %v", res, err)
	}
}

// FuzzMP3Header: every header that parses marshals back to the same four
// bytes; the frame scanner never panics on arbitrary input.
func FuzzMP3Header(f *testing.F) {
	for _, h := range []uint32{
		0xfff36804, // MPEG-2 Layer III 48 kbit/s 16 kHz stereo
		0xfff34804, // 32 kbit/s
		0xfff3a8c4, // MPEG-2 mono
		0xfffb9064, // MPEG-1 128 kbit/s 44.1 kHz joint stereo
		0xffe36804, // MPEG-2.5 48 kbit/s 8 kHz stereo (our default)
		0xfff2680f, // CRC, emphasis bits
	} {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], h)
		f.Add(b[:])
	}
	f.Add([]byte("ID3\x03\x00\x00\x00\x00\x00\x00\xff\xf3\x68\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := parseMP3Header(b); err == nil {
			if got := h.marshal(); string(got[:]) != string(b[:4]) {
				t.Fatalf("header %x marshals as %x (%+v)", b[:4], got, h)
			}
			if h.size() < 4+h.sideInfo() && h.bitrate() >= 32 {
				t.Fatalf("frame of %d bytes for %+v", h.size(), h)
			}
		}
		s, err := scanMP3(strings.NewReader(string(b)), int64(len(b)))
		if err == nil && (s.end > int64(len(b)) || s.end < 0) {
			t.Fatalf("scan ends at %d of %d", s.end, len(b))
		}
		_ = io.EOF
	})
}

// barrier lets n goroutines wait for each other.
type barrier struct {
	mu         sync.Mutex
	c          *sync.Cond
	n, waiting int
	gen        int
}

func newBarrier(n int) *barrier {
	b := &barrier{n: n}
	b.c = sync.NewCond(&b.mu)
	return b
}

func (b *barrier) wait() {
	b.mu.Lock()
	defer b.mu.Unlock()
	gen := b.gen
	b.waiting++
	if b.waiting == b.n {
		b.waiting = 0
		b.gen++
		b.c.Broadcast()
		return
	}
	for gen == b.gen {
		b.c.Wait()
	}
}

// TestMP3ConfigValidate: what New refuses, Validate reports first, naming
// the value; defaults are valid for 8 and 16 kHz streams.
func TestMP3ConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    MP3Config
		rate int
		want string // "" valid
	}{
		{MP3Config{}, 8000, ""},
		{MP3Config{Mono: true}, 8000, ""},
		{MP3Config{}, 16000, ""},
		{MP3Config{Bitrate: 160}, 8000, ""},
		{MP3Config{Bitrate: 33}, 8000, "MP3.Bitrate 33"},
		{MP3Config{Bitrate: 320}, 8000, "MP3.Bitrate 320"},
		{MP3Config{SampleRate: 11025}, 8000, "MP3.SampleRate 11025"},
		{MP3Config{Quality: 10}, 8000, "MP3.Quality 10"},
	} {
		err := tc.c.Validate(tc.rate)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v at %d Hz: %v; want valid", tc.c, tc.rate, err)
		case tc.want != "" && (!errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v at %d Hz: %v; want ErrBadConfig naming %q", tc.c, tc.rate, err, tc.want)
		}
	}
}
