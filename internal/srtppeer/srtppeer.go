// Package srtppeer runs an SRTP peer built on libsrtp2, the reference
// implementation, through Debian's python3-pylibsrtp: the independent end
// of the SRTP tests of media, siprec and the examples (pion/srtp on both
// ends would prove nothing). The protocol of the peer (one JSON request on
// stdin, JSON lines on stdout) is described in srtp_peer.py.
package srtppeer

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/internal/testenv"
)

// Python is Debian's python3, where python3-pylibsrtp lives (not a pyenv
// one earlier on PATH).
const Python = "/usr/bin/python3"

//go:embed srtp_peer.py
var script []byte

// Require skips t (fails it under CI=true) when libsrtp for Python is not
// installed.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Python); err != nil {
		testenv.Missing(t, "python3 with libsrtp2 (Debian package python3-pylibsrtp)", "apt-get install -y python3-pylibsrtp")
	}
	if out, err := exec.Command(Python, "-c", "import pylibsrtp").CombinedOutput(); err != nil {
		testenv.Missing(t, "libsrtp2 for Python (Debian package python3-pylibsrtp): "+strings.TrimSpace(string(out)), "apt-get install -y python3-pylibsrtp")
	}
}

// Script writes the peer's script into a temporary directory of t and
// returns its path.
func Script(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "srtp_peer.py")
	if err := os.WriteFile(p, script, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Peer is one run of the peer.
type Peer struct {
	cmd   *exec.Cmd
	stdin interface{ Write([]byte) (int, error) }
	out   *bufio.Scanner
}

// Start runs the peer with request req (marshalled to JSON); it is killed
// when t ends.
func Start(t testing.TB, req any) *Peer {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Python, Script(t))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logWriter{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if _, err := stdin.Write(append(body, '\n')); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	return &Peer{cmd: cmd, stdin: stdin, out: sc}
}

// Send writes one more JSON line to the peer (the key of a "recv" request
// started without one).
func (p *Peer) Send(t testing.TB, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
}

// Read decodes the peer's next JSON line into v.
func (p *Peer) Read(t testing.TB, v any) {
	t.Helper()
	if !p.out.Scan() {
		t.Fatalf("libsrtp peer ended without an answer: %v", p.out.Err())
	}
	if err := json.Unmarshal(p.out.Bytes(), v); err != nil {
		t.Fatalf("libsrtp peer said %q: %v", p.out.Text(), err)
	}
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Logf("srtp_peer.py: %s", bytes.TrimSpace(b))
	return len(b), nil
}
