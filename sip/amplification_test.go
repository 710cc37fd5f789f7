package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
	"github.com/voicegw/voicegw/internal/siptest"
)

// rawUDP is a client socket that counts what it sends and receives.
type rawUDP struct {
	t        *testing.T
	c        *net.UDPConn
	to       *net.UDPAddr
	in, out  int // bytes sent by the client (in to the server), received (out of it)
	received []string
}

func newRawUDP(t *testing.T, server string) *rawUDP {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	to, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	return &rawUDP{t: t, c: c, to: to}
}

func (r *rawUDP) port() int { return r.c.LocalAddr().(*net.UDPAddr).Port }

func (r *rawUDP) send(msg string) {
	r.t.Helper()
	n, err := r.c.WriteToUDP([]byte(msg), r.to)
	if err != nil {
		r.t.Fatal(err)
	}
	r.in += n
}

// collect reads every datagram that arrives within d, and returns them.
func (r *rawUDP) collect(d time.Duration) []string {
	r.t.Helper()
	var got []string
	buf := make([]byte, 65536)
	deadline := time.Now().Add(d)
	for {
		_ = r.c.SetReadDeadline(deadline)
		n, _, err := r.c.ReadFromUDP(buf)
		if err != nil {
			break
		}
		r.out += n
		got = append(got, string(buf[:n]))
	}
	r.received = append(r.received, got...)
	return got
}

// sdpBody is the offer sipp's uac scenario sends, about 130 bytes.
const sdpBody = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

// sippInvite is an INVITE as sipp's built-in uac scenario writes it.
func sippInvite(port int, server, branch, callID string) string {
	return "INVITE sip:service@" + server + " SIP/2.0\r\n" +
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\r\n", port, branch) +
		fmt.Sprintf("From: sipp <sip:sipp@127.0.0.1:%d>;tag=1SIPpTag001\r\n", port) +
		"To: service <sip:service@" + server + ">\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 INVITE\r\n" +
		fmt.Sprintf("Contact: sip:sipp@127.0.0.1:%d\r\n", port) +
		"Max-Forwards: 70\r\n" +
		"Subject: Performance Test\r\n" +
		"Content-Type: application/sdp\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(sdpBody)) + sdpBody
}

// tinyInvite is the smallest INVITE sipgo turns into a transaction, in
// compact form: what an attacker looking for the best ratio sends.
func tinyInvite(port int, branch string) string {
	return "INVITE sip:a@127.0.0.1 SIP/2.0\r\n" +
		fmt.Sprintf("v:SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n", port, branch) +
		"f:<sip:a@b>;tag=1\r\nt:<sip:a@b>\r\ni:" + branch + "\r\nCSeq:1 INVITE\r\n\r\n"
}

// TestGuardAmplification is issue 14 item 7 over real UDP: the Guard's
// answers to requests that create no state go out once, not retransmitted
// (an INVITE's 407 was sent 12 times to a client that never ACKs), and
// are at most GuardConfig.MaxAmplification (1.5) times the request's
// bytes; their ACK reaches no handler. Each exchange is watched for 2.5 s,
// long enough for sipgo's stateful retransmissions at 0.5 s and 1.5 s.
func TestGuardAmplification(t *testing.T) {
	logs := &logBuffer{}
	sipgoLog := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var handled atomic.Int32
	var rec decisions
	g, err := NewGuard(GuardConfig{Tenants: tenantsFor(t, "127.0.0.1"), OnDecision: rec.record, Lockout: LockoutConfig{MaxFailures: -1}})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := siptest.NewServer(t, siptest.Config{NoHost: true, Logger: sipgoLog})
	h := g.Wrap(func(_ context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		handled.Add(1)
		if !req.IsAck() {
			_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 486, "Busy Here", nil))
		}
	}).Sipgo(t.Context())
	srv.OnInvite(h)
	srv.OnAck(h)
	srv.OnRegister(h)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeUDP(pc) }()
	t.Cleanup(func() { _ = pc.Close() })
	server := pc.LocalAddr().String()
	const watch = 2500 * time.Millisecond

	t.Run("INVITE without credentials: one 407", func(t *testing.T) {
		c := newRawUDP(t, server)
		c.send(sippInvite(c.port(), server, "z9hG4bK-amp-1", "amp-1@127.0.0.1"))
		got := c.collect(watch)
		if len(got) != 1 || !strings.HasPrefix(got[0], "SIP/2.0 407 ") {
			t.Fatalf("answers %q, want one 407", got)
		}
		ratio := float64(c.out) / float64(c.in)
		t.Logf("INVITE (sipp uac, %d bytes) → one 407 of %d bytes: amplification %.2f× (was 12 copies)", c.in, c.out, ratio)
		if ratio > DefaultMaxAmplification {
			t.Fatalf("amplification %.2f×", ratio)
		}
		if d := rec.last(t); d.Code != 407 || !d.InitialInvite || d.Reason != ReasonCredentialsRequired {
			t.Fatalf("decision %+v", d)
		}

		// the client ACKs the 407 (RFC 3261 §17.1.1.3): dropped by the Guard
		res, err := sipgosip.ParseMessage([]byte(got[0]))
		if err != nil {
			t.Fatal(err)
		}
		to := res.(*sipgosip.Response).To()
		if tag, _ := to.Params.Get("tag"); !strings.HasPrefix(tag, g.tags.prefix) {
			t.Fatalf("407 To tag %q is not the Guard's", tag)
		}
		c.send("ACK sip:service@" + server + " SIP/2.0\r\n" +
			fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-amp-1\r\n", c.port()) +
			fmt.Sprintf("From: sipp <sip:sipp@127.0.0.1:%d>;tag=1SIPpTag001\r\n", c.port()) +
			"To: " + to.Value() + "\r\nCall-ID: amp-1@127.0.0.1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
		if got := c.collect(500 * time.Millisecond); len(got) != 0 {
			t.Fatalf("answer to the ACK: %q", got)
		}
		waitFor(t, func() bool { return rec.last(t).Reason == ReasonStatelessACK })
		if handled.Load() != 0 {
			t.Fatalf("handler called %d times", handled.Load())
		}
	})

	t.Run("retransmitted INVITE: answered once per copy", func(t *testing.T) {
		c := newRawUDP(t, server)
		for range 3 {
			c.send(sippInvite(c.port(), server, "z9hG4bK-amp-2", "amp-2@127.0.0.1"))
			time.Sleep(100 * time.Millisecond)
		}
		got := c.collect(watch)
		if len(got) != 3 || float64(c.out)/float64(c.in) > DefaultMaxAmplification {
			t.Fatalf("%d answers to 3 copies, %d bytes for %d", len(got), c.out, c.in)
		}
	})

	t.Run("smallest INVITE: the smallest answer, once", func(t *testing.T) {
		c := newRawUDP(t, server)
		c.send(tinyInvite(c.port(), "z9hG4bK-amp-3"))
		got := c.collect(watch)
		ratio := float64(c.out) / float64(c.in)
		t.Logf("compact INVITE of %d bytes (crafted small) → %d answer of %d bytes: %.2f×", c.in, len(got), c.out, ratio)
		// what an answer must carry is never cut (GuardConfig.MaxAmplification):
		// one challenge, compact headers; QUIC's bound for unvalidated addresses is 3x
		if len(got) != 1 || strings.Count(got[0], "Proxy-Authenticate:") != 1 || ratio > 3 {
			t.Fatalf("%d answers, amplification %.2f×: %q", len(got), ratio, got)
		}
	})

	t.Run("REGISTER without credentials: one 401 with the challenges that fit", func(t *testing.T) {
		c := newRawUDP(t, server)
		c.send("REGISTER sip:127.0.0.1 SIP/2.0\r\n" +
			fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-amp-4\r\n", c.port()) +
			"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=4\r\nTo: <sip:alice@127.0.0.1>\r\n" +
			"Call-ID: amp-4@127.0.0.1\r\nCSeq: 1 REGISTER\r\n" +
			fmt.Sprintf("Contact: <sip:alice@127.0.0.1:%d>\r\n", c.port()) +
			"Expires: 3600\r\nUser-Agent: SIPp register_auth\r\nContent-Length: 0\r\n\r\n")
		got := c.collect(watch)
		if len(got) != 1 || !strings.HasPrefix(got[0], "SIP/2.0 401 ") || !strings.Contains(got[0], "algorithm=SHA-512-256") {
			t.Fatalf("answers %q, want one 401 with at least the first challenge", got)
		}
		ratio := float64(c.out) / float64(c.in)
		t.Logf("REGISTER of %d bytes → 401 of %d bytes with %d challenges: %.2f×", c.in, c.out, strings.Count(got[0], "Digest "), ratio)
		if ratio > DefaultMaxAmplification {
			t.Fatalf("amplification %.2f×", ratio)
		}
	})

	if handled.Load() != 0 {
		t.Fatalf("handler reached %d times", handled.Load())
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
			t.Errorf("sipgo logged: %s", line)
		}
	}
}

// TestGuardAmplificationRefused: a source outside the allowlist gets one
// 403, never retransmitted (it was sent 12 times: 10.5× the bytes in).
func TestGuardAmplificationRefused(t *testing.T) {
	s := startServer(t, GuardConfig{Tenants: tenantsFor(t, "10.0.0.0/8")})
	c := newRawUDP(t, s.addr)
	c.send(sippInvite(c.port(), s.addr, "z9hG4bK-ref-1", "ref-1@127.0.0.1"))
	got := c.collect(2500 * time.Millisecond)
	if len(got) != 1 || !strings.HasPrefix(got[0], "SIP/2.0 403 ") {
		t.Fatalf("answers %q, want one 403", got)
	}
	ratio := float64(c.out) / float64(c.in)
	t.Logf("INVITE of %d bytes from outside the allowlist → one 403 of %d bytes: %.2f×", c.in, c.out, ratio)
	if ratio > DefaultMaxAmplification {
		t.Fatalf("amplification %.2f×", ratio)
	}
	if len(s.seen()) != 0 {
		t.Fatal("handler reached")
	}
}
