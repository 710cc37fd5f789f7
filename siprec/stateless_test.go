package siprec

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// udpPeer sends raw SIP datagrams from its own loopback socket and counts
// what comes back.
type udpPeer struct {
	t  *testing.T
	c  *net.UDPConn
	to *net.UDPAddr
}

func newUDPPeer(t *testing.T, to string) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	addr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	return &udpPeer{t: t, c: c, to: addr}
}

func (u *udpPeer) port() int { return u.c.LocalAddr().(*net.UDPAddr).Port }

// answers sends m and returns the status lines of every answer to it (by
// its Call-ID) that comes back within d. Other datagrams are ignored: the
// socket's port may be one another test sends RTP to.
func (u *udpPeer) answers(m string, d time.Duration) []string {
	u.t.Helper()
	if _, err := u.c.WriteToUDP([]byte(m), u.to); err != nil {
		u.t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 65536)
	deadline := time.Now().Add(d)
	for {
		_ = u.c.SetReadDeadline(deadline)
		n, _, err := u.c.ReadFromUDP(buf)
		if err != nil {
			return got
		}
		msg := string(buf[:n])
		if strings.HasPrefix(msg, "SIP/2.0 ") && strings.Contains(msg, "\r\n"+callIDLine(m)) {
			got = append(got, strings.SplitN(msg, "\r\n", 2)[0])
		}
	}
}

// callIDLine is the Call-ID header line of m.
func callIDLine(m string) string {
	i := strings.Index(m, "Call-ID: ")
	return m[i : i+strings.Index(m[i:], "\r\n")]
}

// request is a request of method with To tag toTag ("" for none) from u.
func (u *udpPeer) request(method, uri, callID, toTag string) string {
	to := "<" + uri + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\n"+
		"From: <sip:src@127.0.0.1>;tag=src-%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 2 %s\r\nContact: <sip:src@127.0.0.1:%d>\r\nContent-Length: 0\r\n\r\n",
		method, uri, u.port(), callID, callID, to, callID, method, u.port())
}

// watch is how long each answer is watched for copies: a final answer to
// an INVITE sent through its transaction is retransmitted after 0.5 s and
// 1.5 s (timer G) until an ACK comes.
const watch = 2 * time.Second

// TestServerRefusalsStateless: the Server's 481 to a request for a dialog
// it does not know (which the Guard passes on without digest, so a spoofed
// source can send it) goes out once over UDP, not retransmitted; so does
// its 405, and a request sent again is answered again.
func TestServerRefusalsStateless(t *testing.T) {
	e := newSRSEnv(t, Config{})
	u := newUDPPeer(t, e.addr)
	uri := "sip:srs@" + e.addr
	for _, c := range []struct {
		name, msg, want string
	}{
		{"in-dialog INVITE of an unknown dialog", u.request("INVITE", uri, "unknown-1", "nope"), "SIP/2.0 481"},
		{"BYE of an unknown dialog", u.request("BYE", uri, "unknown-2", "nope"), "SIP/2.0 481"},
		{"UPDATE of an unknown dialog", u.request("UPDATE", uri, "unknown-3", "nope"), "SIP/2.0 481"},
		{"MESSAGE outside a dialog", u.request("MESSAGE", uri, "other-1", ""), "SIP/2.0 405"},
	} {
		got := u.answers(c.msg, watch)
		if len(got) != 1 || !strings.HasPrefix(got[0], c.want) {
			t.Fatalf("%s: %d datagrams %q within %s, want one %s", c.name, len(got), got, watch, c.want)
		}
	}
	// the same INVITE again (a retransmission) gets its 481 again, once
	msg := u.request("INVITE", uri, "unknown-4", "nope")
	for i := range 2 {
		if got := u.answers(msg, time.Second); len(got) != 1 || !strings.HasPrefix(got[0], "SIP/2.0 481") {
			t.Fatalf("copy %d: %q", i+1, got)
		}
	}
}

// TestClientRefusalsStateless: the recording client refuses what a stranger
// sends it over UDP (an INVITE: 403; a request of an unknown dialog: 481)
// with one datagram each.
func TestClientRefusalsStateless(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	u := newUDPPeer(t, c.Addr().String())
	uri := "sip:src@" + c.Addr().String()
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"INVITE", u.request("INVITE", uri, "c-1", ""), "SIP/2.0 403"},
		{"in-dialog INVITE of an unknown dialog", u.request("INVITE", uri, "c-2", "nope"), "SIP/2.0 481"},
		{"BYE of an unknown dialog", u.request("BYE", uri, "c-3", "nope"), "SIP/2.0 481"},
	} {
		got := u.answers(tc.msg, watch)
		if len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
			t.Fatalf("%s: %d datagrams %q within %s, want one %s", tc.name, len(got), got, watch, tc.want)
		}
	}
}

// TestOptionsNotAmplified (issue 14, item 7): an OPTIONS needs no
// credentials, so over UDP its answer must not reflect much more than it
// costs a spoofing sender: a crafted compact one gets a 200 within 1.5
// times its bytes (no capability headers), a keep-alive as SBCs send it
// gets the capability headers.
func TestOptionsNotAmplified(t *testing.T) {
	e := newSRSEnv(t, Config{})
	c, err := net.Dial("udp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	ask := func(msg string) string {
		t.Helper()
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return string(buf[:n])
	}
	crafted := "OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP " + local + ";branch=z9hG4bKamp1\r\nf: <sip:a@b>;tag=1\r\nt: <sip:srs@127.0.0.1>\r\ni: amp1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n"
	res := ask(crafted)
	if !strings.HasPrefix(res, "SIP/2.0 200") || 2*len(res) > 3*len(crafted) {
		t.Fatalf("a %d-byte OPTIONS got %d bytes (%.2fx):\n%s", len(crafted), len(res), float64(len(res))/float64(len(crafted)), res)
	}
	keepAlive := "OPTIONS sip:srs@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bKamp2;rport\r\nMax-Forwards: 70\r\n" +
		"From: \"SBC keep-alive\" <sip:ping@sbc.example.com>;tag=8c1f2a\r\nTo: <sip:srs@127.0.0.1:5060>\r\nCall-ID: 5f0c2a9e-2b1d-4f4e-9c2b-3a1e0d9b7c6a@sbc.example.com\r\n" +
		"CSeq: 1 OPTIONS\r\nContact: <sip:ping@" + local + ">\r\nUser-Agent: Example SBC 9.1\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n"
	res = ask(keepAlive)
	if !strings.HasPrefix(res, "SIP/2.0 200") || !strings.Contains(res, "Allow: ") || !strings.Contains(res, "application/rs-metadata+xml") {
		t.Fatalf("a keep-alive OPTIONS: answer without the capability headers:\n%s", res)
	}
}
