package recording

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-audio/wav"
	mp3 "github.com/hajimehoshi/go-mp3"

	"github.com/voicegw/voicegw/internal/testenv"
)

// tone returns n samples of a sine at freq Hz and amplitude amp, for
// positions from..from+n of a stream at rate.
func tone(freq, amp float64, rate int, from int64, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(from+int64(i))/float64(rate))))
	}
	return out
}

// level returns the amplitude of the freq Hz component of x (Goertzel); a
// full sine of amplitude A gives about A.
func level(x []int16, rate int, freq float64) float64 {
	if len(x) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / float64(rate)
	coef := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + coef*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - coef*s1*s2
	return 2 * math.Sqrt(math.Max(p, 0)) / float64(len(x))
}

// peak returns the largest absolute sample of x.
func peak(x []int16) int {
	m := 0
	for _, v := range x {
		a := int(v)
		if a < 0 {
			a = -a
		}
		m = max(m, a)
	}
	return m
}

// window returns x[from:to] in seconds at rate.
func window(x []int16, rate int, from, to float64) []int16 {
	a := int(math.Round(from * float64(rate)))
	b := min(int(math.Round(to*float64(rate))), len(x))
	if a >= b {
		return nil
	}
	return x[a:b]
}

// wavFile is a WAV file as go-audio/wav reads it.
type wavFile struct {
	rate, channels int
	ch             [][]int16 // per channel
}

// readWAV reads path with github.com/go-audio/wav, not with this package.
func readWAV(t testing.TB, path string) wavFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := wav.NewDecoder(f)
	if !d.IsValidFile() {
		t.Fatalf("go-audio/wav: %s is not a valid WAV file", path)
	}
	buf, err := d.FullPCMBuffer()
	if err != nil {
		t.Fatalf("go-audio/wav: %s: %v", path, err)
	}
	if d.BitDepth != 16 || d.WavAudioFormat != 1 {
		t.Fatalf("go-audio/wav: %s: %d bits, format %d; want 16-bit PCM", path, d.BitDepth, d.WavAudioFormat)
	}
	w := wavFile{rate: int(d.SampleRate), channels: int(d.NumChans)}
	w.ch = make([][]int16, w.channels)
	n := len(buf.Data) / w.channels
	for c := range w.ch {
		w.ch[c] = make([]int16, n)
		for i := 0; i < n; i++ {
			w.ch[c][i] = int16(buf.Data[i*w.channels+c])
		}
	}
	return w
}

func (w wavFile) frames() int { return len(w.ch[0]) }

// requireSox returns the sox command or skips.
func requireSox(t testing.TB) string {
	return testenv.RequireTool(t, "sox", "apt-get install -y sox")
}

// requireLame returns the lame command or skips.
func requireLame(t testing.TB) string {
	return testenv.RequireTool(t, "lame", "apt-get install -y lame")
}

// soxInfo returns what `sox --i` says of path: rate, channels, samples.
func soxInfo(t testing.TB, path string) (rate, channels int, samples int64) {
	t.Helper()
	sox := requireSox(t)
	get := func(flag string) int64 {
		out, err := exec.Command(sox, "--i", flag, path).CombinedOutput()
		if err != nil {
			t.Fatalf("sox --i %s %s: %v: %s", flag, path, err, out)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			t.Fatalf("sox --i %s %s: %q", flag, path, out)
		}
		return v
	}
	return int(get("-r")), int(get("-c")), get("-s")
}

var soxStatRE = regexp.MustCompile(`(?m)^(RMS +amplitude|Maximum amplitude|Rough +frequency):\s+(\S+)`)

// soxStat runs `sox path -n remix CH trim START DUR stat` and returns the
// RMS and maximum amplitude (0..1) and rough frequency of that stretch.
func soxStat(t testing.TB, path string, channel int, start, dur float64) (rms, maxAmp float64, freq int) {
	t.Helper()
	sox := requireSox(t)
	args := []string{path, "-n", "remix", strconv.Itoa(channel), "trim", fmtSec(start), fmtSec(dur), "stat"}
	out, err := exec.Command(sox, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("sox %v: %v: %s", args, err, out)
	}
	for _, m := range soxStatRE.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch {
		case strings.HasPrefix(m[1], "RMS"):
			rms = v
		case strings.HasPrefix(m[1], "Maximum"):
			maxAmp = v
		default:
			freq = int(v)
		}
	}
	return rms, maxAmp, freq
}

func fmtSec(s float64) string { return strconv.FormatFloat(s, 'f', 4, 64) }

// mp3File is an MP3 file decoded by github.com/hajimehoshi/go-mp3.
type mp3File struct {
	rate        int
	left, right []int16
}

// decodeGoMP3 decodes path with go-mp3 (always 16-bit stereo output).
func decodeGoMP3(t testing.TB, path string) mp3File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := mp3.NewDecoder(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("go-mp3: %s: %v", path, err)
	}
	var pcm bytes.Buffer
	if _, err := pcm.ReadFrom(d); err != nil {
		t.Fatalf("go-mp3: decoding %s: %v", path, err)
	}
	raw := pcm.Bytes()
	m := mp3File{rate: d.SampleRate()}
	for i := 0; i+3 < len(raw); i += 4 {
		m.left = append(m.left, int16(uint16(raw[i])|uint16(raw[i+1])<<8))
		m.right = append(m.right, int16(uint16(raw[i+2])|uint16(raw[i+3])<<8))
	}
	return m
}

// lameDecode decodes path with `lame --decode` (which honours the LAME
// tag: exact length, no encoder delay) to a WAV file and returns it.
func lameDecode(t testing.TB, path string) string {
	t.Helper()
	lame := requireLame(t)
	out := filepath.Join(t.TempDir(), filepath.Base(path)+".decoded.wav")
	if b, err := exec.Command(lame, "--decode", "--quiet", path, out).CombinedOutput(); err != nil {
		t.Fatalf("lame --decode %s: %v: %s", path, err, b)
	}
	return out
}

// lameForTest opens LAME once for all tests of the process, or skips.
var lameOnce = sync.OnceValues(func() (*LAME, error) { return OpenLAME("") })

func requireLAME(t testing.TB) *LAME {
	t.Helper()
	l, err := lameOnce()
	if err != nil {
		if errors.Is(err, ErrMP3Unavailable) {
			testenv.Missing(t, "libmp3lame.so.0", "apt-get install -y libmp3lame0")
		}
		t.Fatal(err)
	}
	return l
}

// feeder drives one stream in packets of n samples.
type feeder struct {
	t    testing.TB
	s    *Stream
	rate int
	freq float64
	amp  float64
}

// send writes the packet that starts at stream position pos with n samples.
func (f feeder) send(pos int64, n int) {
	f.t.Helper()
	if err := f.s.Write(pos, tone(f.freq, f.amp, f.rate, pos, n)); err != nil {
		f.t.Fatalf("stream %q Write(%d): %v", f.s.Label(), pos, err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
