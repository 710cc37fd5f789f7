package main

// The security suite of issue 14: each attack the issue reproduced (and a
// few more) replayed on loopback against the built gateway binary, as
// configured by an operator, asserting the refusal and the survival: the
// process is alive, a legitimate call is still accepted and recorded, and
// its files, threads and goroutines are back to their baseline. SECURITY.md
// lists the threats, the defences and these tests. Most subtests share one
// gateway (TestSecurity); those that need a process of their own (a lowered
// file size limit, a tiny disk, a 300-call soak) have their own test.

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// Secrets of the suite's accounts, searched for in logs and state files.
const (
	secVictimPassword  = "victim-Sip-Password-7c1e"
	secOtherPassword   = "other-Sip-Password-91ab"
	secLicensedPass    = "licensed-Sip-Password-3d"
	secVaultPassword   = "vault-Sip-Password-5e0f2"
	secWebhookSecret   = "whsec-vault-Webhook-Secret-8a4b"
	secBucketSecret    = "vaultBucketSecretAccessKey0123456789"
	secKeptKey         = "kept-insights-key-0123456789"
	secRemovedKey      = "removed-insights-key-0123456789"
	secTransportAllow  = "127.0.0.1-127.0.0.9" // sip.allowlist of the suite
	secOutsideEveryone = "127.0.0.66"          // outside sip.allowlist
)

// securityAccounts is the suite's configuration: victim (allowlist
// 127.0.0.1 and .3, the default account), other (another tenant, no
// allowlist), licensed (one licensed session), vault (secrets only).
func securityAccounts(bucket string, withRemovedKey bool) string {
	keys := fmt.Sprintf(`[{name: kept, secret: %s}]`, secKeptKey)
	if withRemovedKey {
		keys = fmt.Sprintf(`[{name: kept, secret: %s}, {name: removed, secret: %s}]`, secKeptKey, secRemovedKey)
	}
	return fmt.Sprintf(`
limiter: {lease_ttl: 10s}
recording: {retry_interval: 1s}
accounts:
  - name: victim
    sip_realm: victim.test
    sip: {users: [{username: sbc, password: %s}], allowlist: [127.0.0.1, 127.0.0.3]}
    recording: {enabled: true, format: wav, record_all_calls: true, bucket: {vendor: file, file: {dir: %s}}}
    api_keys: %s
  - name: other
    sip_realm: other.test
    sip: {users: [{username: intruder, password: %s}]}
    recording: {enabled: true, record_all_calls: true, bucket: {vendor: memory}}
  - name: licensed
    sip_realm: licensed.test
    licensed_sessions: 1
    sip: {users: [{username: sbc, password: %s}]}
    recording: {enabled: true, record_all_calls: true, bucket: {vendor: memory}}
  - name: vault
    sip_realm: vault.test
    sip: {users: [{username: sbc, password: %s}]}
    webhook_secret: %s
    session_webhook: http://127.0.0.1:9/hooks
    recording:
      enabled: false
      bucket: {vendor: s3-compatible, s3_compatible: {endpoint: "http://127.0.0.1:9", path_style: true, bucket: recs, access_key_id: AKIAIOSFODNN7EXAMPLE, secret_access_key: %s}}
`, secVictimPassword, bucket, keys, secOtherPassword, secLicensedPass, secVaultPassword, secWebhookSecret, secBucketSecret)
}

// secSIP is the suite's sip mapping. The per-source rate of new connections is off (new_conn_rate: -1): the
// floods of these tests measure the other defences, which the rate would
// reach first; TestSecurityConnectRate attacks it, at its default.
const secSIP = `default_account: victim
allowlist: [` + secTransportAllow + `]
tcp: {message_timeout: 3s, new_conn_rate: -1}`

// TestSecurity runs issue 14's attacks against one gateway.
func TestSecurity(t *testing.T) {
	requireLinux(t)
	bucket := t.TempDir()
	opts := gwOptions{SIP: secSIP, HTTP: "pprof: true", RTPPorts: 40, Config: securityAccounts(bucket, true)}
	gw := startGateway(t, opts)
	victim := &recorded{bucket: bucket, seen: map[string]bool{}}

	// warm up (SQLite pools, the poller's workers, sipgo's transports), then
	// the baseline every attack must come back to
	legitCall(t, gw, victim)
	base := gw.resources(t)
	t.Logf("baseline after one call: %s", base)

	t.Run("1 connection flood", func(t *testing.T) { connectionFlood(t, gw, victim, base) })
	t.Run("2 RTP hijack", func(t *testing.T) { rtpHijack(t, gw, victim, base) })
	t.Run("3 RTP timestamp inflation", func(t *testing.T) { timestampInflation(t, gw, victim, base) })
	t.Run("4 another tenant in the dialog", func(t *testing.T) { otherTenantInDialog(t, gw, victim, base) })
	t.Run("5 digest replay without qop", func(t *testing.T) { digestReplay(t, gw, victim, base) })
	t.Run("6 logs", func(t *testing.T) { logsBounded(t, gw, victim, base) })
	t.Run("7 reflection amplification", func(t *testing.T) { amplification(t, gw, victim, base) })
	t.Run("8 size limits", func(t *testing.T) { sizeLimits(t, gw, victim, base) })
	t.Run("9 insights at the clause limit", func(t *testing.T) { insightsClauseLimit(t, gw) })
	t.Run("10 API keys", func(t *testing.T) { apiKeys(t, gw) })
	t.Run("11 secrets at rest", func(t *testing.T) { secretsAtRest(t, gw) })
	t.Run("12 licence whose release failed", func(t *testing.T) { failedRelease(t, gw, victim, base) })
	t.Run("10 key removed from the configuration", func(t *testing.T) {
		gw.stop()
		opts.DataDir, opts.Ports, opts.Config = gw.dataDir, gw, securityAccounts(bucket, false)
		gw2 := startGateway(t, opts)
		removed, _ := keyAnswer(t, gw2, "127.0.0.1", secRemovedKey)
		unknown, _ := keyAnswer(t, gw2, "127.0.0.1", "never-issued-key-0123456789")
		kept, _ := keyAnswer(t, gw2, "127.0.0.1", secKeptKey)
		if kept != "200" || removed != unknown || !strings.HasPrefix(removed, "401") {
			t.Fatalf("after the restart: kept key %q, removed key %q, a key never issued %q; want 200 and the same 401 for both", kept, removed, unknown)
		}
		legitCall(t, gw2, victim)
	})
}

func requireLinux(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("the security suite reads the gateway's resources from Linux's /proc")
	}
}

// recorded follows the recordings of the victim account's bucket.
type recorded struct {
	bucket string
	seen   map[string]bool
}

// next waits for a recording not seen before and returns its path.
func (r *recorded) next(t *testing.T) string {
	t.Helper()
	var path string
	waitFor(t, 20*time.Second, "a new recording in the bucket", func() bool {
		for key, p := range recordings(t, r.bucket) {
			if !r.seen[key] {
				r.seen[key], path = true, p
				return true
			}
		}
		return false
	})
	return path
}

// legitCall places a 1 s call with examples/siprec-client (digest over TCP,
// to the gateway's address: the victim account) and checks its recording:
// 440 Hz on the left, 880 Hz on the right.
func legitCall(t *testing.T, gw *gwProc, r *recorded) {
	t.Helper()
	gw.alive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := runClient(ctx, t, gw, "-user", "sbc", "-password", secVictimPassword, "-duration", "1s").CombinedOutput()
	if err != nil {
		t.Fatalf("a legitimate call (siprec-client): %v\n%s", err, out)
	}
	p := decodeWAV(t, r.next(t))
	if len(p.channels) != 2 {
		t.Fatalf("the legitimate call's recording has %d channels", len(p.channels))
	}
	checkTone(t, "legitimate call", p, 0, 440, 880, 200*time.Millisecond, 800*time.Millisecond)
	checkTone(t, "legitimate call", p, 1, 880, 440, 200*time.Millisecond, 800*time.Millisecond)
}

// survives is the end of every attack: alive, a call accepted and
// recorded, resources back to the baseline.
func survives(t *testing.T, gw *gwProc, r *recorded, base resources) {
	t.Helper()
	legitCall(t, gw, r)
	got := gw.backToBaseline(t, base)
	t.Logf("after the attack: %s (baseline %s)", got, base)
}

// closedBy waits until the gateway closed the connections, or d passed; it
// returns how many it closed.
func closedBy(conns []net.Conn, d time.Duration) int {
	deadline := time.Now().Add(d)
	var closed atomic.Int64
	done := make(chan struct{}, len(conns))
	for _, c := range conns {
		go func() {
			_ = c.SetReadDeadline(deadline)
			_, err := c.Read(make([]byte, 1))
			if ne, ok := err.(net.Error); err != nil && !(ok && ne.Timeout()) {
				closed.Add(1)
			}
			done <- struct{}{}
		}()
	}
	for range conns {
		<-done
	}
	return int(closed.Load())
}

func dialMany(t *testing.T, gw *gwProc, ip string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	for range n {
		c, err := d.Dial("tcp", gw.sipAddr())
		if err != nil {
			t.Fatalf("connection from %s: %v", ip, err)
		}
		conns = append(conns, c)
	}
	return conns
}

// connectionFlood is item 1. One source opens 600 idle connections: the
// per-source cap (128) closes the rest at accept, and a call is taken
// during the flood. A source outside sip.allowlist has its connections
// closed at accept and its datagrams unanswered. Six sources then open 768
// connections under a soft limit of 256 open files (prlimit on the
// process): accept fails with "too many open files", the gateway survives
// it, closes every idle connection after sip.tcp.message_timeout (3 s),
// and takes calls again.
func connectionFlood(t *testing.T, gw *gwProc, r *recorded, base resources) {
	one := dialMany(t, gw, "127.0.0.2", 600)
	if closed := closedBy(one, time.Second); closed < 600-128 {
		t.Fatalf("one source opened 600 connections: %d closed at accept, want at least the %d over the cap", closed, 600-128)
	}
	legitCall(t, gw, r) // during the flood
	t.Logf("one source, 600 connections: at most 128 held; a call accepted and recorded meanwhile")

	outside := dialMany(t, gw, secOutsideEveryone, 50)
	if closed := closedBy(outside, 2*time.Second); closed != 50 {
		t.Fatalf("%d of 50 connections from outside sip.allowlist closed at accept", closed)
	}
	u := dialSIP(t, gw, secOutsideEveryone, "udp")
	d := newDialog(t, u, "other.test", "", "", 1)
	u.send(d.inviteMsg("application/sdp", sdpOffer(secOutsideEveryone, d.ports(), "sendonly", 1), ""))
	if m := u.response("1 INVITE", time.Second); m != nil {
		t.Fatalf("an answer to a datagram from outside sip.allowlist: %s", m)
	}

	// many sources, under a lowered soft limit (the hard one is kept, so
	// the limit can be given back without privilege)
	pid := gw.cmd.Process.Pid
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	low := unix.Rlimit{Cur: 256, Max: old.Max}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			_ = unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil)
		}
	}
	defer restore()
	var many []net.Conn
	for i := 4; i <= 9; i++ {
		many = append(many, dialMany(t, gw, fmt.Sprintf("127.0.0.%d", i), 128)...)
	}
	time.Sleep(300 * time.Millisecond)
	gw.alive(t)
	if n := gw.resources(t).fds; n > 256 {
		t.Fatalf("%d files open under a soft limit of 256", n)
	}
	closed := closedBy(append(one, many...), 30*time.Second)
	restore()
	if closed != len(one)+len(many) {
		t.Fatalf("%d of %d idle connections closed by the gateway", closed, len(one)+len(many))
	}
	if !strings.Contains(gw.stderr.String(), "too many open files") {
		t.Fatalf("the flood did not exhaust the open files (the test proves nothing)")
	}
	t.Logf("768 connections from 6 sources under a limit of 256 files: the gateway survived the accept errors and closed every idle connection")
	survives(t, gw, r, base)
}

// rtpHijack is item 2: an attacker blasts PCMU at 1 kHz at every even port
// of the gateway's RTP range, from another address and from the client's
// own address (another port), before and during a call. The recording
// holds the client's tones on both channels, not the attacker's.
func rtpHijack(t *testing.T, gw *gwProc, r *recorded, base resources) {
	b := blast(t, []string{"127.0.0.2", "127.0.0.1"}, gw.rtpLo, gw.rtpHi, 50, 1000)
	defer b.halt()
	time.Sleep(300 * time.Millisecond) // before the call
	p := dialSIP(t, gw, "127.0.0.1", "tcp")
	d := newDialog(t, p, "victim.test", "sbc", secVictimPassword, 2)
	d.mustStart(t)
	d.sendAudio(context.Background(), 2*time.Second, nil)
	d.bye(t)
	sent := b.halt()
	rec := decodeWAV(t, r.next(t))
	checkTone(t, "hijacked call", rec, 0, 440, 1000, 300*time.Millisecond, 1700*time.Millisecond)
	checkTone(t, "hijacked call", rec, 1, 880, 1000, 300*time.Millisecond, 1700*time.Millisecond)
	t.Logf("the attacker sent %d RTP packets to the range; the recording holds the client's tones", sent)
	survives(t, gw, r, base)
}

// timestampInflation is item 3: the client's streams advance their RTP
// timestamps by a second per 20 ms packet (500 packets as fast as it can).
// The recording is no longer than the call (it was 900 times longer).
func timestampInflation(t *testing.T, gw *gwProc, r *recorded, base resources) {
	p := dialSIP(t, gw, "127.0.0.1", "tcp")
	d := newDialog(t, p, "victim.test", "sbc", secVictimPassword, 2)
	d.mustStart(t)
	tones := []*tone{newTone(440), newTone(880)}
	for _, tn := range tones {
		tn.tsPerPkt = 8000
	}
	for range 500 {
		for i, c := range d.rtp {
			_, _ = c.WriteToUDPAddrPort(tones[i].next(), d.media[i])
		}
		time.Sleep(time.Millisecond)
	}
	d.bye(t)
	wall := d.stopped.Sub(d.started)
	rec := decodeWAV(t, r.next(t))
	t.Logf("500 packets claiming 500 s in %s: a recording of %s", wall, rec.duration())
	// the bound: the wall clock plus the recorder's window (1.024 s)
	if rec.duration() > wall+1100*time.Millisecond {
		t.Fatalf("the recording holds %s for a call of %s", rec.duration(), wall)
	}
	survives(t, gw, r, base)
}

// otherTenantInDialog is item 4: with a session's Call-ID and tags, another
// tenant sends a re-INVITE a=inactive and a BYE, addressed to its own
// realm: from outside the session's account allowlist (403), and from an
// allowed address with its own valid credentials (refused). The session
// goes on unpaused, and ends with its own BYE.
func otherTenantInDialog(t *testing.T, gw *gwProc, r *recorded, base resources) {
	p := dialSIP(t, gw, "127.0.0.1", "tcp")
	d := newDialog(t, p, "victim.test", "sbc", secVictimPassword, 2)
	d.mustStart(t)
	ctx, cancel := context.WithCancel(context.Background())
	audio := make(chan struct{})
	go func() { defer close(audio); d.sendAudio(ctx, 4*time.Second, nil) }()
	defer func() { cancel(); <-audio }()

	inactive := sdpOffer("127.0.0.1", d.ports(), "inactive", 2)
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		a := dialSIP(t, gw, from, "tcp")
		for _, method := range []string{"INVITE", "BYE"} {
			ctype, body := "", ""
			if method == "INVITE" {
				ctype, body = "application/sdp", inactive
			}
			a.send(d.inDialog(method, "sip:srs@other.test", ctype, body, ""))
			res := a.mustResponse(fmt.Sprintf("%d %s", d.cseq, method))
			if res.status == 407 { // answer with the other tenant's own credentials
				if method == "INVITE" {
					d.ackFrom(a, res)
				}
				auth := digest(t, res, method, "sip:srs@other.test", "intruder", secOtherPassword, false)
				a.send(d.inDialog(method, "sip:srs@other.test", ctype, body, auth))
				res = a.mustResponse(fmt.Sprintf("%d %s", d.cseq, method))
			}
			// 403, or a fresh challenge: the other tenant's user is no
			// user of the session's account
			if res.status < 400 {
				t.Fatalf("%s from %s (another tenant): %s", method, from, res)
			}
			if method == "INVITE" {
				d.ackFrom(a, res)
			}
			t.Logf("%s from %s (another tenant, to its own realm): %d", method, from, res.status)
		}
	}
	if v := gw.metric(t, "voicegw_sessions_active"); v != 1 {
		t.Fatalf("%v sessions active after the attack, want the victim's", v)
	}
	<-audio
	d.bye(t)
	wall := d.stopped.Sub(d.started)
	rec := decodeWAV(t, r.next(t))
	if rec.duration() < wall-time.Second {
		t.Fatalf("a recording of %s for a call of %s", rec.duration(), wall)
	}
	// the audio after the attack is there: not paused
	checkTone(t, "attacked call", rec, 0, 440, 880, 2500*time.Millisecond, 3500*time.Millisecond)
	checkTone(t, "attacked call", rec, 1, 880, 440, 2500*time.Millisecond, 3500*time.Millisecond)
	survives(t, gw, r, base)
}

// ackFrom acknowledges a non-2xx answer to an in-dialog INVITE from peer a.
func (d *dialog) ackFrom(a *sipPeer, res *sipMsg) {
	a.send("ACK " + d.target + " SIP/2.0\r\n" +
		fmt.Sprintf("Via: SIP/2.0/TRANSPORT LOCAL;branch=z9hG4bK-%016x\r\n", rand.Uint64()) +
		"Max-Forwards: 70\r\nFrom: " + res.hdr("from") + "\r\nTo: " + res.hdr("to") + "\r\nCall-ID: " + d.callID + "\r\n" +
		"CSeq: " + strings.Fields(res.hdr("cseq"))[0] + " ACK\r\nContent-Length: 0\r\n\r\n")
}

// digestReplay is item 5: a correct digest answer in the RFC 2069 form (no
// qop, so no nonce count) is refused with a fresh challenge, every time;
// the same credentials with qop=auth are accepted.
func digestReplay(t *testing.T, gw *gwProc, r *recorded, base resources) {
	u := dialSIP(t, gw, "127.0.0.5", "udp")
	d := newDialog(t, u, "other.test", "intruder", secOtherPassword, 1)
	ctype := "multipart/mixed;boundary=" + boundary
	body := siprecBody(sdpOffer("127.0.0.5", d.ports(), "sendonly", 1), metadataXML(0))
	u.send(d.inviteMsg(ctype, body, ""))
	ch := u.mustResponse("1 INVITE")
	d.ack(ch)
	auth := digest(t, ch, "INVITE", d.uri, "intruder", secOtherPassword, true)
	for i := range 4 {
		u.send(d.inviteMsg(ctype, body, auth))
		res := u.mustResponse(fmt.Sprintf("%d INVITE", d.cseq))
		d.ack(res)
		if res.status != 407 {
			t.Fatalf("qop-less answer, use %d: %s", i+1, res)
		}
	}
	// the credentials were right: with qop=auth the call is taken
	d2 := newDialog(t, dialSIP(t, gw, "127.0.0.1", "tcp"), "other.test", "intruder", secOtherPassword, 1)
	d2.mustStart(t)
	d2.bye(t)
	survives(t, gw, r, base)
}

// logsBounded is item 6: 300 KB of random datagrams, messages carrying
// digest answers that fail to parse (over UDP and TCP) and wrong passwords:
// no digest response, cnonce or nonce reaches the log, and the log grows
// by a bounded amount.
func logsBounded(t *testing.T, gw *gwProc, r *recorded, base resources) {
	before := len(gw.stderr.String())
	rng := rand.New(rand.NewPCG(14, 6))
	u := dialSIP(t, gw, "127.0.0.6", "udp")
	for u.in < 300_000 {
		b := make([]byte, 200+rng.IntN(1800))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[0] = 'X'
		u.send(string(b))
		time.Sleep(50 * time.Microsecond)
	}
	const response, cnonce = "6629fae49393a05397450978507c4ef1", "0a4f113b77f1e2d3"
	auth := `Proxy-Authorization: Digest username="intruder", realm="other.test", nonce="NONCE-SECRET-1234567890", uri="sip:srs@other.test", response="` + response + `", algorithm=MD5, cnonce="` + cnonce + `", qop=auth, nc=00000001`
	head := "INVITE sip:srs@other.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.6:5099;branch=z9hG4bK%d\r\n"
	bad := []string{
		fmt.Sprintf(head, 1) + auth + "\r\nthis line has no colon\r\n\r\n",
		fmt.Sprintf(head, 2) + "Proxy-Authorization: Digest username=\"intruder\",\r\n response=\r\n \"" + response + "\"\r\nCSeq: x\r\n\r\n",
		fmt.Sprintf(head, 3) + auth + "\r\nCSeq: 1 INVITE\r\nContent-Length: 40000\r\n\r\n" + strings.Repeat("a", 39000),
		auth + "\r\n\r\n",
	}
	for range 10 {
		for _, m := range bad {
			u.send(m)
		}
	}
	for _, m := range bad {
		c := dialSIP(t, gw, "127.0.0.6", "tcp")
		c.send(m)
		_ = c.response("", 500*time.Millisecond)
		c.close()
	}
	// wrong passwords: the gateway's nonces and the answers must not be logged
	var nonces, answers []string
	for range 3 {
		d := newDialog(t, u, "other.test", "intruder", "not-the-password", 1)
		ctype := "multipart/mixed;boundary=" + boundary
		body := siprecBody(sdpOffer("127.0.0.6", d.ports(), "sendonly", 1), metadataXML(0))
		u.send(d.inviteMsg(ctype, body, ""))
		ch := u.mustResponse("1 INVITE")
		d.ack(ch)
		a := digest(t, ch, "INVITE", d.uri, "intruder", "not-the-password", false)
		u.send(d.inviteMsg(ctype, body, a))
		res := u.mustResponse("2 INVITE")
		d.ack(res)
		for _, f := range strings.Split(a, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			switch strings.TrimPrefix(k, "Digest ") {
			case "nonce":
				nonces = append(nonces, strings.Trim(v, `"`))
			case "response", "cnonce":
				answers = append(answers, strings.Trim(v, `"`))
			}
		}
	}
	time.Sleep(time.Second)
	gw.alive(t)
	logs := gw.stderr.String()[before:]
	t.Logf("%d bytes sent, %d bytes of log (level debug)", u.in, len(logs))
	for _, s := range append(append([]string{response, cnonce, "NONCE-SECRET"}, nonces...), answers...) {
		if strings.Contains(logs, s) {
			t.Fatalf("digest material %q in the log:\n%s", s, tail(logs, 4096))
		}
	}
	if len(logs) > 96<<10 {
		t.Fatalf("%d bytes of log for %d bytes sent", len(logs), u.in)
	}
	survives(t, gw, r, base)
}

// amplification is item 7, measured over UDP: a realistic SIPREC INVITE
// (3 KB, as sipp's) without credentials gets one 407; from outside the
// account's allowlist one 403; from outside sip.allowlist nothing. Each
// within 1.5 times the bytes sent, watched for 3 s (sipgo's
// retransmissions would come at 0.5, 1.5 and 3.5 s).
func amplification(t *testing.T, gw *gwProc, r *recorded, base resources) {
	for _, c := range []struct {
		name, from, realm string
		want              int
	}{
		{"407 challenge", "127.0.0.7", "other.test", 407},
		{"403 outside the account's allowlist", "127.0.0.7", "victim.test", 403},
		{"outside sip.allowlist", secOutsideEveryone, "other.test", 0},
	} {
		u := dialSIP(t, gw, c.from, "udp")
		d := newDialog(t, u, c.realm, "", "", 2)
		u.send(d.inviteMsg("multipart/mixed;boundary="+boundary, siprecBody(sdpOffer(c.from, d.ports(), "sendonly", 1), metadataXML(1500)), ""))
		time.Sleep(3 * time.Second)
		var got []*sipMsg
		for len(u.resps) > 0 {
			got = append(got, <-u.resps)
		}
		u.mu.Lock()
		in, out := u.in, u.out
		u.mu.Unlock()
		ratio := float64(out) / float64(in)
		t.Logf("%s: %d bytes in, %d answers, %d bytes out: %.2fx", c.name, in, len(got), out, ratio)
		switch {
		case c.want == 0 && len(got) != 0:
			t.Fatalf("%s: answered %s", c.name, got[0])
		case c.want != 0 && (len(got) != 1 || got[0].status != c.want):
			t.Fatalf("%s: %d answers, want one %d", c.name, len(got), c.want)
		case ratio > 1.5:
			t.Fatalf("%s: amplification %.2fx", c.name, ratio)
		}
	}
	// An OPTIONS needs no credentials: a crafted compact one to an account
	// without an allowlist got a 200 with the capability headers, 2.4 times
	// its size.
	u := dialSIP(t, gw, "127.0.0.7", "udp")
	u.send("OPTIONS sip:other.test SIP/2.0\r\nv: SIP/2.0/UDP LOCAL;branch=z9hG4bKamp\r\nf: <sip:a@b>;tag=1\r\nt: <sip:other.test>\r\ni: amp-options\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n")
	if res := u.mustResponse("1 OPTIONS"); res.status != 200 {
		t.Fatalf("a crafted OPTIONS: %s", res)
	}
	time.Sleep(time.Second)
	u.mu.Lock()
	in, out := u.in, u.out
	u.mu.Unlock()
	t.Logf("crafted OPTIONS: %d bytes in, %d bytes out: %.2fx", in, out, float64(out)/float64(in))
	if 2*out > 3*in {
		t.Fatalf("crafted OPTIONS: amplification %.2fx", float64(out)/float64(in))
	}
	survives(t, gw, r, base)
}

// optionsMsg is an OPTIONS request with a body of n bytes.
func optionsMsg(callID string, n int) string {
	return "OPTIONS sip:victim.test SIP/2.0\r\n" +
		"Via: SIP/2.0/TRANSPORT LOCAL;branch=z9hG4bK-" + callID + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:src@example.com>;tag=1\r\nTo: <sip:victim.test>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\nContent-Type: text/plain\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", n) + strings.Repeat("x", n)
}

// sizeLimits is item 8: datagrams of 40 KB and 65,000 bytes are read whole
// and answered; a 70 KB request over TCP gets 513 and the connection goes
// on; metadata over the limit (16 KiB) gets 413 over UDP and over TCP.
func sizeLimits(t *testing.T, gw *gwProc, r *recorded, base resources) {
	u := dialSIP(t, gw, "127.0.0.1", "udp")
	for _, n := range []int{40_000, 64_700} {
		id := fmt.Sprintf("udp-%d", n)
		u.send(optionsMsg(id, n))
		if res := u.mustResponse("1 OPTIONS"); res.status != 200 {
			t.Fatalf("a datagram of %d bytes: %s", n, res)
		}
	}
	c := dialSIP(t, gw, "127.0.0.1", "tcp")
	c.send(optionsMsg("tcp-70k", 70_000) + optionsMsg("tcp-after", 0))
	if res := c.mustResponse("1 OPTIONS"); res.status != 513 || res.hdr("call-id") != "tcp-70k" {
		t.Fatalf("70 KB over TCP: %s", res)
	}
	if res := c.mustResponse("1 OPTIONS"); res.status != 200 || res.hdr("call-id") != "tcp-after" {
		t.Fatalf("the request after it on the same connection: %s", res)
	}
	for _, tr := range []string{"udp", "tcp"} {
		p := dialSIP(t, gw, "127.0.0.1", tr)
		d := newDialog(t, p, "victim.test", "sbc", secVictimPassword, 2)
		if res := d.start(t, 20_000); res.status != 413 {
			t.Fatalf("20 KB of metadata over %s: %s", tr, res)
		}
	}
	survives(t, gw, r, base)
}

// insightsClauseLimit is item 9: a search with 1,024 should clauses (the
// most a query may have) answers 200 on the gateway's SQLite index.
func insightsClauseLimit(t *testing.T, gw *gwProc) {
	q := &insights.Query{From: insights.At(time.Now().Add(-24 * time.Hour)), To: insights.At(time.Now().Add(time.Hour))}
	for i := range insights.MaxClauses {
		q.Filter.Should = append(q.Filter.Should, insights.Term("source", fmt.Sprintf("+1555%07d", i)))
	}
	q.Filter.Should[0] = insights.Term("destination", "bob@example.com")
	res, err := insights.NewClient(gw.url(""), secret.String(secKeptKey)).Search(context.Background(), q)
	if err != nil {
		t.Fatalf("a search with %d should clauses: %v", insights.MaxClauses, err)
	}
	if res.Total == 0 {
		t.Fatal("the search at the clause limit found none of the calls recorded today")
	}
}

// keyAnswer asks the Insights API with key from a source address and
// returns the status and body.
func keyAnswer(t *testing.T, gw *gwProc, from, key string) (status, body string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}}
	req, _ := http.NewRequest("GET", gw.url("/insights/sessions?from_date=2020-01-01&to_date=2020-01-02"), nil)
	req.Header.Set("X-Vgai-Key", key)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	status = strconv.Itoa(res.StatusCode)
	if ra := res.Header.Get("Retry-After"); ra != "" {
		status += " Retry-After"
	}
	return status, string(b)
}

// apiKeys is item 10: wrong keys from one source are throttled (429 with
// Retry-After after http.failed_keys' burst of 10, and then even a right
// key is not checked), while another source is not; a key that looks like
// a real one and a random one get the same answer.
func apiKeys(t *testing.T, gw *gwProc) {
	// the kept key with its last character changed, and a random key
	nearly := secKeptKey[:len(secKeptKey)-1] + "X"
	s1, b1 := keyAnswer(t, gw, "127.0.0.8", nearly)
	s2, b2 := keyAnswer(t, gw, "127.0.0.8", fmt.Sprintf("random-key-%016x", rand.Uint64()))
	if s1 != "401" || s1 != s2 || b1 != b2 {
		t.Fatalf("a key one character off: %s %q; a random key: %s %q; want the same 401", s1, b1, s2, b2)
	}
	var statuses []string
	for i := range 12 {
		s, _ := keyAnswer(t, gw, "127.0.0.8", fmt.Sprintf("guess-%d-0123456789abcdef", i))
		statuses = append(statuses, s)
	}
	if statuses[7] != "401" || statuses[len(statuses)-1] != "429 Retry-After" {
		t.Fatalf("answers to 14 wrong keys from one source: %v; want 401 then 429 with Retry-After", statuses)
	}
	if s, _ := keyAnswer(t, gw, "127.0.0.8", secKeptKey); s != "429 Retry-After" {
		t.Fatalf("the right key from a throttled source: %s, want 429 (not checked)", s)
	}
	if s, _ := keyAnswer(t, gw, "127.0.0.1", secKeptKey); s != "200" {
		t.Fatalf("the right key from another source: %s", s)
	}
}

// secretsAtRest is item 11: the state files are 0600, and no SIP
// password, webhook secret, bucket secret or API key is in clear in them
// (databases, their WAL files, the key files).
func secretsAtRest(t *testing.T, gw *gwProc) {
	var files []string
	_ = filepath.WalkDir(gw.dataDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(path, string(filepath.Separator)+"recordings"+string(filepath.Separator)) &&
			!strings.Contains(path, string(filepath.Separator)+"spool"+string(filepath.Separator)) {
			files = append(files, path)
		}
		return nil
	})
	secrets := []string{secVictimPassword, secOtherPassword, secLicensedPass, secVaultPassword, secWebhookSecret, secBucketSecret, secKeptKey, secRemovedKey}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			continue // a -shm or -journal file that came and went
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(f)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds the secret %q in clear", f, s)
			}
		}
	}
	t.Logf("%d state files checked: 0600, no secret in clear", len(files))
	if len(files) < 3 {
		t.Fatalf("only %d state files found: %v", len(files), files)
	}
}

// failedRelease is item 12, with a real failure: while the test holds an
// exclusive lock on state.db, the licence of a call that ends cannot be
// given back (the release times out); once the lock is gone, the gateway
// frees it while it runs: a call of the one-licence account is accepted
// again without a restart.
func failedRelease(t *testing.T, gw *gwProc, r *recorded, base resources) {
	p := dialSIP(t, gw, "127.0.0.1", "tcp")
	d := newDialog(t, p, "licensed.test", "sbc", secLicensedPass, 1)
	d.mustStart(t)
	d.sendAudio(context.Background(), 300*time.Millisecond, nil)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(gw.dataDir, stateDBName)+"?_pragma=busy_timeout(20000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("locking state.db: %v", err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
		}
	}
	defer unlock()
	logBefore := len(gw.stderr.String())
	d.stopped = time.Now()
	p.send(d.inDialog("BYE", d.target, "", "", ""))
	if res := p.response(fmt.Sprintf("%d BYE", d.cseq), 20*time.Second); res == nil || res.status != 200 {
		t.Fatalf("BYE while state.db is locked: %v", res)
	}
	waitFor(t, 20*time.Second, "the release to fail", func() bool {
		return strings.Contains(gw.stderr.String()[logBefore:], "releasing a licensed session failed")
	})
	unlock()
	// the limiter retries the release (every lease_ttl/3: 3.3 s here)
	var last *sipMsg
	deadline := time.Now().Add(20 * time.Second)
	for {
		d2 := newDialog(t, dialSIP(t, gw, "127.0.0.1", "tcp"), "licensed.test", "sbc", secLicensedPass, 1)
		last = d2.start(t, 0)
		if last.status == 200 {
			d2.bye(t)
			break
		}
		if last.status != 486 || time.Now().After(deadline) {
			t.Fatalf("a call of the one-licence account after the failed release: %s", last)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("the licence whose release failed was freed %s after the lock went", time.Since(d.stopped))
	survives(t, gw, r, base)
}

// TestSecuritySoak is item 13: 300 recorded calls from examples/siprec-load,
// in two rounds of 150 started within a second each; afterwards the
// gateway's open files and goroutines are back to their baseline (the
// connections to state.db were unbounded: each call end opened one), and
// the second round leaves the threads near the first's (Go keeps the
// threads a burst made parked, so threads are bounded by the burst, not
// back to the idle count; a third of a round of slack, far below one thread
// per call). SECURITY_SOAK_CALLS changes the number of calls.
func TestSecuritySoak(t *testing.T) {
	requireLinux(t)
	calls := 300
	if n, err := strconv.Atoi(os.Getenv("SECURITY_SOAK_CALLS")); err == nil && n > 1 {
		calls = n
	}
	round := calls / 2
	gw := startGateway(t, gwOptions{SIP: "default_account: soak", HTTP: "pprof: true", RTPPorts: 4*round + 200, LogLevel: "info", Config: `
accounts:
  - name: soak
    sip_realm: soak.test
    sip: {users: [{username: load, password: soak-password-1}]}
    recording: {enabled: true, record_all_calls: true, bucket: {vendor: memory}}
`})
	load := buildExample(t, "siprec-load")
	done := 0.0
	run := func(n int, rate, dur string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, load, "-srs", fmt.Sprintf("sip:%s;transport=tcp", gw.sipAddr()),
			"-calls", strconv.Itoa(n), "-rate", rate, "-duration", dur, "-user", "load", "-password", "soak-password-1").CombinedOutput()
		if err != nil {
			t.Fatalf("siprec-load: %v\n%s", err, out)
		}
		done += float64(n)
		waitFor(t, 60*time.Second, "every session to end and its recording uploaded", func() bool {
			return gw.metric(t, "voicegw_sessions_active") == 0 && gw.metric(t, "voicegw_recordings_uploaded_total") >= done
		})
		if got := gw.metric(t, `voicegw_calls_total{reason="",result="accepted"}`); got < done {
			t.Fatalf("%v of %v calls accepted\n%s", got, done, tail(string(out), 2000))
		}
	}
	run(2, "10/s", "1s")
	base := gw.resources(t)
	run(round, fmt.Sprintf("%d/s", round), "3s")
	first := gw.backToBaseline(t, resources{fds: base.fds, goroutines: base.goroutines, threads: 1 << 20})
	run(round, fmt.Sprintf("%d/s", round), "3s")
	// Threads: the Go runtime keeps the threads a burst of blocking system
	// calls made, and how many a burst makes depends on how slow the
	// machine's disk and CPU are at that moment (47 against 16 seen on a
	// loaded machine). A leak grows with the calls: one thread per call
	// would add 150 in the second round; round/3 of slack catches that
	// while a busier second burst passes.
	second := gw.backToBaseline(t, resources{fds: base.fds, goroutines: base.goroutines, threads: first.threads + round/3})
	t.Logf("%d calls in two rounds: %s after the first, %s after the second (baseline %s)", 2*round, first, second, base)
}

var builtExamples = map[string]string{}

// buildExample builds examples/NAME next to the gateway binary.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	if p, ok := builtExamples[name]; ok {
		return p
	}
	p := filepath.Join(filepath.Dir(gatewayBin), name)
	if out, err := exec.Command("go", "build", "-o", p, "../"+name).CombinedOutput(); err != nil {
		t.Fatalf("building examples/%s: %v\n%s", name, err, out)
	}
	builtExamples[name] = p
	return p
}

// TestSecurityDiskFull is item 14: the gateway's data directory is a
// tmpfs of 8 MiB (in a mount namespace of its own: unshare -rm, no
// privilege needed), filled up mid-call by a ballast file. The gateway
// ends the session with a BYE carrying a Reason, so the client can fail
// over; once the ballast is deleted, the session's document reaches the
// Insights API and its recording the bucket without a restart, and a new
// call is recorded.
func TestSecurityDiskFull(t *testing.T) {
	requireLinux(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		testenv.Missing(t, "unshare", "apt-get install -y util-linux")
	}
	if out, err := exec.Command(unshare, "-rm", "true").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("no mount namespace without privilege here (unshare -rm: %v %s): the disk-full test needs one for its tmpfs", err, out)
		if testenv.InCI() {
			t.Fatal(msg) // CI runs as root: a skip there would hide the test
		}
		t.Skip(msg)
	}
	data := t.TempDir()
	bucket := t.TempDir()
	gw := startGateway(t, gwOptions{DataDir: data, SIP: "default_account: full", HTTP: "pprof: true",
		Wrap: []string{unshare, "-rm", "sh", "-c", `mount -t tmpfs -o size=8m,mode=0700 tmpfs "$0" && exec "$@"`, data},
		Config: fmt.Sprintf(`
recording: {retry_interval: 1s}
accounts:
  - name: full
    sip_realm: full.test
    sip: {users: [{username: sbc, password: full-password-1}]}
    recording: {enabled: true, format: wav, record_all_calls: true, bucket: {vendor: file, file: {dir: %s}}}
    api_keys: [{name: k, secret: %s}]
`, bucket, secKeptKey)})
	// the gateway's view of its data directory (the tmpfs)
	root := fmt.Sprintf("/proc/%d/root%s", gw.cmd.Process.Pid, data)
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil || st.Blocks*uint64(st.Bsize) > 16<<20 {
		t.Fatalf("the data directory is not the small tmpfs: %v, %d bytes", err, st.Blocks*uint64(st.Bsize))
	}

	p := dialSIP(t, gw, "127.0.0.1", "tcp")
	d := newDialog(t, p, "full.test", "sbc", "full-password-1", 2)
	d.mustStart(t)
	ctx, cancel := context.WithCancel(context.Background())
	audio := make(chan struct{})
	go func() { defer close(audio); d.sendAudio(ctx, 20*time.Second, nil) }()
	defer func() { cancel(); <-audio }()
	time.Sleep(time.Second)

	// the disk fills up
	ballast := filepath.Join(root, "ballast")
	f, err := os.OpenFile(ballast, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break // ENOSPC
		}
	}
	f.Close()
	bye := p.request(15 * time.Second)
	if bye == nil || bye.method != "BYE" {
		t.Fatalf("no BYE from the gateway within 15 s of the disk filling up: %v", bye)
	}
	p.answer(bye, 200, "OK")
	cancel()
	<-audio
	reason := bye.hdr("reason")
	t.Logf("the gateway's BYE: Reason: %s", reason)
	if !strings.Contains(reason, "SIP") || !strings.Contains(reason, "cause=") {
		t.Fatalf("the BYE has no Reason header with a cause: %s", bye)
	}
	time.Sleep(2 * time.Second) // a few retry rounds on a full disk

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	// without a restart: the document, then the recording
	var doc *insights.Session
	waitFor(t, 30*time.Second, "the session's document", func() bool {
		q := &insights.Query{From: insights.At(time.Now().Add(-24 * time.Hour)), To: insights.At(time.Now().Add(time.Hour))}
		res, err := insights.NewClient(gw.url(""), secret.String(secKeptKey)).Search(context.Background(), q)
		if err != nil || len(res.Hits) == 0 {
			return false
		}
		doc, err = res.Hits[0].Session()
		return err == nil && doc.Status == insights.StatusEnded
	})
	waitFor(t, 30*time.Second, "the recording in the bucket", func() bool { return len(recordings(t, bucket)) == 1 })
	t.Logf("after the disk had room again: document %s (status %s), recording uploaded", doc.ID, doc.Status)
	// and calls are recorded again
	d2 := newDialog(t, dialSIP(t, gw, "127.0.0.1", "tcp"), "full.test", "sbc", "full-password-1", 2)
	d2.mustStart(t)
	d2.sendAudio(context.Background(), time.Second, nil)
	d2.bye(t)
	waitFor(t, 30*time.Second, "the next call's recording", func() bool { return len(recordings(t, bucket)) == 2 })
}

// TestSecurityRefusedFloodLogs: 2,000 crafted INVITEs from a source inside
// sip.allowlist but outside the victim account's allowlist, each refused
// with 403 by the SIP guard, carrying digest material. Before the Guard's
// lines went through sip.NewLogFilter each wrote ~430 bytes of log (860 KB
// for 330 KB sent); now each kind of line is written a bounded number of
// times a minute, the digest material never, and the gateway still answers
// (a 403 to the last one, a legitimate call recorded).
func TestSecurityRefusedFloodLogs(t *testing.T) {
	requireLinux(t)
	bucket := t.TempDir()
	gw := startGateway(t, gwOptions{SIP: secSIP, HTTP: "pprof: true", RTPPorts: 40, Config: securityAccounts(bucket, true)})
	victim := &recorded{bucket: bucket, seen: map[string]bool{}}
	legitCall(t, gw, victim)
	base := gw.resources(t)

	const flood = 2000
	const nonce, response = "FLOOD-NONCE-5d1c0e", "f1f2f3f4f5f6f7f8f9f0e1e2e3e4e5e6"
	invite := func(i int) string {
		return fmt.Sprintf("INVITE sip:srs@victim.test SIP/2.0\r\nv: SIP/2.0/UDP LOCAL;branch=z9hG4bKflood%d\r\n"+
			"f: <sip:a@b>;tag=1\r\nt: <sip:srs@victim.test>\r\ni: flood-%d\r\nCSeq: 1 INVITE\r\n"+
			`Proxy-Authorization: Digest username="sbc", realm="victim.test", nonce="`+nonce+`", uri="sip:srs@victim.test", response="`+response+`"`+
			"\r\nl: 0\r\n\r\n", i, i)
	}
	u := dialSIP(t, gw, "127.0.0.2", "udp")
	before := len(gw.stderr.String())
	var answered int
	for i := range flood {
		u.send(invite(i))
		for len(u.resps) > 0 {
			if m := <-u.resps; m.status == 403 {
				answered++
			}
		}
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // loopback's socket buffers, not the gateway, would drop
		}
	}
	u.send(strings.Replace(invite(flood), "flood-", "last-", 1))
	if m := u.response("1 INVITE", 5*time.Second); m == nil || m.status != 403 {
		t.Fatalf("after %d refused INVITEs the next one got %v, want 403", flood, m)
	}
	time.Sleep(time.Second)
	gw.alive(t)
	logs := gw.stderr.String()[before:]
	t.Logf("%d INVITEs (%d bytes) refused, %d 403s read during the flood, %d bytes of log (level debug)", flood+1, u.in, answered, len(logs))
	for _, s := range []string{nonce, response} {
		if strings.Contains(logs, s) {
			t.Fatalf("digest material %q in the log:\n%s", s, tail(logs, 4096))
		}
	}
	if len(logs) > 32<<10 {
		t.Fatalf("%d bytes of log for %d refused INVITEs:\n%s", len(logs), flood, tail(logs, 4096))
	}
	survives(t, gw, victim, base)
}

// TestSecurityTLSFloods attacks SIP over TLS (sip.transports tls, a
// handshake_timeout of 2 s): one source opens 300 connections and never
// says hello (the per-source cap of 128 closes the rest at accept, before
// any handshake; the handshake timeout, counted from accept, the others);
// a ClientHello trickled a byte every 250 ms is cut at the handshake
// timeout, whatever it sends; SIP trickled over a completed handshake is
// cut at sip.tcp.message_timeout (3 s); a source outside sip.allowlist
// gets no handshake. Then the gateway takes a call and its files and
// goroutines are back to their baseline.
func TestSecurityTLSFloods(t *testing.T) {
	requireLinux(t)
	bucket := t.TempDir()
	tlsPort := testenv.FreePort(t)
	sipCfg := secSIP + fmt.Sprintf("\ntransports: [udp, tcp, tls]\ntls: {listen: 127.0.0.1:%d, handshake_timeout: 2s}", tlsPort)
	gw := startGateway(t, gwOptions{SIP: sipCfg, HTTP: "pprof: true", RTPPorts: 40, Config: securityAccounts(bucket, true)})
	victim := &recorded{bucket: bucket, seen: map[string]bool{}}
	legitCall(t, gw, victim)
	base := gw.resources(t)
	addr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	from := func(ip string) *net.Dialer {
		return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	}

	var silent []net.Conn
	for range 300 {
		c, err := from("127.0.0.2").Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connecting: %v", err)
		}
		silent = append(silent, c)
	}
	if n := closedBy(silent, time.Second); n < 300-128 {
		t.Fatalf("300 silent TLS connections from one source: %d closed at accept, want at least %d", n, 300-128)
	}
	if n := closedBy(silent, 4*time.Second); n != 300 {
		t.Fatalf("%d of 300 silent TLS connections closed after the handshake timeout (2 s)", n)
	}

	trickle := func(c net.Conn, msg []byte, max time.Duration) time.Duration {
		start := time.Now()
		for i := 0; time.Since(start) < max; i++ {
			if _, err := c.Write(msg[i%len(msg) : i%len(msg)+1]); err != nil {
				return time.Since(start)
			}
			time.Sleep(250 * time.Millisecond)
		}
		return 0
	}
	c, err := from("127.0.0.2").Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hello := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03} // a ClientHello's first bytes
	if d := trickle(c, hello, 10*time.Second); d == 0 || d > 4*time.Second {
		t.Fatalf("a ClientHello trickled for 10 s: cut after %v, want the handshake timeout (2 s)", d)
	}
	c.Close()
	tc, err := tls.DialWithDialer(from("127.0.0.2"), "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("a TLS handshake: %v", err)
	}
	if d := trickle(tc, []byte("OPTIONS sip:victim.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.2:5061;branch=z9hG4bKt\r\n"), 15*time.Second); d == 0 || d > 6*time.Second {
		t.Fatalf("SIP trickled over TLS for 15 s: cut after %v, want sip.tcp.message_timeout (3 s)", d)
	}
	tc.Close()
	if oc, err := tls.DialWithDialer(from(secOutsideEveryone), "tcp", addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		oc.Close()
		t.Fatal("a TLS handshake from outside sip.allowlist succeeded")
	}
	gw.alive(t)
	survives(t, gw, victim, base)
}

// TestSecurityHTTPConnectionFlood attacks the HTTP API's listener: one
// source opens 600 idle connections (before http.max_conns_per_source,
// each was held up to the server's ReadHeaderTimeout and the source could
// take every file descriptor of the process); the cap of 128 closes the
// rest at accept, while another source's /healthz and a SIP call are still
// served. A request whose headers are trickled a byte every 250 ms is cut
// at ReadHeaderTimeout (10 s). Afterwards files and goroutines are back to
// their baseline.
func TestSecurityHTTPConnectionFlood(t *testing.T) {
	requireLinux(t)
	bucket := t.TempDir()
	gw := startGateway(t, gwOptions{SIP: secSIP, HTTP: "pprof: true\nmax_conns_per_source: 128", RTPPorts: 40, Config: securityAccounts(bucket, true)})
	victim := &recorded{bucket: bucket, seen: map[string]bool{}}
	legitCall(t, gw, victim)
	base := gw.resources(t)
	addr := fmt.Sprintf("127.0.0.1:%d", gw.httpPort)
	from := func(ip string) *net.Dialer {
		return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	}

	slow, err := from("127.0.0.5").Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	slowCut := make(chan time.Duration, 1)
	go func() {
		start, req := time.Now(), "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Padding: "+strings.Repeat("a", 200)
		for i := 0; time.Since(start) < 20*time.Second; i++ {
			if _, err := slow.Write([]byte{req[i%len(req)]}); err != nil {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		slowCut <- time.Since(start)
	}()

	var idle []net.Conn
	for range 600 {
		c, err := from("127.0.0.2").Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connecting: %v", err)
		}
		idle = append(idle, c)
	}
	if n := closedBy(idle, time.Second); n < 600-128 {
		t.Fatalf("600 idle HTTP connections from one source: %d closed at accept, want at least %d", n, 600-128)
	}
	held := gw.resources(t)
	if held.fds > base.fds+128+16 {
		t.Fatalf("the gateway holds %d files during the flood (baseline %d): the per-source cap does not hold", held.fds, base.fds)
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: from("127.0.0.3").DialContext}}
	res, err := c.Get(gw.url("/healthz"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("/healthz from another source during the flood: %v %v", res, err)
	}
	res.Body.Close()
	legitCall(t, gw, victim)
	t.Logf("600 idle connections from one source: %s held (baseline %s); /healthz and a call served meanwhile", held, base)
	for _, c := range idle {
		c.Close()
	}
	if d := <-slowCut; d > 14*time.Second {
		t.Fatalf("headers trickled for %v before the gateway cut the connection, want ReadHeaderTimeout (10 s)", d)
	}
	survives(t, gw, victim, base)
}

// TestSecurityHTTPRefusalsLogs: requests an attacker can send without a
// key, each refused — 2,000 wrong keys to the admin API (401, then 429 from
// the shared failure limiter), 2,000 to the Insights API, 2,000 requests
// for routes that do not exist (404 before any key check), 500 wrong
// passwords to the console's sign-in — wrote a log line each (750 KB for
// the first 4,000); now each kind of line is written
// a bounded number of times a minute. The throttled source gets 429 even
// with the right key; another source is served.
func TestSecurityHTTPRefusalsLogs(t *testing.T) {
	requireLinux(t)
	gw := startGateway(t, gwOptions{SIP: secSIP, HTTP: "pprof: true", RTPPorts: 40, Config: securityAccounts(t.TempDir(), true) + adminConfig})
	from := func(ip string) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}}
	}
	get := func(c *http.Client, path string, hdr ...string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", gw.url(path), nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	before := len(gw.stderr.String())
	attacker := from("127.0.0.4")
	codes := map[string]map[int]int{"admin": {}, "insights": {}, "no route": {}}
	for i := range 2000 {
		codes["admin"][get(attacker, "/admin/v1/accounts", "Authorization", fmt.Sprintf("Bearer wrong-%d", i))]++
		codes["insights"][get(attacker, "/insights/sessions?from_date=2020-01-01&to_date=2020-01-02", "X-Vgai-Key", fmt.Sprintf("wrong-%d", i))]++
		codes["no route"][get(attacker, fmt.Sprintf("/admin/v1/nothing-%d", i))]++
	}
	if s := get(attacker, "/admin/v1/me", "Authorization", "Bearer "+adminKey); s != 429 {
		t.Fatalf("the right key from the throttled source: %d, want 429", s)
	}
	if s := get(from("127.0.0.1"), "/admin/v1/me", "Authorization", "Bearer "+adminKey); s != 200 {
		t.Fatalf("the right key from another source: %d, want 200", s)
	}
	// the console's sign-in form, with its token and cookie, posted with
	// wrong passwords (401, then 429 from the same limiter)
	jar, _ := cookiejar.New(nil)
	console := from("127.0.0.9")
	console.Jar = jar
	res, err := console.Get(gw.url("/console/signin"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := consoleCSRF.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("no sign-in form at /console/signin (%d)", res.StatusCode)
	}
	codes["console"] = map[int]int{}
	for i := range 500 {
		res, err := console.PostForm(gw.url("/console/signin"), url.Values{"csrf": {m[1]}, "email": {fmt.Sprintf("victim-%d@example.com", i)}, "password": {"guess"}})
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		codes["console"][res.StatusCode]++
		if m = consoleCSRF.FindStringSubmatch(string(page)); m == nil { // each answer renders a fresh form
			t.Fatalf("no sign-in form in the answer %d", res.StatusCode)
		}
	}
	logs := gw.stderr.String()[before:]
	t.Logf("6,500 refused requests %v: %d bytes of log (level debug)", codes, len(logs))
	if codes["admin"][429] < 1900 || codes["insights"][429] < 1900 || codes["no route"][404] != 2000 || codes["console"][429] < 450 {
		t.Fatalf("answers %v: want 429 for the wrong keys and passwords past the burst, 404 for the routes", codes)
	}
	if len(logs) > 32<<10 {
		t.Fatalf("%d bytes of log for 6,500 refused requests:\n%s", len(logs), tail(logs, 4096))
	}
	gw.alive(t)
}

// TestSecuritySSRFTenantEndpoints (SECURITY.md, "tenant-set endpoints reach
// internal addresses"): an account's own API key points its bucket endpoint
// and its session webhook at loopback servers — stand-ins for the cloud
// metadata endpoint or an internal service — on a gateway with the default
// egress policy (no egress.allow). The bucket Test answers egress_refused
// naming the address, for the literal address, a host name resolving to
// it, its IPv4-mapped IPv6 form and 169.254.169.254; no connection reaches
// the server and nothing it would answer (nor a byte count) is in the
// answer. The account's calls are still recorded, and the session webhook
// is refused at connect time: the receiver gets nothing.
func TestSecuritySSRFTenantEndpoints(t *testing.T) {
	siprecClient(t)
	const password = "ssrf-Sip-Password-42ab"
	var conns atomic.Int64
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ami-id\ninstance-id\niam/security-credentials/")
	}))
	internal.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	internal.Start()
	t.Cleanup(internal.Close)
	hooks := newWebhookReceiver(t, hookSecret)
	bucket := t.TempDir()
	gw := startGateway(t, gwOptions{NoLoopbackEgress: true, Config: adminConfig + fmt.Sprintf(`
accounts:
  - name: tenant
    sip_realm: tenant.test
    sip: {users: [{username: sbc, password: %s}]}
    recording: {enabled: true, format: wav, record_all_calls: true, bucket: {vendor: file, file: {dir: %s}}}
    webhook_secret: %s
`, password, bucket, hookSecret)})
	ctx := t.Context()
	c := gw.client(adminKey)
	var sid tenancy.SID
	for _, a := range must[*admin.List[tenancy.Account]](t)(c.Accounts(ctx, nil)).Items {
		if a.Name == "tenant" {
			sid = a.SID
		}
	}
	owner := gw.client(must[*admin.CreatedAPIKey](t)(c.CreateAPIKey(ctx, admin.CreateAPIKeyRequest{
		Name: "owner", ServiceType: "admin", AccountSID: string(sid)})).Secret)

	_, port, _ := net.SplitHostPort(internal.Listener.Addr().String())
	for _, endpoint := range []string{internal.URL, "http://localhost:" + port, "http://[::ffff:127.0.0.1]:" + port, "http://169.254.169.254"} {
		cfg := bucketconfig.Config{Vendor: bucketconfig.VendorS3Compatible, S3Compatible: &bucketconfig.S3Compatible{
			Endpoint: endpoint, PathStyle: true, Bucket: "latest", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "ssrfBucketSecretAccessKey0123456789"}}
		res := must[*admin.BucketTestResult](t)(owner.TestRecording(ctx, sid, &tenancy.RecordingConfig{Bucket: cfg}))
		if res.OK || res.Code != "egress_refused" || !strings.Contains(res.Error, "refused") {
			t.Fatalf("bucket test of %s: %+v, want egress_refused", endpoint, res)
		}
		if strings.Contains(res.Error, "instance-id") || strings.Contains(res.Error, "bytes") {
			t.Fatalf("bucket test of %s tells what the server answered: %s", endpoint, res.Error)
		}
		t.Logf("%s: %s", endpoint, res.Error)
	}
	must[*tenancy.Account](t)(owner.UpdateAccount(ctx, sid, admin.AccountPatch{SessionWebhook: ptrTo(hooks.srv.URL + "/hooks/sessions")}, 0))
	if code, out := sipCall(t, gw, "tenant.test", "sbc", password, time.Second); code != 0 {
		t.Fatalf("the tenant's call: exit %d\n%s", code, out)
	}
	waitFor(t, 20*time.Second, "the call's recording", func() bool { return len(recordings(t, bucket)) == 1 })
	waitFor(t, 20*time.Second, "the refused session webhook in the log", func() bool {
		return strings.Contains(gw.stderr.String(), "session webhook failed")
	})
	if !strings.Contains(gw.stderr.String(), "egress") {
		t.Fatalf("the webhook failure does not say the egress policy refused it:\n%s", tail(gw.stderr.String(), 4<<10))
	}
	hooks.mu.Lock()
	got, bad := len(hooks.events), hooks.bad
	hooks.mu.Unlock()
	if got != 0 || bad != 0 {
		t.Fatalf("the loopback webhook receiver got %d events (%d refused)", got, bad)
	}

	// The endpoint saved as the account's bucket: tested as stored, the
	// same answer; the next call is recorded and its upload refused (it
	// waits in the spool), still without a connection.
	saved := bucketconfig.Config{Vendor: bucketconfig.VendorS3Compatible, S3Compatible: &bucketconfig.S3Compatible{
		Endpoint: "http://localhost:" + port, PathStyle: true, Bucket: "latest", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "ssrfBucketSecretAccessKey0123456789"}}
	must[*admin.RecordingSettings](t)(owner.UpdateRecording(ctx, sid, admin.RecordingPatch{Bucket: &saved}, 0))
	if res := must[*admin.BucketTestResult](t)(owner.TestRecording(ctx, sid, nil)); res.OK || res.Code != "egress_refused" {
		t.Fatalf("bucket test of the stored configuration: %+v", res)
	}
	if code, out := sipCall(t, gw, "tenant.test", "sbc", password, time.Second); code != 0 {
		t.Fatalf("the tenant's second call: exit %d\n%s", code, out)
	}
	waitFor(t, 20*time.Second, "the refused upload in the log", func() bool {
		return strings.Contains(gw.stderr.String(), "recording upload failed")
	})
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the internal server", n)
	}
}
