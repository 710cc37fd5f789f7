//go:build linux

package recording

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// mp3Tuned is one candidate of BenchmarkMP3Tune: an MP3Config (with the
// unexported LAME settings that are measured but not offered) and a layout
// (LayoutMono: both parties mixed into one channel).
type mp3Tuned struct {
	name   string
	c      MP3Config
	layout Layout
}

// before is the default before the mp3b branch: LAME's short blocks, and
// its own lowpass (none at 8 kHz, 48 kbit/s).
var before = mp3Tune{shortBlocks: true, lowpass: -1}

var mp3Tunes = []mp3Tuned{
	{name: "before", c: MP3Config{SampleRate: 8000, Bitrate: 48, Quality: 7, tune: before}}, // 8 kHz, 48 kbit/s, q7
	{name: "default", c: MP3Config{}}, // the same, long blocks only, lowpass 3.6 kHz
	{name: "before-q2", c: MP3Config{Quality: 2, tune: before}},
	{name: "before-q5", c: MP3Config{Quality: 5, tune: before}},
	{name: "before-q9", c: MP3Config{Quality: 9, tune: before}}, // LAME 3.100 encodes it as q7: the benchmarks' control
	{name: "before-16k", c: MP3Config{SampleRate: 16000, tune: mp3Tune{shortBlocks: true}}},
	{name: "before-cbr32", c: MP3Config{Bitrate: 32, tune: before}},
	{name: "before-cbr40", c: MP3Config{Bitrate: 40, tune: before}},
	{name: "before-cbr56", c: MP3Config{Bitrate: 56, tune: before}},
	{name: "before-joint", c: MP3Config{tune: mp3Tune{shortBlocks: true, lowpass: -1, joint: true}}},
	{name: "before-nores", c: MP3Config{tune: mp3Tune{shortBlocks: true, lowpass: -1, noReservoir: true}}},
	{name: "before-lp3600", c: MP3Config{tune: mp3Tune{shortBlocks: true, lowpass: 3600}}},
	{name: "before-batch2304", c: MP3Config{tune: mp3Tune{shortBlocks: true, lowpass: -1, batch: 2304}}},
	{name: "before-batch4608", c: MP3Config{tune: mp3Tune{shortBlocks: true, lowpass: -1, batch: 4608}}},
	{name: "before-batch9216", c: MP3Config{tune: mp3Tune{shortBlocks: true, lowpass: -1, batch: 9216}}},
	{name: "noshort", c: MP3Config{tune: mp3Tune{lowpass: -1}}},
	{name: "noshort-nores", c: MP3Config{tune: mp3Tune{lowpass: -1, noReservoir: true}}},
	{name: "noshort-lp3400", c: MP3Config{tune: mp3Tune{lowpass: 3400}}},
	{name: "noshort-lp3800", c: MP3Config{tune: mp3Tune{lowpass: 3800}}},
	{name: "default-batch4608", c: MP3Config{tune: mp3Tune{batch: 4608}}},
	{name: "default-cbr40", c: MP3Config{Bitrate: 40}},
	{name: "mono-cbr24-before", c: MP3Config{Bitrate: 24, tune: before}, layout: LayoutMono},
	{name: "mono-cbr32-before", c: MP3Config{Bitrate: 32, tune: before}, layout: LayoutMono},
	{name: "mono-cbr24", c: MP3Config{Bitrate: 24}, layout: LayoutMono},
	{name: "mono-cbr32", c: MP3Config{Bitrate: 32}, layout: LayoutMono},
	{name: "mono-cbr40", c: MP3Config{Bitrate: 40}, layout: LayoutMono},
	{name: "mono-cbr48", c: MP3Config{Bitrate: 48}, layout: LayoutMono},
	// The mp3c branch: LAME's remaining knobs on top of the default (run
	// with RECORDING_TUNE_BASE=default to compare with it in the loop).
	{name: "default-q9", c: MP3Config{Quality: 9}}, // LAME 3.100: q8 and q9 are q7 at CBR
	{name: "default-athonly", c: MP3Config{tune: mp3Tune{extra: []lameSet{{"ATHonly", 1}}}}},
	{name: "default-noath", c: MP3Config{tune: mp3Tune{extra: []lameSet{{"noATH", 1}}}}},
	{name: "default-notemporal", c: MP3Config{tune: mp3Tune{extra: []lameSet{{"useTemporal", 0}}}}},
	{name: "default-nspsytune0", c: MP3Config{tune: mp3Tune{extra: []lameSet{{"exp_nspsytune", 0}}}}},
	{name: "default-quantcomp0", c: MP3Config{tune: mp3Tune{extra: []lameSet{{"experimentalX", 0}}}}},
	{name: "default-dual", c: MP3Config{tune: mp3Tune{extra: []lameSet{{"mode", 2}}}}},
	{name: "default-lp3400", c: MP3Config{tune: mp3Tune{lowpass: 3400}}},
	{name: "default-athonly-notemporal", c: MP3Config{tune: mp3Tune{extra: []lameSet{{"ATHonly", 1}, {"useTemporal", 0}}}}},
}

// BenchmarkMP3Tune scores the speech of each candidate of mp3Tunes: the
// 20 s two-party call of speechCall recorded once per op, decoded by
// `lame --decode` and compared with the PCM the recorder was given
// (compareSpeech; mean of the two parties; for the mono mix, against the
// saturated sum of the parties). The scores are deterministic; the speed
// is BenchmarkMP3TuneAB's (many recordings at once, against the default in
// the same loop). kbit/s is the file's size over the call's length. With
// RECORDING_TUNE_OUT=DIR the files (NAME.mp3) and the reference (ref.wav,
// the two parties; mix.wav, their sum) stay in DIR, for sox.
//
//	go test ./recording/ -run '^$' -bench 'BenchmarkMP3Tune$' -benchtime 1x
func BenchmarkMP3Tune(b *testing.B) {
	l := requireLAME(b)
	left, right := speechCall(b)
	if keep := os.Getenv("RECORDING_TUNE_OUT"); keep != "" {
		writeRefs(b, keep, left, right)
	}
	for _, st := range mp3Tunes {
		b.Run(st.name, func(b *testing.B) {
			var q speechScore
			var kbps float64
			dir := b.TempDir()
			if keep := os.Getenv("RECORDING_TUNE_OUT"); keep != "" {
				dir = keep
			}
			for range b.N {
				_ = os.Remove(filepath.Join(dir, st.name+".mp3"))
				q, kbps = tunedQuality(b, l, filepath.Join(dir, st.name+".mp3"), st, left, right)
			}
			b.ReportMetric(q.SegSNR, "segSNR-dB")
			b.ReportMetric(q.BandSNR, "bandSNR-dB")
			b.ReportMetric(q.LSD, "LSD-dB")
			b.ReportMetric(kbps, "kbit/s")
		})
	}
}

// tunedQuality records the speech call once with st and scores the decoded
// file (mean of the parties, or the mono mix against the parties' sum).
func tunedQuality(t testing.TB, l *LAME, path string, st mp3Tuned, left, right []int16) (speechScore, float64) {
	t.Helper()
	r, err := New(path, Config{Format: MP3, LAME: l, MP3: st.c, Layout: st.layout, Streams: twoStreams(), Start: t0})
	must(t, err)
	must(t, r.Stream(0).StartAt(0))
	must(t, r.Stream(1).StartAt(0))
	for i := 0; i+160 <= len(left); i += 160 {
		must(t, r.Stream(0).Write(int64(i), left[i:i+160]))
		must(t, r.Stream(1).Write(int64(i), right[i:i+160]))
	}
	res, err := r.Stop()
	must(t, err)
	kbps := float64(res.Size) * 8 / res.Duration.Seconds() / 1000
	w := decode8k(t, res.Path)
	if len(w.ch) == 1 {
		sum := make([]int16, len(left))
		for i := range sum {
			sum[i] = int16(max(-32768, min(32767, int(left[i])+int(right[i]))))
		}
		return compareSpeech(sum, w.ch[0][:min(len(sum), len(w.ch[0]))]), kbps
	}
	var mean speechScore
	for ch, ref := range [][]int16{left, right} {
		s := compareSpeech(ref, w.ch[ch][:min(len(ref), len(w.ch[ch]))])
		if s.Lag != 0 {
			t.Errorf("%s channel %d: decoded audio %d samples off", st.name, ch, s.Lag)
		}
		mean.SegSNR += s.SegSNR / 2
		mean.BandSNR += s.BandSNR / 2
		mean.LSD += s.LSD / 2
	}
	return mean, kbps
}

// BenchmarkMP3TuneAB measures each candidate of mp3Tunes against the
// default before the mp3b branch ("before") in the same loop, so that what
// other processes do to the machine weighs on both alike: 100 two-party recordings of each, fed in turns (one
// 20 ms packet pair to every recording of one group, then of the other,
// the order swapped every tick), the CPU time of the feeding thread counted
// per group. One op is one tick (20 ms of call for every recording): give
// 1,000 (20 s of call) or more so that every recording encodes many LAME
// batches. Reported: both groups' CPU seconds per second of two-party call
// and their ratio (candidate / before).
//
//	go test ./recording/ -run '^$' -bench 'BenchmarkMP3TuneAB' -benchtime 1000x
func BenchmarkMP3TuneAB(b *testing.B) {
	l := requireLAME(b)
	left, right := speechCall(b)
	const n = 100
	open := func(dir string, st mp3Tuned) []*Recorder {
		recs := make([]*Recorder, n)
		for i := range recs {
			r, err := New(filepath.Join(dir, fmt.Sprintf("%s-%d.mp3", st.name, i)), Config{Format: MP3, LAME: l, MP3: st.c, Layout: st.layout, Streams: twoStreams(), Start: t0})
			must(b, err)
			must(b, r.Stream(0).StartAt(0))
			must(b, r.Stream(1).StartAt(0))
			recs[i] = r
		}
		return recs
	}
	base := mp3Tunes[0] // before, unless RECORDING_TUNE_BASE names another
	if name := os.Getenv("RECORDING_TUNE_BASE"); name != "" {
		i := slices.IndexFunc(mp3Tunes, func(st mp3Tuned) bool { return st.name == name })
		if i < 0 {
			b.Fatalf("RECORDING_TUNE_BASE=%q: no such setting", name)
		}
		base = mp3Tunes[i]
	}
	for _, st := range mp3Tunes {
		b.Run(st.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			dir := b.TempDir()
			groups := [2][]*Recorder{open(dir, base), open(dir, st)}
			var used [2]time.Duration
			b.ResetTimer()
			for k := range int64(b.N) {
				off := int(k*160) % (len(left) - 160)
				for j := range 2 {
					g := (j + int(k)) % 2
					c0 := threadCPU()
					for _, r := range groups[g] {
						_ = r.Stream(0).Write(k*160, left[off:off+160])
						_ = r.Stream(1).Write(k*160, right[off:off+160])
					}
					used[g] += threadCPU() - c0
				}
			}
			b.StopTimer()
			for _, g := range groups {
				for _, r := range g {
					_, _ = r.Stop()
				}
			}
			callSecs := float64(b.N) * 0.02 * n
			b.ReportMetric(used[0].Seconds()/callSecs, "before-cpu-s/call-s")
			b.ReportMetric(used[1].Seconds()/callSecs, "cpu-s/call-s")
			b.ReportMetric(used[1].Seconds()/used[0].Seconds(), "ratio")
		})
	}
}

// writeRefs writes the speech call the tuning benchmarks record as WAV
// files in dir: ref.wav (a party per channel) and mix.wav (their sum).
func writeRefs(t testing.TB, dir string, left, right []int16) {
	t.Helper()
	raw := make([]byte, 0, 4*len(left))
	mix := make([]byte, 0, 2*len(left))
	for i := range left {
		sum := int16(max(-32768, min(32767, int(left[i])+int(right[i]))))
		raw = append(raw, byte(left[i]), byte(uint16(left[i])>>8), byte(right[i]), byte(uint16(right[i])>>8))
		mix = append(mix, byte(sum), byte(uint16(sum)>>8))
	}
	for _, f := range []struct {
		name string
		ch   string
		b    []byte
	}{{"ref", "2", raw}, {"mix", "1", mix}} {
		p := filepath.Join(dir, f.name+".raw")
		must(t, os.WriteFile(p, f.b, 0o644))
		if out, err := exec.Command(requireSox(t), "-r", "8000", "-c", f.ch, "-b", "16", "-e", "signed-integer", "-t", "raw", p,
			filepath.Join(dir, f.name+".wav")).CombinedOutput(); err != nil {
			t.Fatalf("sox: %v: %s", err, out)
		}
		_ = os.Remove(p)
	}
}
