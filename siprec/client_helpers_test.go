package siprec

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// logBuffer collects a test's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Len returns how many bytes were logged so far: since(Len()) is what a
// step logs.
func (l *logBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

// since returns what was logged after the first n bytes.
func (l *logBuffer) since(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()[n:]
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// newTestClient returns a Client on 127.0.0.1 whose logs go to the returned
// buffer; it is closed when the test ends.
func newTestClient(t testing.TB, cfg ClientConfig) (*Client, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = logs.logger()
	}
	if !cfg.ListenAddr.IsValid() {
		cfg.ListenAddr = netip.MustParseAddrPort("127.0.0.1:0")
	}
	if cfg.AnswerTimeout == 0 {
		cfg.AnswerTimeout = 5 * time.Second
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, logs
}

// testCall is the two-party call the tests record.
func testCall() metadata.Call {
	return metadata.Call{
		SIPSessionIDs: []string{"ab30317f1a784dc48ff824d0d3715d86"},
		Parties: []metadata.Party{
			{AOR: "sip:alice@example.com", Name: "Alice", Label: "1"},
			{AOR: "sip:bob@example.com", Name: "Bob", Label: "2"},
		},
	}
}

func newTestManager(t testing.TB, c *Client, cfg ManagerConfig) *Manager {
	t.Helper()
	if len(cfg.Call.Parties) == 0 {
		cfg.Call = testCall()
	}
	m, err := c.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = m.Stop(context.Background()) })
	return m
}

// sink is a recording server's media endpoint in the tests: a media
// Receiver on loopback that keeps what it decodes.
type sink struct {
	rx  *media.Receiver
	mu  sync.Mutex
	pcm []int16
	gap int64 // samples of gaps
	src map[uint32]bool
}

func newSink(t testing.TB) *sink {
	t.Helper()
	ep, err := media.Listen(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{src: map[uint32]bool{}}
	s.rx, err = media.NewReceiver(ep, media.ReceiverConfig{Handler: media.HandlerFuncs{
		Audio: func(a media.Audio) {
			s.mu.Lock()
			s.pcm = append(s.pcm, a.PCM...)
			s.src[a.SSRC] = true
			s.mu.Unlock()
		},
		Gap: func(g media.Gap) {
			s.mu.Lock()
			s.gap += g.Samples
			s.mu.Unlock()
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.rx.Run(context.Background()) }()
	t.Cleanup(func() { _ = s.rx.Close() })
	return s
}

func (s *sink) port() int { return int(s.rx.LocalAddr().Port()) }

// samples returns a copy of what the sink decoded, the gap samples and the
// SSRCs seen.
func (s *sink) samples() ([]int16, int64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.pcm...), s.gap, len(s.src)
}

// waitSamples waits until the sink holds at least n samples.
func (s *sink) waitSamples(t testing.TB, n int) []int16 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pcm, _, _ := s.samples()
		if len(pcm) >= n {
			return pcm
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recorder's media endpoint got %d samples, want at least %d", len(pcm), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// frequency estimates the frequency of a tone from its zero crossings.
func frequency(pcm []int16) float64 {
	crossings := 0
	for i := 1; i < len(pcm); i++ {
		if (pcm[i-1] < 0) != (pcm[i] < 0) {
			crossings++
		}
	}
	return float64(crossings) / 2 / (float64(len(pcm)) / media.SampleRate)
}

// tone returns n samples of a sine at hz.
func tone(hz float64, n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/media.SampleRate))
	}
	return pcm
}

// pump writes a tone per fork (440 Hz for the first, 880 Hz for the
// second, ...) in real time, 20 ms at a time, until ctx ends. The first
// fork is fed G.711 μ-law (WriteEncoded), the others PCM (WritePCM).
func pump(ctx context.Context, m *Manager) <-chan struct{} {
	done, _ := pumpCounted(ctx, m)
	return done
}

// pumpCounted is pump, also counting the frames it wrote (or that the
// forks skipped while paused): a ticker that falls behind on a loaded
// machine writes fewer than wall time suggests, so timing checks count
// frames, not time.
func pumpCounted(ctx context.Context, m *Manager) (<-chan struct{}, *atomic.Int64) {
	done := make(chan struct{})
	frames := new(atomic.Int64)
	go func() {
		defer close(done)
		forks := m.Forks()
		tones := make([][]int16, len(forks))
		for i := range forks {
			tones[i] = tone(440*float64(i+1), media.SampleRate) // one second, looped
		}
		enc := make([]byte, 160)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for pos := 0; ; pos = (pos + 160) % media.SampleRate {
			for i, f := range forks {
				frame := tones[i][pos : pos+160]
				if i == 0 {
					media.EncodePCMU(enc, frame)
					_ = f.WriteEncoded(media.EncodingPCMU, enc)
				} else {
					_ = f.WritePCM(frame)
				}
			}
			frames.Add(1)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return done, frames
}

// srs is a sipp recording server for one call, over TCP.
type srs struct {
	p    *sipptest.Process
	uri  URI
	dir  string
	msgs string
}

// startSRS starts sipp with scenario (in testdata) as a recording server on
// TCP on 127.0.0.1; keys are -key name value pairs.
func startSRS(t *testing.T, scenario string, keys map[string]string, extra ...string) *srs {
	t.Helper()
	return startSRSOn(t, "127.0.0.1", scenario, keys, extra...)
}

// startSRSOn is startSRS on another loopback address (::1).
func startSRSOn(t *testing.T, ip, scenario string, keys map[string]string, extra ...string) *srs {
	t.Helper()
	dir := t.TempDir()
	msgs := filepath.Join(dir, "messages.log")
	args := []string{"-trace_msg", "-message_file", msgs}
	for k, v := range keys {
		args = append(args, "-key", k, v)
	}
	args = append(args, extra...)
	if !filepath.IsAbs(scenario) {
		scenario = filepath.Join("testdata", scenario)
	}
	p := sipptest.Start(t, sipptest.Options{
		Scenario:  scenario,
		Transport: sipptest.TCP,
		LocalIP:   ip,
		Dir:       dir,
		Args:      args,
		Timeout:   30 * time.Second,
	})
	s := &srs{p: p, dir: dir, msgs: msgs}
	s.uri = mustParseURI(fmt.Sprintf("sip:srs@%s;transport=tcp", p.Addr()))
	waitListening(t, p.Addr())
	return s
}

// refusing returns the path of a copy of srs_refuse.xml that answers with
// status and reason.
func refusing(t testing.TB, status int, reason string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "srs_refuse.xml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "SIP/2.0 488 Not Acceptable Here", fmt.Sprintf("SIP/2.0 %d %s", status, reason), 1)
	p := filepath.Join(t.TempDir(), fmt.Sprintf("srs_refuse_%d.xml", status))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// messages returns sipp's message trace.
func (s *srs) messages() string {
	b, _ := os.ReadFile(s.msgs)
	return string(b)
}

// wait waits for sipp to finish its call and fails t if it did not pass.
func (s *srs) wait(t *testing.T) {
	t.Helper()
	if _, err := s.p.Wait(); err != nil {
		t.Fatalf("sipp recording server: %v\n--- messages ---\n%s", err, tail(s.messages(), 6000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitListening waits until sipp listens on its TCP port, watching
// /proc/net/tcp (probing with a connection or a bind could disturb sipp);
// where /proc is missing it waits half a second.
func waitListening(t testing.TB, addr string) {
	t.Helper()
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	want := fmt.Sprintf(":%04X ", port)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			time.Sleep(500 * time.Millisecond)
			return
		}
		if b6, err := os.ReadFile("/proc/net/tcp6"); err == nil {
			b = append(b, b6...)
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasSuffix(f[1]+" ", want) && f[3] == "0A" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sipp does not listen on %s", addr)
}

func itoa(n int) string { return strconv.Itoa(n) }

// contains reports whether all of subs occur in s.
func containsAll(s string, subs ...string) (string, bool) {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return sub, false
		}
	}
	return "", true
}

// waitStarting waits until a Start of m is in progress.
func waitStarting(t testing.TB, m *Manager) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m.stMu.Lock()
		starting := m.starting
		m.stMu.Unlock()
		if starting {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no Start in progress")
}
