package main

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/recording"
)

// TestCheckAudio records what the gateway records for a two-party call
// (recording package, the LAME library, decoded by the lame command) and
// runs the harness's audio check on it: stereo files hold a tone per
// channel, mono MP3 files (-mp3-mono) both parties' tones in their one
// channel; a call that lost a party fails the check in every layout, and a
// mono mix of two tones in phase or out of phase is told apart from a lost
// party by frequency, not by level.
func TestCheckAudio(t *testing.T) {
	testenv.RequireTool(t, "lame", "apt-get install -y lame")
	l, err := recording.OpenLAME("")
	if errors.Is(err, recording.ErrMP3Unavailable) {
		testenv.Missing(t, "libmp3lame.so.0", "apt-get install -y libmp3lame0")
	}
	if err != nil {
		t.Fatal(err)
	}
	const secs = 3
	sine := func(hz int, shift int) []int16 {
		x := make([]int16, secs*8000)
		for i := range x {
			x[i] = int16(8000 * math.Sin(2*math.Pi*float64(hz)*float64(i+shift)/8000))
		}
		return x
	}
	silence := make([]int16, secs*8000)
	for _, tc := range []struct {
		name          string
		format        recording.Format
		mono          bool
		first, second []int16
		want          string // in the problem; "" passes
	}{
		{"stereo WAV", recording.WAV, false, sine(toneFirst, 0), sine(toneFirst, 0), ""},
		{"stereo WAV, a party lost", recording.WAV, false, sine(toneFirst, 0), silence, "tone is missing"},
		{"stereo MP3", recording.MP3, false, sine(toneFirst, 0), sine(toneFirst, 0), ""},
		{"stereo MP3, a party lost", recording.MP3, false, silence, sine(toneFirst, 0), "tone is missing"},
		{"mono MP3, a tone each", recording.MP3, true, sine(toneFirst, 0), sine(toneSecond, 0), ""},
		{"mono MP3, a tone each, 1.25 ms apart", recording.MP3, true, sine(toneFirst, 0), sine(toneSecond, 10), ""},
		{"mono MP3, the second party lost", recording.MP3, true, sine(toneFirst, 0), silence, "1000 Hz at RMS"},
		{"mono MP3, the first party lost", recording.MP3, true, silence, sine(toneSecond, 0), "a party's tone is missing"},
		// The same tone from both parties, half a period apart, cancels
		// out: with one tone for both, a mono check by level could not
		// tell this call from a lost party. It fails here because the
		// second tone is missing, as it must for a harness that sends two.
		{"mono MP3, one tone for both, out of phase", recording.MP3, true, sine(toneFirst, 0), sine(toneFirst, 10), "a party's tone is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ext := ".wav"
			if tc.format == recording.MP3 {
				ext = ".mp3"
			}
			path := filepath.Join(t.TempDir(), "call"+ext)
			r, err := recording.New(path, recording.Config{
				Format: tc.format, LAME: l, MP3: recording.MP3Config{Mono: tc.mono, Bitrate: 32},
				Streams: []recording.StreamConfig{{Label: "caller"}, {Label: "callee"}},
				Start:   time.Unix(0, 0),
			})
			if err != nil {
				t.Fatal(err)
			}
			parties := [][]int16{tc.first, tc.second}
			for i := range parties {
				if err := r.Stream(i).StartAt(0); err != nil {
					t.Fatal(err)
				}
			}
			for k := 0; k+160 <= len(silence); k += 160 { // 20 ms of each party in turn, as they arrive
				for i, pcm := range parties {
					if err := r.Stream(i).Write(int64(k), pcm[k:k+160]); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := r.Stop(); err != nil {
				t.Fatal(err)
			}
			info, err := recording.Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 2}[tc.mono]; info.Channels != want {
				t.Fatalf("%d channels, want %d", info.Channels, want)
			}
			problem, err := checkAudio(path, info)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" && problem != "" || tc.want != "" && !strings.Contains(problem, tc.want) {
				t.Errorf("problem %q, want %q", problem, tc.want)
			}
		})
	}
}

// The mono and bitrate flags need MP3.
func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-mp3-mono"}, "need -format mp3"},
		{[]string{"-format", "wav", "-mp3-mono=false"}, "need -format mp3"},
		{[]string{"-format", "wav", "-mp3-bitrate", "32"}, "need -format mp3"},
		{[]string{"-format", "mp3", "-mp3-bitrate", "-1"}, "-mp3-bitrate -1"},
		{[]string{"-core-share", "0.5"}, "-core-share 0.5 needs -pin"},
		{[]string{"-pin", "-core-share", "0"}, "-core-share 0: want a fraction of one core"},
		{[]string{"-pin", "-core-share", "1.5"}, "-core-share 1.5: want a fraction of one core"},
		{[]string{"-pin", "-core-share", "NaN"}, "-core-share NaN: want a fraction of one core"},
		{[]string{"-pin", "-core-share", "0.05"}, "-core-share 0.05: below 0.1"},
	} {
		var out strings.Builder
		if err := run(t.Context(), tc.args, &out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}
