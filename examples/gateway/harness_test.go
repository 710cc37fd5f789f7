package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
)

// The tests run the gateway as users do: a binary, built once by TestMain,
// started as a child process on free ports with a temporary data directory.

var gatewayBin string // path of the built gateway

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gateway-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayBin = filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-o", gatewayBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the gateway: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for a writing child and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gwProc is a running gateway.
type gwProc struct {
	t                 *testing.T
	dataDir           string
	cfgPath           string
	sipPort, httpPort int
	rtpLo, rtpHi      int
	cmd               *exec.Cmd
	stdout, stderr    *syncBuffer
	done              chan struct{}
	waitErr           error
}

// gwOptions describe a gateway to start.
type gwOptions struct {
	// DataDir is reused across restarts; default a new temporary directory.
	DataDir string
	// Config is YAML appended to the generated listen settings (accounts,
	// other keys).
	Config string
	// Ports reuses the ports of an earlier gateway (a restart).
	Ports *gwProc
	// ShutdownTimeout is shutdown.timeout; default 20s.
	ShutdownTimeout time.Duration
	// SIP is YAML added to the generated sip mapping ("default_account: x").
	SIP string
	// Args are extra command-line arguments.
	Args []string
	// HTTP is YAML added to the generated http mapping ("pprof: true").
	HTTP string
	// LogLevel is log.level; default debug.
	LogLevel string
	// RTPPorts is the size of the RTP port range; default 400.
	RTPPorts int
	// Wrap runs the gateway through this command (its arguments follow),
	// for example unshare(1).
	Wrap []string
	// Env is added to the child's environment (SSL_CERT_FILE=...).
	Env []string
	// NoLoopbackEgress leaves out the egress allowance every other test
	// gateway gets (egress.allow: loopback, where the suite's S3 and GCS
	// servers, Azurite and webhook receivers listen), so that the
	// gateway's default policy applies (TestSecuritySSRF...).
	NoLoopbackEgress bool
}

// loopbackEgress lets a test gateway reach the suite's servers on
// loopback, which the default egress policy refuses.
const loopbackEgress = "egress: {allow: [127.0.0.0/8, '::1/128']}\n"

// freeRTPRange returns a range of RTP ports that is unlikely to be used by
// other tests running at the same time; the port pool skips ports that are
// taken anyway.
func freeRTPRange(n int) (lo, hi int) {
	lo = 30000 + 2*rand.IntN(12000)
	return lo, lo + n - 1
}

// startGateway starts the gateway binary and waits until /healthz answers.
func startGateway(t *testing.T, o gwOptions) *gwProc {
	t.Helper()
	p := &gwProc{t: t, dataDir: o.DataDir, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	if p.dataDir == "" {
		p.dataDir = t.TempDir()
	}
	if o.Ports != nil {
		p.sipPort, p.httpPort, p.rtpLo, p.rtpHi = o.Ports.sipPort, o.Ports.httpPort, o.Ports.rtpLo, o.Ports.rtpHi
	} else {
		p.sipPort, p.httpPort = testenv.FreePort(t), testenv.FreePort(t)
		p.rtpLo, p.rtpHi = freeRTPRange(cmp.Or(o.RTPPorts, 400))
	}
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: %s}
sip:
  listen: 127.0.0.1:%d
%s
http:
  listen: 127.0.0.1:%d
%s
rtp: {address: 127.0.0.1, ports: %d-%d}
shutdown: {timeout: %s}
`, p.dataDir, cmp.Or(o.LogLevel, "debug"), p.sipPort, indent(o.SIP, "  "), p.httpPort, indent(o.HTTP, "  "), p.rtpLo, p.rtpHi, cmp.Or(o.ShutdownTimeout, 20*time.Second))
	if !o.NoLoopbackEgress {
		cfg += loopbackEgress
	}
	cfg += o.Config
	p.cfgPath = filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(p.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-config", p.cfgPath}, o.Args...)
	if len(o.Wrap) > 0 {
		args = append(append(o.Wrap[1:len(o.Wrap):len(o.Wrap)], gatewayBin), args...)
		p.cmd = exec.Command(o.Wrap[0], args...)
	} else {
		p.cmd = exec.Command(gatewayBin, args...)
	}
	p.cmd.Dir = p.dataDir
	p.cmd.Env = append(os.Environ(), o.Env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("gateway stderr (last 8 KB):\n%s", tail(p.stderr.String(), 8<<10))
		} else if os.Getenv("GATEWAY_TEST_LOG") != "" {
			t.Logf("gateway stderr:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("the gateway exited at start: %v\nstderr:\n%s", p.waitErr, p.stderr.String())
		default:
		}
		res, err := http.Get(p.url("/healthz"))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not become healthy\nstderr:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (p *gwProc) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.httpPort, path)
}

func (p *gwProc) sipAddr() string { return fmt.Sprintf("127.0.0.1:%d", p.sipPort) }

// stop sends SIGTERM and waits for a graceful exit.
func (p *gwProc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.t.Fatal("the gateway did not stop within 60 s of SIGTERM")
	}
	if p.waitErr != nil {
		p.t.Fatalf("the gateway exited with %v after SIGTERM", p.waitErr)
	}
}

// kill sends SIGKILL: a crash.
func (p *gwProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// runGateway runs the binary to completion (for configurations it must
// refuse) and returns its exit code and output.
func runGateway(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewayBin, args...)
	cmd.Dir = t.TempDir()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

// httpGet returns the body of a GET.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// metricValue returns the value of the sample of /metrics whose name and
// labels are given as written ("voicegw_calls_total{reason=\"\",result=\"accepted\"}"),
// 0 when absent.
func (p *gwProc) metric(t *testing.T, sample string) float64 {
	t.Helper()
	_, body := httpGet(t, p.url("/metrics"))
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, sample+" ") {
			var v float64
			if _, err := fmt.Sscanf(line[len(sample)+1:], "%g", &v); err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// waitMetric waits up to 5 s for a sample of /metrics to reach want (a
// refusal is counted just after its answer is sent) and fails with the
// value it has.
func (p *gwProc) waitMetric(t *testing.T, sample string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := p.metric(t, sample)
		if v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", sample, v, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sippDir returns a working directory for sipp holding the scenarios'
// relative files (media/, rtp_helper.xml).
func sippDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// httpGetKey is httpGet with an Insights API key.
func httpGetKey(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Vgai-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// indent puts prefix before every line of s.
func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
