package main

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/go-audio/wav"

	"github.com/voicegw/voicegw/internal/testenv"
)

// pcm is decoded audio: one []float64 per channel, in [-1, 1].
type pcm struct {
	rate     int
	channels [][]float64
}

func (p pcm) duration() time.Duration {
	if len(p.channels) == 0 {
		return 0
	}
	return time.Duration(len(p.channels[0])) * time.Second / time.Duration(p.rate)
}

// decodeWAV reads a WAV file with go-audio/wav.
func decodeWAV(t *testing.T, path string) pcm {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := wav.NewDecoder(f)
	if !d.IsValidFile() {
		t.Fatalf("%s: not a valid WAV file", path)
	}
	buf, err := d.FullPCMBuffer()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n := buf.Format.NumChannels
	out := pcm{rate: buf.Format.SampleRate, channels: make([][]float64, n)}
	for i, v := range buf.Data {
		out.channels[i%n] = append(out.channels[i%n], float64(v)/32768)
	}
	return out
}

// goertzel returns the power of frequency f in x sampled at rate.
func goertzel(x []float64, rate int, f float64) float64 {
	w := 2 * math.Pi * f / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := v + c*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / float64(len(x))
}

// checkTone checks that channel ch of p carries the tone want (and not
// other) from from to to, well above silence.
func checkTone(t *testing.T, name string, p pcm, ch int, want, other float64, from, to time.Duration) {
	t.Helper()
	x := p.channels[ch]
	a, b := int(from.Seconds()*float64(p.rate)), int(to.Seconds()*float64(p.rate))
	if b > len(x) {
		t.Fatalf("%s channel %d: %d samples, want at least %d", name, ch, len(x), b)
	}
	seg := x[a:b]
	pw, po := goertzel(seg, p.rate, want), goertzel(seg, p.rate, other)
	if pw < 100*po || pw < 1e-3 {
		t.Fatalf("%s channel %d between %s and %s: power at %.0f Hz %.3g, at %.0f Hz %.3g; want the %.0f Hz tone",
			name, ch, from, to, want, pw, other, po, want)
	}
}

var reRoughFreq = regexp.MustCompile(`Rough\s+frequency:\s+(\d+)`)

// soxFrequency asks sox for the rough frequency of one channel of a file.
func soxFrequency(t *testing.T, path string, ch int) float64 {
	t.Helper()
	sox := testenv.RequireTool(t, "sox", "apt-get install -y sox")
	out, err := exec.Command(sox, path, "-n", "remix", strconv.Itoa(ch), "stat").CombinedOutput()
	if err != nil {
		t.Fatalf("sox %s: %v\n%s", path, err, out)
	}
	m := reRoughFreq.FindSubmatch(out)
	if m == nil {
		t.Fatalf("sox stat gave no frequency:\n%s", out)
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return f
}

// lameDecode decodes an MP3 file to WAV with the lame command.
func lameDecode(t *testing.T, path string) string {
	t.Helper()
	lame := testenv.RequireTool(t, "lame", "apt-get install -y lame")
	out := filepath.Join(t.TempDir(), "decoded.wav")
	if b, err := exec.Command(lame, "--quiet", "--decode", path, out).CombinedOutput(); err != nil {
		t.Fatalf("lame --decode %s: %v\n%s", path, err, b)
	}
	return out
}

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance }
