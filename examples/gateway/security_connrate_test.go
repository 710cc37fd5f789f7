package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/sip"
)

// TestSecurityConnectRate attacks SIP over TLS with a handshake flood:
// one source (127.0.0.2) connects, completes or starts a TLS handshake and
// closes, from four goroutines, as fast as it can for 3 s. Without a
// limit each connection costs the gateway an ECDHE exchange and a
// signature, and the per-source cap (128 open) never applies since none
// stays open. With sip.tcp.new_conn_rate at its default (10 a second
// after a burst of 20), the source gets at most the burst and the rate's
// handshakes; every other connection is closed at accept, counted in
// voicegw_sip_connections_refused_total{reason="over_rate"} (exactly the
// connections the attacker saw refused) and logged once. Meanwhile a
// SIPREC call over TLS with SRTP from another source (127.0.0.1, the same
// host) is answered and recorded; after the flood the attacking source
// gets a handshake again (throttled, not banned). A plain TCP connect
// flood from a third source is held to the rate alike. The gateway then
// takes a call and is back to its baseline of files, threads and
// goroutines.
func TestSecurityConnectRate(t *testing.T) {
	requireLinux(t)
	bucket := t.TempDir()
	tlsPort := testenv.FreePort(t)
	sipCfg := fmt.Sprintf("default_account: victim\nallowlist: [%s]\ntcp: {message_timeout: 3s}\ntransports: [udp, tcp, tls]\ntls: {listen: 127.0.0.1:%d}",
		secTransportAllow, tlsPort)
	gw := startGateway(t, gwOptions{SIP: sipCfg, HTTP: "pprof: true", RTPPorts: 40, Config: securityAccounts(bucket, true)})
	victim := &recorded{bucket: bucket, seen: map[string]bool{}}
	legitCall(t, gw, victim)
	base := gw.resources(t)
	addr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	const metric = `voicegw_sip_connections_refused_total{reason="over_rate"}`
	if v := gw.metric(t, metric); v != 0 {
		t.Fatalf("%s = %v before the attack", metric, v)
	}
	handshake := func(ip string) error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		defer c.Close()
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // the attacker trusts anything
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		return tc.Handshake()
	}

	// the flood, and a SIPREC call over TLS from another source during it
	var attempts, completed, dialFailed atomic.Int64
	ctx, stop := context.WithTimeout(t.Context(), 3*time.Second)
	defer stop()
	cpu0, start := processCPU(t, gw.cmd.Process.Pid), time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil && attempts.Load() < 20000 {
				err := handshake("127.0.0.2")
				switch {
				case err == nil:
					completed.Add(1)
				case strings.HasPrefix(err.Error(), "dial:"): // the client's ports in TIME_WAIT: not an attempt
					dialFailed.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				attempts.Add(1)
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // the flood under way
	certFile := filepath.Join(gw.dataDir, "tls", "cert.pem")
	callCtx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, callErr := exec.CommandContext(callCtx, siprecClient(t), "-srs", "sips:"+addr, "-tls-ca", certFile,
		"-user", "sbc", "-password", secVictimPassword, "-duration", "1s").CombinedOutput()
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU(t, gw.cmd.Process.Pid)-cpu0
	gw.alive(t)
	if callErr != nil {
		t.Fatalf("a SIPREC call over TLS from another source during the flood: %v\n%s", callErr, out)
	}
	p := decodeWAV(t, victim.next(t))
	checkTone(t, "call over TLS during the flood", p, 0, 440, 880, 200*time.Millisecond, 800*time.Millisecond)
	checkTone(t, "call over TLS during the flood", p, 1, 880, 440, 200*time.Millisecond, 800*time.Millisecond)

	n, ok := attempts.Load(), completed.Load()
	t.Logf("one source, %s of TLS connect-handshake-close: %d connections (%d dials failed on the client), %d handshakes completed; "+
		"the gateway used %s of CPU (%.0f µs per connection)", elapsed.Round(time.Millisecond), n, dialFailed.Load(), ok,
		cpu, float64(cpu.Microseconds())/float64(max(n, 1)))
	if n < 200 {
		t.Fatalf("only %d connections in %s: the flood did not flood (the test proves nothing)", n, elapsed)
	}
	// the burst, and what the rate earned while the flood lasted
	within := int64(sip.DefaultNewConnBurst + sip.DefaultNewConnRate*elapsed.Seconds() + 1)
	if ok > within {
		t.Fatalf("%d handshakes completed in %s, want at most %d (burst %d, %d a second)", ok, elapsed, within, sip.DefaultNewConnBurst, sip.DefaultNewConnRate)
	}
	gw.waitMetric(t, metric, float64(n-ok)) // every refusal counted, and only those
	if lines := strings.Count(gw.stderr.String(), "connection rate limit reached"); lines != 1 {
		t.Fatalf("%d log lines for %d refused connections, want 1 (at most one a minute)", lines, n-ok)
	}

	// throttled, not banned: the bucket refills
	time.Sleep(time.Second)
	if err := handshake("127.0.0.2"); err != nil {
		t.Fatalf("the attacking source, a second after its flood: %v", err)
	}

	// plain TCP: 300 connections from another source, held open; those
	// past the burst and the rate are closed at once (the others wait for
	// sip.tcp.message_timeout, 3 s)
	refusedBefore := gw.metric(t, metric)
	start = time.Now()
	conns := dialMany(t, gw, "127.0.0.4", 300)
	elapsed = time.Since(start)
	closed := closedBy(conns, time.Second)
	within = int64(sip.DefaultNewConnBurst + sip.DefaultNewConnRate*(elapsed+time.Second).Seconds() + 1)
	t.Logf("one source, 300 TCP connections in %s: %d closed at accept", elapsed.Round(time.Millisecond), closed)
	if int64(closed) < 300-within {
		t.Fatalf("%d of 300 TCP connections closed at accept, want at least %d", closed, 300-within)
	}
	gw.waitMetric(t, metric, refusedBefore+float64(closed))
	survives(t, gw, victim, base)
}

// processCPU is the CPU time (user and system) the process pid has used.
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// the fields after the command name (in parentheses, which may hold spaces)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / userHZ
}

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ: 100 on
// every Linux architecture the tests run on).
const userHZ = 100
