package recording

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The three streams of a SIPREC session with a mixed stream: the two
// parties' own streams and one stream carrying both (its metadata lists
// several participants). Each is a tone of its own here, so that a channel
// shows which streams it holds.
var mixedCall = []struct {
	label string
	freq  float64
}{{"caller", 440}, {"callee", 880}, {"mixed", 1300}}

// recordMixedCall records 2 s of the three tones with cfg (Streams are set
// from mixedCall, with Separate as given) and returns the Result.
func recordMixedCall(t *testing.T, r *Recorder) Result {
	t.Helper()
	feedMixedCall(t, r)
	res, err := r.Stop()
	must(t, err)
	return res
}

// feedMixedCall feeds 2 s of the three tones, packet by packet, the
// streams in turn (as their receivers would).
func feedMixedCall(t *testing.T, r *Recorder) {
	t.Helper()
	for _, s := range r.Streams() {
		must(t, s.StartAt(0))
	}
	for k := int64(0); k < 100; k++ {
		for i, s := range r.Streams() {
			feeder{t, s, rate8k, mixedCall[i].freq, 8000}.send(k*160, 160)
		}
	}
}

func mixedStreams(separate bool) []StreamConfig {
	var sc []StreamConfig
	for _, m := range mixedCall {
		sc = append(sc, StreamConfig{Label: m.label, Separate: separate && m.label == "mixed"})
	}
	return sc
}

// checkTones checks, with go-audio/wav and with sox, that channel c of the
// WAV at path holds the tone want of mixedCall (level about 8000, sox's
// rough frequency within 10% of it) and none of the others (below 1% of
// it).
func checkTones(t *testing.T, path string, c int, want ...float64) {
	t.Helper()
	w := readWAV(t, path)
	x := window(w.ch[c], w.rate, 0.1, 1.9)
	for _, m := range mixedCall {
		lv := level(x, w.rate, m.freq)
		switch in := slices.Contains(want, m.freq); {
		case in && lv < 7000:
			t.Errorf("%s channel %d: the %s tone (%v Hz) at level %.0f, want about 8000", filepath.Base(path), c+1, m.label, m.freq, lv)
		case !in && lv > 80:
			t.Errorf("%s channel %d: the %s tone (%v Hz) at level %.0f, want none", filepath.Base(path), c+1, m.label, m.freq, lv)
		}
	}
	if len(want) == 1 {
		// sox's "rough frequency" counts zero crossings: within 10%.
		if _, _, freq := soxStat(t, path, c+1, 0.1, 1.8); float64(freq) < 0.9*want[0] || float64(freq) > 1.1*want[0] {
			t.Errorf("%s channel %d: sox hears %d Hz, want %v", filepath.Base(path), c+1, freq, want[0])
		}
	}
}

// TestMixedStreamLayouts: a SIPREC mixed stream next to the parties' own
// streams. The default layout mixes it into both parties' channels (the
// separation of the parties is lost); LayoutPerStream gives it a channel
// of its own (a 3-channel file); StreamConfig.Separate records it to a
// mono file of its own next to the parties' stereo file. Checked with
// go-audio/wav (the level of each tone in each channel) and sox (channel
// count, length, frequency).
func TestMixedStreamLayouts(t *testing.T) {
	t.Run("default: mixed into both channels", func(t *testing.T) {
		r, path := newTestRecorder(t, Config{Streams: mixedStreams(false)})
		recordMixedCall(t, r)
		if _, ch, n := soxInfo(t, path); ch != 2 || n != 16000 {
			t.Fatalf("sox: %d channels, %d samples; want 2, 16000", ch, n)
		}
		checkTones(t, path, 0, 440, 1300)
		checkTones(t, path, 1, 880, 1300)
	})
	t.Run("per stream: a channel of its own", func(t *testing.T) {
		r, path := newTestRecorder(t, Config{Layout: LayoutPerStream, Streams: mixedStreams(false)})
		if r.Channels() != 3 {
			t.Fatalf("Channels() = %d, want 3", r.Channels())
		}
		res := recordMixedCall(t, r)
		if _, ch, n := soxInfo(t, path); ch != 3 || n != 16000 || res.Channels != 3 {
			t.Fatalf("sox: %d channels, %d samples (Result: %d channels); want 3, 16000", ch, n, res.Channels)
		}
		for c, m := range mixedCall {
			checkTones(t, path, c, m.freq)
		}
		if info, err := Inspect(path); err != nil || info.Channels != 3 || info.Duration != 2*time.Second {
			t.Errorf("Inspect: %+v, %v", info, err)
		}
	})
	t.Run("separate: a file of its own", func(t *testing.T) {
		r, path := newTestRecorder(t, Config{Streams: mixedStreams(true)})
		if r.Channels() != 2 {
			t.Fatalf("Channels() = %d, want 2 (the mixed stream is not in the file)", r.Channels())
		}
		res := recordMixedCall(t, r)
		sep := strings.TrimSuffix(path, ".wav") + ".mixed.wav"
		if len(res.Separate) != 1 || res.Separate[0].Path != sep || res.Separate[0].Label != "mixed" ||
			res.Separate[0].Channels != 1 || res.Separate[0].Duration != res.Duration {
			t.Fatalf("Result.Separate %+v, want the mono file %s of %v", res.Separate, sep, res.Duration)
		}
		if _, ch, n := soxInfo(t, path); ch != 2 || n != 16000 {
			t.Fatalf("sox: %d channels, %d samples; want 2, 16000", ch, n)
		}
		checkTones(t, path, 0, 440)
		checkTones(t, path, 1, 880)
		if _, ch, n := soxInfo(t, sep); ch != 1 || n != 16000 {
			t.Fatalf("sox on %s: %d channels, %d samples; want 1, 16000", sep, ch, n)
		}
		checkTones(t, sep, 0, 1300)
	})
	t.Run("separate, MP3", func(t *testing.T) {
		l := requireLAME(t)
		r, path := newTestRecorder(t, Config{Format: MP3, LAME: l, Streams: mixedStreams(true)})
		res := recordMixedCall(t, r)
		if len(res.Separate) != 1 || res.Separate[0].Channels != 1 || res.Separate[0].Format != MP3 {
			t.Fatalf("Result.Separate %+v", res.Separate)
		}
		main, sep := lameDecode(t, path), lameDecode(t, res.Separate[0].Path)
		checkTones(t, main, 0, 440)
		checkTones(t, main, 1, 880)
		checkTones(t, sep, 0, 1300)
	})
}

// TestSeparateInDir: in a Dir, a Separate stream's file is SESSION.LABEL
// beside SESSION, finished, uploaded and recovered like it: Finish uploads
// both under their keys (and, after a failed upload, only what is left);
// after a crash, Recover repairs and uploads both.
func TestSeparateInDir(t *testing.T) {
	var mu sync.Mutex
	uploads := map[string]int{}
	failKey := ""
	up := UploaderFunc(func(_ context.Context, obj Object) error {
		mu.Lock()
		defer mu.Unlock()
		if obj.Key == failKey {
			return errors.New("bucket unreachable")
		}
		uploads[obj.Key]++
		return nil
	})
	id := ID{Account: "AC1", Application: "AP1", Session: "S1"}
	path := t.TempDir()
	d, err := OpenDir(DirConfig{Path: path, Uploader: up})
	must(t, err)
	r, err := d.Create(id, Config{Streams: mixedStreams(true), Start: t0})
	must(t, err)
	if _, err := d.Create(id, Config{Streams: mixedStreams(true), Start: t0}); err == nil {
		t.Fatal("a second recording of the same session was created")
	}
	recordMixedCall(t, r) // stops it
	failKey = "AC1/AP1/S1.mixed.wav"
	res, err := r.Finish(t.Context())
	if !errors.Is(err, ErrUpload) || !res.Uploaded || res.Separate[0].Uploaded {
		t.Fatalf("Finish with the second upload failing: %v; uploaded %v, %v", err, res.Uploaded, res.Separate[0].Uploaded)
	}
	failKey = ""
	res, err = r.Finish(t.Context())
	must(t, err)
	if res.Key != "AC1/AP1/S1.wav" || res.Separate[0].Key != "AC1/AP1/S1.mixed.wav" || !res.Separate[0].Uploaded ||
		res.Separate[0].ID.Session != "S1.mixed" {
		t.Errorf("Result %+v", res)
	}
	if uploads["AC1/AP1/S1.wav"] != 1 || uploads["AC1/AP1/S1.mixed.wav"] != 1 {
		t.Errorf("uploads %v, want each key once", uploads)
	}
	for _, p := range []string{res.Path, res.Separate[0].Path} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after its upload: %v", p, err)
		}
	}

	// A crash: the recording is cut off; the next process's Dir recovers.
	id2 := ID{Account: "AC1", Application: "AP1", Session: "S2"}
	r2, err := d.Create(id2, Config{Streams: mixedStreams(true), Start: t0})
	must(t, err)
	feedMixedCall(t, r2)
	must(t, r2.Flush())
	d2, err := OpenDir(DirConfig{Path: path, Uploader: up})
	must(t, err)
	rec, err := d2.Recover(t.Context())
	must(t, err)
	var keys []string
	for _, x := range rec {
		keys = append(keys, x.Key)
		if x.Repair == nil || x.Info.Duration < time.Second {
			t.Errorf("recovered %s: %+v", x.Key, x)
		}
	}
	if !slices.Equal(keys, []string{"AC1/AP1/S2.mixed.wav", "AC1/AP1/S2.wav"}) {
		t.Errorf("recovered %v", keys)
	}
	_ = r2.Abort()
}

// TestSeparateNames: a Separate stream's file is named after its label
// when the label is a safe name, else after its index (labels come from
// the peer's SDP and never reach a path as they are).
func TestSeparateNames(t *testing.T) {
	for _, tc := range []struct {
		label, want string
	}{
		{"mixed", "rec.mixed.wav"},
		{"3", "rec.3.wav"},
		{"", "rec.s1.wav"},
		{"../../etc/x", "rec.s1.wav"},
		{".hidden", "rec.s1.wav"},
		{"a b", "rec.s1.wav"},
		{strings.Repeat("x", 65), "rec.s1.wav"},
	} {
		r, path := newTestRecorder(t, Config{Streams: []StreamConfig{{Label: "a"}, {Label: tc.label, Separate: true}}})
		res, err := r.Stop()
		must(t, err)
		if got := res.Separate[0].Path; got != filepath.Join(filepath.Dir(path), tc.want) {
			t.Errorf("label %q: file %s, want %s", tc.label, got, tc.want)
		}
	}
	if got := withSuffix("/d/AC/AP/S.wav.part", "m"); got != "/d/AC/AP/S.m.wav.part" {
		t.Errorf("withSuffix of a part file: %s", got)
	}
}

// TestNoAllocationsPerPacketLayouts: the new layouts cost no allocation
// per packet either.
func TestNoAllocationsPerPacketLayouts(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for name, cfg := range map[string]Config{
		"per stream": {Layout: LayoutPerStream, Streams: mixedStreams(false)},
		"separate":   {Streams: mixedStreams(true)},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.FlushInterval = 100 * time.Millisecond
			r, _ := newTestRecorder(t, cfg)
			pcm := tone(1000, 8000, rate8k, 0, 160)
			for _, s := range r.Streams() {
				must(t, s.StartAt(0))
			}
			var k int64
			packet := func() {
				for _, s := range r.Streams() {
					_ = s.Write(k*160, pcm)
				}
				k++
			}
			for range 200 {
				packet()
			}
			if n := testing.AllocsPerRun(2000, packet); n != 0 {
				t.Errorf("%.3f allocations per packet", n)
			}
			_, err := r.Stop()
			must(t, err)
		})
	}
}
