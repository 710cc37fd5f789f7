package sip

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
	"github.com/voicegw/voicegw/internal/siptest"
)

// Test password: distinctive, so the log check can look for it.
const testPassword = "s3cr3t-Pw"

// logBuffer collects log lines of a test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// seen is what the test handler saw.
type seen struct {
	method sipgosip.RequestMethod
	id     Identity
	ok     bool
}

type testServer struct {
	addr    string // 127.0.0.1:port, the same port for UDP and TCP
	port    int
	guard   *Guard
	logs    *logBuffer
	mu      sync.Mutex
	handled []seen
}

func (s *testServer) seen() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.handled...)
}

// checkLogsClean fails t if a password or a digest response appears in the logs.
func (s *testServer) checkLogsClean(t *testing.T, responses ...string) {
	t.Helper()
	logs := s.logs.String()
	if strings.Contains(logs, testPassword) {
		t.Errorf("the password appears in the logs:\n%s", logs)
	}
	for _, r := range responses {
		if r != "" && strings.Contains(logs, r) {
			t.Errorf("a digest response %q appears in the logs", r)
		}
	}
}

// startServer runs a sipgo server on 127.0.0.1 (UDP and TCP on one port)
// with every request going through a Guard for cfg, then to a handler that
// records the identity and answers: nothing to ACK, 200 with a Contact to
// INVITE, 200 to everything else.
func startServer(t *testing.T, cfg GuardConfig) *testServer {
	t.Helper()
	s := &testServer{logs: &logBuffer{}}
	if cfg.Logger == nil {
		cfg.Logger = s.logs.logger()
	}
	g, err := NewGuard(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.guard = g
	srv, _ := siptest.NewServer(t, siptest.Config{})
	pc, l := siptest.ListenBoth(t)
	s.port = pc.LocalAddr().(*net.UDPAddr).Port
	s.addr = pc.LocalAddr().String()
	h := g.Wrap(func(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		id, ok := IdentityFrom(ctx)
		s.mu.Lock()
		s.handled = append(s.handled, seen{req.Method, id, ok})
		s.mu.Unlock()
		if req.IsAck() {
			return
		}
		res := sipgosip.NewResponseFromRequest(req, 200, "OK", nil)
		if req.IsInvite() {
			res.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: s.port}})
		}
		_ = tx.Respond(res)
	}).Sipgo(t.Context())
	for _, m := range []sipgosip.RequestMethod{sipgosip.REGISTER, sipgosip.INVITE, sipgosip.ACK, sipgosip.BYE, sipgosip.CANCEL, sipgosip.OPTIONS, sipgosip.MESSAGE} {
		srv.OnRequest(m, h)
	}
	go func() { _ = srv.ServeUDP(pc) }()
	go func() { _ = srv.ServeTCP(l) }()
	return s
}

type testClient struct {
	t  *testing.T
	c  *sipgo.Client
	tr string // "UDP" or "TCP"
	s  *testServer
}

func newClient(t *testing.T, s *testServer, transport string) *testClient {
	t.Helper()
	c, _ := siptest.NewClient(t, siptest.Config{})
	return &testClient{t: t, c: c, tr: transport, s: s}
}

// request builds a request to the server whose Request-URI host is host
// (the realm the Guard looks up); it is sent to the server's address
// whatever the host.
func (c *testClient) request(method sipgosip.RequestMethod, user, host string) *sipgosip.Request {
	uri := sipgosip.Uri{Scheme: "sip", User: user, Host: host, Port: c.s.port}
	req := sipgosip.NewRequest(method, uri)
	req.SetTransport(c.tr)
	req.SetDestination(c.s.addr)
	from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "alice", Host: "example.test"}}
	from.Params.Add("tag", sipgosip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: orDefault(user, "alice"), Host: "example.test"}})
	req.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: 5999}})
	addUAHeaders(req)
	if method == sipgosip.REGISTER {
		req.AppendHeader(sipgosip.NewHeader("Expires", "600"))
	}
	return req
}

// addUAHeaders adds what a phone's requests carry besides the headers a
// transaction needs (requests of that size are what the amplification
// bound, GuardConfig.MaxAmplification, lets get every challenge over UDP).
func addUAHeaders(req *sipgosip.Request) {
	req.AppendHeader(sipgosip.NewHeader("User-Agent", "voicegw-test/1.0"))
	req.AppendHeader(sipgosip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, MESSAGE"))
	req.AppendHeader(sipgosip.NewHeader("Supported", "replaces, timer"))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (c *testClient) do(req *sipgosip.Request) *sipgosip.Response {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
	defer cancel()
	res, err := c.c.Do(ctx, req)
	if err != nil {
		c.t.Fatalf("%s: %v", req.Method, err)
	}
	return res
}

// resend sends req again as a new transaction (new branch, next CSeq),
// headers unchanged: Authorization included.
func (c *testClient) resend(req *sipgosip.Request) *sipgosip.Response {
	c.t.Helper()
	req = req.Clone()
	req.RemoveHeader("Via")
	req.CSeq().SeqNo++
	ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
	defer cancel()
	res, err := c.c.Do(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil {
		c.t.Fatalf("%s: %v", req.Method, err)
	}
	return res
}

func (c *testClient) auth(req *sipgosip.Request, res *sipgosip.Response, user, pass string) *sipgosip.Response {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
	defer cancel()
	out, err := c.c.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: pass})
	if err != nil {
		c.t.Fatalf("%s with credentials: %v", req.Method, err)
	}
	return out
}

// sentResponse returns the digest response value req carried.
func sentResponse(req *sipgosip.Request) string {
	for _, name := range []string{"Authorization", "Proxy-Authorization"} {
		if h := req.GetHeader(name); h != nil {
			if a, err := ParseAuthorization(h.Value()); err == nil {
				return a.Response
			}
		}
	}
	return ""
}

func challenges(t *testing.T, res *sipgosip.Response) []Challenge {
	t.Helper()
	name := "WWW-Authenticate"
	if res.StatusCode == 407 {
		name = "Proxy-Authenticate"
	}
	var out []Challenge
	for _, h := range res.GetHeaders(name) {
		c, err := ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, c)
	}
	return out
}
