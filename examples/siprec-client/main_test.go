package main

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-audio/audio"
	"github.com/go-audio/wav"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/media"
)

// The recording server scenarios of the siprec package's tests.
var scenarios = filepath.Join("..", "..", "siprec", "testdata")

// sink is a recorder's media endpoint: it keeps the decoded audio.
type sink struct {
	rx  *media.Receiver
	mu  sync.Mutex
	pcm []int16
}

func newSink(t *testing.T) *sink {
	ep, err := media.Listen(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	s.rx, err = media.NewReceiver(ep, media.ReceiverConfig{Handler: media.HandlerFuncs{Audio: func(a media.Audio) {
		s.mu.Lock()
		s.pcm = append(s.pcm, a.PCM...)
		s.mu.Unlock()
	}}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.rx.Run(context.Background()) }()
	t.Cleanup(func() { _ = s.rx.Close() })
	return s
}

func (s *sink) port() string { return fmt.Sprint(s.rx.LocalAddr().Port()) }

// hz estimates the frequency the sink heard, from zero crossings.
func (s *sink) hz() (float64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pcm) < 1600 {
		return 0, len(s.pcm)
	}
	pcm := s.pcm[800:]
	crossings := 0
	for i := 1; i < len(pcm); i++ {
		if (pcm[i-1] < 0) != (pcm[i] < 0) {
			crossings++
		}
	}
	return float64(crossings) / 2 / (float64(len(pcm)) / media.SampleRate), len(s.pcm)
}

// recorder starts sipp with a scenario of the siprec tests on TCP.
func recorder(t *testing.T, scenario string, keys ...string) (*sipptest.Process, string) {
	args := []string{}
	for i := 0; i+1 < len(keys); i += 2 {
		args = append(args, "-key", keys[i], keys[i+1])
	}
	p := sipptest.Start(t, sipptest.Options{Scenario: filepath.Join(scenarios, scenario), Transport: sipptest.TCP, Args: args})
	time.Sleep(300 * time.Millisecond) // sipp binds its port
	return p, fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", p.LocalPort())
}

func runClient(t *testing.T, args ...string) (int, string, string) {
	var out, errs strings.Builder
	code := run(t.Context(), args, &out, &errs)
	return code, out.String(), errs.String()
}

// Two recorders, one refusing: the session starts, pauses, resumes and
// stops at the accepting one, which hears both tones; the refusal is
// printed.
func TestTwoRecordersPauseResume(t *testing.T) {
	s1, s2 := newSink(t), newSink(t)
	ok, okURI := recorder(t, "srs_uas.xml", "srs_p1", s1.port(), "srs_p2", s2.port())
	no, noURI := recorder(t, "srs_refuse.xml")
	code, out, errs := runClient(t, "-srs", okURI+","+noURI, "-duration", "1500ms", "-pause-at", "500ms", "-resume-at", "900ms", "-recording-id", "rec-9")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{
		"start   " + okURI + "  accepted: 200",
		"start   " + noURI + "  failed: siprec: start recording at " + noURI,
		"488 Not Acceptable Here",
		"pause   " + okURI + "  accepted: 200",
		"resume  " + okURI + "  accepted: 200",
		"stop    " + okURI + "  accepted: 200",
		"sent    " + okURI + "  stream 1: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for i, s := range []*sink{s1, s2} {
		hz, n := s.hz()
		if want := 440.0 * float64(i+1); hz < want-20 || hz > want+20 {
			t.Errorf("stream %d: the recorder heard %.0f Hz in %d samples, want %.0f Hz", i+1, hz, n, want)
		}
	}
	if _, err := ok.Wait(); err != nil {
		t.Error(err)
	}
	if _, err := no.Wait(); err != nil {
		t.Error(err)
	}
}

// A stereo WAV file: left channel on stream 1, right on stream 2,
// resampled from 16 kHz.
func TestWAVAudio(t *testing.T) {
	path := filepath.Join(t.TempDir(), "call.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	enc := wav.NewEncoder(f, 16000, 16, 2, 1)
	buf := &audio.IntBuffer{Format: &audio.Format{NumChannels: 2, SampleRate: 16000}, SourceBitDepth: 16}
	for i := range 16000 {
		buf.Data = append(buf.Data, int(12000*math.Sin(2*math.Pi*300*float64(i)/16000)), int(12000*math.Sin(2*math.Pi*600*float64(i)/16000)))
	}
	if err := enc.Write(buf); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	s1, s2 := newSink(t), newSink(t)
	p, uri := recorder(t, "srs_uas.xml", "srs_p1", s1.port(), "srs_p2", s2.port())
	code, out, errs := runClient(t, "-srs", uri, "-duration", "800ms", "-audio", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for i, s := range []*sink{s1, s2} {
		if hz, n := s.hz(); hz < 300*float64(i+1)-20 || hz > 300*float64(i+1)+20 {
			t.Errorf("stream %d: %.0f Hz in %d samples, want %d Hz", i+1, hz, n, 300*(i+1))
		}
	}
	if _, err := p.Wait(); err != nil {
		t.Error(err)
	}
}

func TestStartFails(t *testing.T) {
	_, uri := recorder(t, "srs_refuse.xml")
	code, out, errs := runClient(t, "-srs", uri, "-duration", "1s")
	if code != 1 || !strings.Contains(out, "failed:") || !strings.Contains(errs, "recording did not start") {
		t.Errorf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// -resolve: the URI names a host no DNS knows, and the INVITE reaches the
// address given for it (the recorder's refusal is its answer).
func TestResolve(t *testing.T) {
	_, uri := recorder(t, "srs_refuse.xml")
	named := strings.Replace(uri, "127.0.0.1", "srs.example.invalid", 1)
	code, out, errs := runClient(t, "-srs", named, "-resolve", "SRS.example.invalid=127.0.0.1", "-duration", "1s")
	if code != 1 || !strings.Contains(out, "start   "+named+"  failed:") || !strings.Contains(out, "488 Not Acceptable Here") {
		t.Errorf("exit %d, want 1 with the recorder's 488\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-srs is required"},
		{[]string{"-srs", "wss://siprec.example.com"}, "WebSocket URLs (wss://) are not supported"},
		{[]string{"-srs", "siprec.example.com"}, "the sip: or sips: scheme is missing"},
		{[]string{"-srs", "sip:src:hunter2@srs.example.com"}, `"sip:src:***@srs.example.com" (item 1, column 8): a password in the URI`},
		{[]string{"-srs", "sip:127.0.0.1", "-resume-at", "2s"}, "-resume-at needs -pause-at"},
		{[]string{"-srs", "sip:127.0.0.1", "-duration", "2s", "-pause-at", "3s"}, "must be within -duration"},
		{[]string{"-srs", "sip:127.0.0.1", "-audio", "/nonexistent.wav"}, "-audio"},
		{[]string{"-srs", "sip:127.0.0.1", "-resolve", "srs.example.com"}, "want HOST=IP_ADDRESS"},
		{[]string{"-srs", "sips:127.0.0.1", "-srtp", "maybe"}, `-srtp "maybe": want auto or off`},
		{[]string{"-srs", "sips:127.0.0.1", "-tls-ca", "/nonexistent.pem"}, "-tls-ca"},
	} {
		code, _, errs := runClient(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
		if strings.Contains(errs, "hunter2") {
			t.Errorf("%v: stderr shows the password: %q", tc.args, errs)
		}
	}
}

// A BYE that cannot reach the recorder (its Contact names a host nobody
// resolves) is a failed call: exit 1, saying where the stop failed.
func TestStopFails(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(scenarios, "srs_uas.xml"))
	if err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(t.TempDir(), "srs_uas_lost.xml")
	lost := strings.ReplaceAll(string(b), "Contact: <sip:srs@[local_ip]:[local_port];", "Contact: <sip:srs@recorder.invalid:[local_port];")
	if err := os.WriteFile(scenario, []byte(lost), 0o644); err != nil {
		t.Fatal(err)
	}
	s1, s2 := newSink(t), newSink(t)
	p := sipptest.Start(t, sipptest.Options{Scenario: scenario, Transport: sipptest.TCP, Args: []string{"-key", "srs_p1", s1.port(), "-key", "srs_p2", s2.port()}})
	time.Sleep(300 * time.Millisecond) // sipp binds its port
	uri := fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", p.LocalPort())
	code, out, errs := runClient(t, "-srs", uri, "-duration", "500ms")
	if code != 1 || !strings.Contains(out, "start   "+uri+"  accepted: 200") || !strings.Contains(out, "stop    "+uri+"  failed:") || !strings.Contains(errs, "stop failed at "+uri) {
		t.Errorf("exit %d, want 1 after a stop that failed\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}
