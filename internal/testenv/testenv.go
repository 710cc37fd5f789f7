// Package testenv helps tests find the external tools they talk to (sipp,
// lame, sox, azurite) and free loopback ports.
//
// A test whose tool is missing is skipped with a message naming the package
// that provides it, so plain `go test ./...` stays usable on any machine;
// under CI=true the same test fails instead, so CI can never pass by skipping.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// InCI reports whether the tests run under CI (environment CI=true).
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// Missing skips t (or fails it under CI) because what is named is not
// available; install says how to get it.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	msg := what + " is not available; install it with: " + install + " (or run ./scripts/test.sh)"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// RequireTool returns the path of command name, or skips/fails t naming the
// install command, for example RequireTool(t, "sipp", "apt-get install -y sip-tester").
func RequireTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "command "+strconv.Quote(name), install)
	}
	return p
}

// Short skips t under `go test -short` with the reason given.
func Short(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: " + why)
	}
}

// FreePort returns a port number on 127.0.0.1 that is free for both UDP and
// TCP at the time of the call. It is meant for external programs (sipp) that
// need a port number up front; Go code listens on port 0 instead.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = tl.Close()
		if err != nil {
			continue
		}
		_ = ul.Close()
		return port
	}
	t.Fatal("free port: no port free for both UDP and TCP after 50 tries")
	return 0
}

// FreeUDPPortPair returns an even port p on 127.0.0.1 such that p and p+1 are
// free for UDP (an RTP/RTCP pair), for external programs such as sipp -mp.
func FreeUDPPortPair(t testing.TB) int {
	t.Helper()
	for range 100 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port pair: %v", err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		_ = c.Close()
		p &^= 1
		if p < 1024 {
			continue
		}
		ok := true
		for _, q := range []int{p, p + 1, p + 2, p + 3} {
			c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(q)))
			if err != nil {
				ok = false
				break
			}
			_ = c.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("free port pair: none found after 100 tries")
	return 0
}
