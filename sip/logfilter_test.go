package sip

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	sipgosip "github.com/emiago/sipgo/sip"
	"github.com/voicegw/voicegw/internal/siptest"
)

// The digest material of the tests: none of it may reach a filtered log.
const (
	secretResponse = "6629fae49393a05397450978507c4ef1"
	secretNonce    = "dcd98b7102dd2f0e8b11d0f600bfb0c093"
	secretCNonce   = "0a4f113b77f1e2d3"
)

var secrets = []string{secretResponse, secretNonce, secretCNonce}

func authLine(name string) string {
	return name + `: Digest username="alice", realm="example.test", nonce="` + secretNonce + `", uri="sip:example.test", response="` + secretResponse + `", algorithm=MD5, cnonce="` + secretCNonce + `", qop=auth, nc=00000001`
}

func TestRedactSIP(t *testing.T) {
	msg := "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" + authLine("Authorization") + "\r\nCSeq: 1 REGISTER\r\n\r\n"
	tests := []struct {
		name, in, want string
	}{
		{"Authorization in a message", msg, "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nAuthorization:[redacted]\r\nCSeq: 1 REGISTER\r\n\r\n"},
		{"quoted with %q", fmt.Sprintf("%q", msg), `"REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nAuthorization:[redacted]\r\nCSeq: 1 REGISTER\r\n\r\n"`},
		{"lower-case Proxy-Authorization, LF only", "x\n" + strings.ToLower(authLine("proxy-authorization")) + "\ny", "x\nproxy-authorization:[redacted]\ny"},
		{"challenge", authLine("WWW-Authenticate"), "WWW-Authenticate:[redacted]"},
		{"Authentication-Info", `Authentication-Info: rspauth="` + secretResponse + `"`, "Authentication-Info:[redacted]"},
		{"folded header", "Authorization: Digest username=\"alice\",\r\n realm=\"x\",\r\n\t\"" + secretResponse + "\"\r\nTo: <sip:a@b>", "Authorization:[redacted]\r\n[redacted]\r\n[redacted]\r\nTo: <sip:a@b>"},
		{"parameters on a line of their own", `realm="x", response = "` + secretResponse + `"`, `realm="x", [redacted]`},
		{"cnonce", `qop=auth, cnonce="` + secretCNonce + `"`, `qop=auth, c[redacted]`},
		{"header name inside an error", `field name with no value in header: "Authorization Digest response=\"` + secretResponse + `\""`, `field name with no value in header: "Authorization[redacted]`},
		{"no marker", "failed to parse: line has no CRLF", "failed to parse: line has no CRLF"},
		{"words without =", "nonce expired; sending response", "nonce expired; sending response"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedactSIP(tt.in)
			if got != tt.want {
				t.Fatalf("RedactSIP(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
			for _, s := range secrets {
				if strings.Contains(got, s) {
					t.Fatalf("%q left in %q", s, got)
				}
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789abc", 10, "0123456789…[13 bytes]"},
		{"ééééé", 3, "é…[10 bytes]"}, // not inside a rune
		{"anything", -1, "anything"},
	}
	for _, tt := range tests {
		if got := Excerpt(tt.in, tt.max); got != tt.want || !utf8.ValidString(got) {
			t.Errorf("Excerpt(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

type valuer string

func (v valuer) LogValue() slog.Value { return slog.StringValue(string(v)) }

// TestLogFilterAttributes: every place a string can sit in a record is
// cleaned, including attributes added with With and inside groups.
func TestLogFilterAttributes(t *testing.T) {
	var buf bytes.Buffer
	log := FilterLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), LogFilterConfig{MaxValueLen: 120})
	line := authLine("Authorization")
	log = log.With("with", line).WithGroup("g")
	log.Error("failed to parse: "+line,
		"data", "REGISTER sip:x SIP/2.0\r\n"+line+"\r\n"+strings.Repeat("x", 5000),
		"error", errors.New("bad header: "+line),
		"bytes", []byte(line),
		"stringer", stringer(line),
		"valuer", valuer(line),
		slog.Group("inner", "v", line),
		"n", 42,
	)
	out := buf.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("%q logged:\n%s", s, out)
		}
	}
	if len(out) > 2000 {
		t.Fatalf("%d bytes logged for one line:\n%s", len(out), out)
	}
	for _, want := range []string{"with=Authorization:[redacted]", "g.n=42", "[redacted]", "…[", "g.inner.v="} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q in\n%s", want, out)
		}
	}
}

// TestLogFilterRateLimit: Burst lines per message and Interval, then one
// line saying how many were dropped.
func TestLogFilterRateLimit(t *testing.T) {
	var buf bytes.Buffer
	clock := newFakeClock()
	log := FilterLogger(slog.New(slog.NewTextHandler(&buf, nil)), LogFilterConfig{Burst: 3, Interval: time.Minute, Now: clock.Now})
	for range 100 {
		log.Error("failed to parse", "data", "junk")
		log.Info("other") // counted apart
	}
	if n := strings.Count(buf.String(), "failed to parse"); n != 3 {
		t.Fatalf("%d lines in the first minute, want 3", n)
	}
	if n := strings.Count(buf.String(), "msg=other"); n != 3 {
		t.Fatalf("%d other lines, want 3", n)
	}
	buf.Reset()
	clock.Advance(time.Minute)
	log.Error("failed to parse", "data", "junk")
	if !strings.Contains(buf.String(), "suppressed=97") {
		t.Fatalf("after the interval: %q, want suppressed=97", buf.String())
	}
	// no limit
	buf.Reset()
	log = FilterLogger(slog.New(slog.NewTextHandler(&buf, nil)), LogFilterConfig{Burst: -1})
	for range 50 {
		log.Error("x")
	}
	if n := strings.Count(buf.String(), "msg=x"); n != 50 {
		t.Fatalf("%d lines with Burst -1", n)
	}
}

// sipgoLogTarget runs a sipgo server (UDP and TCP) whose every logger
// writes to w through filter (nil: unfiltered), and returns its address.
func sipgoLogTarget(t *testing.T, w *logBuffer, filter bool) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if filter {
		log = FilterLogger(log, LogFilterConfig{})
	}
	srv, _ := siptest.NewServer(t, siptest.Config{NoHost: true, Logger: log})
	srv.OnRegister(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 401, "Unauthorized", nil))
	})
	return siptest.Serve(t, srv)
}

// logAttack sends what made sipgo log digest material and 1 MB of log for
// 357 KB in (issue 14 item 6): 357 KB of random datagrams; REGISTERs with
// a digest answer that fail to parse (a broken header line, a folded
// Authorization, a datagram over sipgo's 32 KiB read buffer); and the
// same over TCP. It returns the bytes sent.
func logAttack(t *testing.T, addr string) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(14, 6))
	uc, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	sent := 0
	send := func(b []byte) {
		n, err := uc.Write(b)
		if err != nil {
			t.Fatal(err)
		}
		sent += n
		time.Sleep(200 * time.Microsecond) // do not overrun the socket buffer
	}
	for sent < 357_000 {
		b := make([]byte, 200+rng.IntN(1800))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[0] = 'X' // sipgo skips all-zero datagrams
		send(b)
	}
	head := "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK%d\r\n"
	bad := []string{
		fmt.Sprintf(head, 1) + authLine("Authorization") + "\r\nthis line has no colon " + secretResponse + "\r\n\r\n",
		fmt.Sprintf(head, 2) + "Authorization: Digest username=\"alice\",\r\n response=\r\n \"" + secretResponse + "\"\r\nCSeq: x\r\n\r\n",
		fmt.Sprintf(head, 3) + authLine("Proxy-Authorization") + "\r\nContent-Length: 40000\r\n\r\n" + strings.Repeat("a", 40000),
		authLine("Authorization") + "\r\n\r\n", // not a start line
	}
	for range 5 {
		for _, m := range bad {
			send([]byte(m))
		}
	}
	for _, m := range bad {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := c.Write([]byte(m))
		sent += n
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.Read(make([]byte, 1024)) // until sipgo closes it
		_ = c.Close()
	}
	time.Sleep(500 * time.Millisecond)
	return sent
}

// TestLogFilterWithSipgo runs the attack against sipgo twice: logging
// unfiltered, where it writes the digest material and more log than it was
// sent (the finding, so the attack is real), and through the
// filter, where nothing of the material is written and the log stays
// small.
func TestLogFilterWithSipgo(t *testing.T) {
	for _, filter := range []bool{false, true} {
		t.Run(map[bool]string{false: "unfiltered", true: "filtered"}[filter], func(t *testing.T) {
			var logs logBuffer
			addr := sipgoLogTarget(t, &logs, filter)
			in := logAttack(t, addr)
			out := logs.String()
			leaked := 0
			for _, s := range secrets {
				leaked += strings.Count(out, s)
			}
			t.Logf("%d bytes sent, %d bytes of log, %d pieces of digest material in it", in, len(out), leaked)
			if !filter {
				if leaked == 0 || len(out) < in/2 {
					t.Fatalf("the attack did not make sipgo log the material (%d) or much (%d bytes): the test proves nothing", leaked, len(out))
				}
				return
			}
			if leaked != 0 {
				for _, line := range strings.Split(out, "\n") {
					for _, s := range secrets {
						if strings.Contains(line, s) {
							t.Errorf("logged: %s", line)
						}
					}
				}
				t.FailNow()
			}
			if len(out) > 32<<10 {
				t.Fatalf("%d bytes of log for %d bytes sent", len(out), in)
			}
			if !strings.Contains(out, "failed to parse") {
				t.Fatalf("the parse failures are not logged at all:\n%s", out)
			}
		})
	}
}

// FuzzRedactSIP checks RedactSIP's properties on any input: it is
// idempotent; an input without markers comes back unchanged (the round
// trip); and after every authentication header name or digest parameter
// left in the output, the rest of its line is the redaction.
func FuzzRedactSIP(f *testing.F) {
	f.Add("REGISTER sip:x SIP/2.0\r\n" + authLine("Authorization") + "\r\n\r\n")
	f.Add(fmt.Sprintf("%q", authLine("Proxy-Authorization")))
	f.Add("Authorization: Digest\r\n response=\r\n \"abc\"")
	f.Add("nonce expired")
	f.Add(`cnonce = "x" \r\n\tresponse=1`)
	f.Fuzz(func(t *testing.T, s string) {
		r := RedactSIP(s)
		if again := RedactSIP(r); again != r {
			t.Fatalf("not idempotent:\n%q\n%q", r, again)
		}
		if !mayHoldDigest(s) && r != s {
			t.Fatalf("changed an input without markers: %q → %q", s, r)
		}
		for rest := r; len(rest) > 0; {
			line, _, next := nextLogLine(rest)
			if at := redactFrom(line); at >= 0 && line[at:] != redacted {
				t.Fatalf("line %q of the output still holds %q", line, line[at:])
			}
			rest = next
		}
	})
}
