package sip

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/signing"
)

const webhookSecret = "whsec-Do-Not-Log"

// registrationApp is a tenant's web application: it verifies the
// signature, recomputes the digest response from the password it holds
// (its own implementation, not the package's), and answers.
type registrationApp struct {
	t        *testing.T
	password map[string]string
	mu       sync.Mutex
	got      []WebhookRequest
	// behaviour overrides
	status int
	body   string
	delay  time.Duration
}

func (a *registrationApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err := signing.Verify(r.Header.Get(SignatureHeader), body, time.Now(), 0, []byte(webhookSecret)); err != nil {
		http.Error(w, "bad signature: "+err.Error(), http.StatusUnauthorized)
		return
	}
	var req WebhookRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	a.mu.Lock()
	a.got = append(a.got, req)
	a.mu.Unlock()
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
			return
		}
	}
	if a.status != 0 {
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
		return
	}
	if a.body != "" {
		_, _ = io.WriteString(w, a.body)
		return
	}
	pw, ok := a.password[req.Username]
	var h func() hash.Hash
	switch req.Algorithm {
	case "MD5":
		h = md5.New
	case "SHA-256":
		h = sha256.New
	case "SHA-512-256":
		h = sha512.New512_256
	}
	hx := func(s string) string { x := h(); x.Write([]byte(s)); return hex.EncodeToString(x.Sum(nil)) }
	var want string
	if h != nil {
		ha1, ha2 := hx(req.Username+":"+req.Realm+":"+pw), hx(req.Method+":"+req.URI)
		if req.QOP != "" {
			want = hx(ha1 + ":" + req.Nonce + ":" + req.NC + ":" + req.CNonce + ":" + req.QOP + ":" + ha2)
		} else {
			want = hx(ha1 + ":" + req.Nonce + ":" + ha2)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if ok && want == req.Response {
		_, _ = io.WriteString(w, `{"status":"ok"}`)
		return
	}
	_, _ = io.WriteString(w, `{"status":"fail","message":"invalid credentials"}`)
}

func (a *registrationApp) requests() []WebhookRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]WebhookRequest(nil), a.got...)
}

func TestWebhookClientAnswers(t *testing.T) {
	// A loopback port nobody listens on: bound, then closed (no fixed port).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	_ = l.Close()
	tests := []struct {
		name    string
		app     *registrationApp
		url     func(base string) string
		want    error
		logLine string
	}{
		{name: "ok", app: &registrationApp{body: `{"status":"ok"}`}},
		{name: "OK in capitals", app: &registrationApp{body: `{"status":"OK"}`}},
		{name: "fail", app: &registrationApp{body: `{"status":"fail","message":"no such user"}`}, want: ErrBadCredentials, logLine: `webhook says \"no such user\"`},
		{name: "HTTP 500", app: &registrationApp{status: 500, body: `{"status":"ok"}`}, want: ErrWebhookFailed, logLine: "HTTP status 500"},
		{name: "redirect", app: &registrationApp{status: 302}, want: ErrWebhookFailed, logLine: "HTTP status 302"},
		{name: "not JSON", app: &registrationApp{body: `<html>ok</html>`}, want: ErrWebhookFailed, logLine: "answer is not JSON"},
		{name: "unknown status", app: &registrationApp{body: `{"status":"maybe"}`}, want: ErrWebhookFailed, logLine: `answer status \"maybe\" is neither`},
		{name: "no status", app: &registrationApp{body: `{}`}, want: ErrWebhookFailed, logLine: "is neither"},
		{name: "too large", app: &registrationApp{body: `{"status":"ok","x":"` + strings.Repeat("a", 70000) + `"}`}, want: ErrWebhookFailed, logLine: "larger than"},
		{name: "timeout", app: &registrationApp{delay: 5 * time.Second}, want: ErrWebhookFailed, logLine: "no answer within 200ms"},
		{name: "bad URL", url: func(string) string { return "ftp://example.test/hook" }, want: ErrWebhookFailed, logLine: "not an http or https URL"},
		{name: "connection refused", url: func(string) string { return "http://" + refused + "/hook?token=abc" }, want: ErrWebhookFailed, logLine: "hook?REDACTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := tt.app
			if app == nil {
				app = &registrationApp{}
			}
			app.t = t
			srv := httptest.NewServer(app)
			defer srv.Close()
			u := srv.URL + "/register?token=tok-Do-Not-Log"
			if tt.url != nil {
				u = tt.url(srv.URL)
			}
			logs := &logBuffer{}
			c := &WebhookClient{Timeout: 200 * time.Millisecond, Logger: logs.logger()}
			exp := 600
			err := c.Check(context.Background(), Webhook{URL: u, Secret: webhookSecret}, WebhookRequest{
				Method: "REGISTER", Realm: "example.test", Username: "alice", Response: "0123abcd", Expires: &exp,
				SourceAddress: "127.0.0.1", SourcePort: 5060,
			})
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			l := logs.String()
			if tt.logLine != "" && !strings.Contains(l, tt.logLine) {
				t.Fatalf("log lacks %q:\n%s", tt.logLine, l)
			}
			for _, secret := range []string{webhookSecret, "tok-Do-Not-Log", "0123abcd", "token=abc"} {
				if strings.Contains(l, secret) || (err != nil && strings.Contains(err.Error(), secret)) {
					t.Fatalf("%q leaked into the log or error:\n%s\n%v", secret, l, err)
				}
			}
		})
	}
}

func TestWebhookUnsignedWithoutSecret(t *testing.T) {
	var sig string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sig = r.Header.Get(SignatureHeader)
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	defer srv.Close()
	if err := (&WebhookClient{}).Check(context.Background(), Webhook{URL: srv.URL}, WebhookRequest{}); err != nil {
		t.Fatal(err)
	}
	if sig != "" {
		t.Fatalf("signature %q sent without a secret", sig)
	}
}

// TestGuardWithWebhook: the tenant's registration webhook decides, over
// the whole SIP path (sipgo client → Guard → webhook over HTTP).
func TestGuardWithWebhook(t *testing.T) {
	app := &registrationApp{t: t, password: map[string]string{"alice": testPassword}}
	hook := httptest.NewServer(app)
	defer hook.Close()
	tenants := Tenants{"127.0.0.1": {ID: "acme", Realm: "example.test", Webhook: &Webhook{URL: hook.URL, Secret: webhookSecret}}}
	s := startServer(t, GuardConfig{Tenants: tenants, Webhook: WebhookClient{Timeout: 300 * time.Millisecond}})
	c := newClient(t, s, "UDP")

	req := c.request(sipgosip.REGISTER, "", "127.0.0.1")
	if res := c.auth(req, c.do(req), "alice", testPassword); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %s", res.StartLine())
	}
	got := app.requests()
	if len(got) != 1 {
		t.Fatalf("webhook called %d times", len(got))
	}
	w := got[0]
	if w.Method != "REGISTER" || w.Realm != "example.test" || w.Username != "alice" || w.Algorithm != "SHA-512-256" ||
		w.QOP != "auth" || w.NC != "00000001" || w.CNonce == "" || w.Nonce == "" || w.URI == "" ||
		w.Expires == nil || *w.Expires != 600 || w.SourceAddress != "127.0.0.1" || w.SourcePort == 0 || w.Tenant != "acme" {
		t.Fatalf("webhook request %+v", w)
	}
	if id := s.seen()[0].id; id.User != "alice" || id.PassedBy != PassedDigest {
		t.Fatalf("identity %+v", id)
	}

	req = c.request(sipgosip.INVITE, "bob", "127.0.0.1")
	res := c.auth(req, c.do(req), "alice", "guess")
	if res.StatusCode != 407 {
		t.Fatalf("INVITE with a wrong password: %s", res.StartLine())
	}
	if w := app.requests()[1]; w.Method != "INVITE" || w.Expires != nil {
		t.Fatalf("webhook request for INVITE %+v", w)
	}

	app.delay = 5 * time.Second
	req = c.request(sipgosip.REGISTER, "", "127.0.0.1")
	res = c.auth(req, c.do(req), "alice", testPassword)
	if res.StatusCode != 503 {
		t.Fatalf("webhook timeout: %s, want 503", res.StartLine())
	}
	if l := s.logs.String(); !strings.Contains(l, "registration webhook failed; request rejected") || !strings.Contains(l, "no answer within 300ms") {
		t.Fatalf("no log line saying why:\n%s", l)
	}
	if s.guard.Blocked(netip.MustParseAddr("127.0.0.1")) {
		t.Fatal("webhook failure counted against the source")
	}
	s.checkLogsClean(t, sentResponse(req))
	if strings.Contains(s.logs.String(), webhookSecret) {
		t.Fatal("webhook secret logged")
	}
}
