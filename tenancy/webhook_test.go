package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/egress"
	"github.com/voicegw/voicegw/tenancy"
)

// loopbackClient is a webhook client whose egress policy allows the test
// receivers on loopback (the default sender refuses them).
func loopbackClient(t *testing.T) *http.Client {
	var p egress.Policy
	if err := p.AddAllow("127.0.0.0/8", "::1/128"); err != nil {
		t.Fatal(err)
	}
	return p.Client(10 * time.Second)
}

// TestSenderRefusesInternalAddresses: the zero sender (the URL is an
// account's) does not reach loopback, a host name resolving to it, nor a
// link-local address; the receiver sees nothing, and the error names the
// address.
func TestSenderRefusesInternalAddresses(t *testing.T) {
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); n++; mu.Unlock() }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	s := &tenancy.WebhookSender{}
	for _, u := range []string{srv.URL + "/hook", "http://localhost:" + port + "/hook", "http://[::ffff:127.0.0.1]:" + port + "/hook", "http://169.254.169.254/latest/meta-data/"} {
		_, err := s.Post(context.Background(), u, "application/json", hookBody, newSecret)
		if !errors.Is(err, egress.ErrRefused) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("Post %s = %v, want egress.ErrRefused", u, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 0 {
		t.Fatalf("%d webhooks reached the loopback receiver", n)
	}
}

var (
	oldSecret = secret.String("whsec_old_0123456789abcdef")
	newSecret = secret.String("whsec_new_fedcba9876543210")
	hookBody  = []byte(`{"event":"session.ended","session_id":"8ae433e8"}`)
	t0        = time.Unix(1700000000, 0)
)

func TestSignWebhookKnownVector(t *testing.T) {
	// printf '1700000000.{"event":"session.ended","id":"8ae433e8"}' | openssl dgst -sha256 -hmac whsec_old_0123456789
	const want = "t=1700000000,v1=84b8450fc37c04689ef0d6ff0e17804a6f4cd470fa1815184409ea29b3dfd5c5"
	got := tenancy.SignWebhook(t0, []byte(`{"event":"session.ended","id":"8ae433e8"}`), "whsec_old_0123456789")
	if got != want {
		t.Fatalf("SignWebhook = %q, want %q", got, want)
	}
}

func TestVerifyWebhook(t *testing.T) {
	h := tenancy.SignWebhook(t0, hookBody, oldSecret)
	both := tenancy.SignWebhook(t0, hookBody, newSecret, oldSecret)
	for _, tc := range []struct {
		name    string
		header  string
		body    []byte
		now     time.Time
		tol     time.Duration
		secrets []secret.String
		want    error
	}{
		{"valid", h, hookBody, t0, 0, []secret.String{oldSecret}, nil},
		{"4m59s late", h, hookBody, t0.Add(299 * time.Second), 0, []secret.String{oldSecret}, nil},
		{"4m59s early (sender clock ahead)", h, hookBody, t0.Add(-299 * time.Second), 0, []secret.String{oldSecret}, nil},
		{"too old", h, hookBody, t0.Add(301 * time.Second), 0, []secret.String{oldSecret}, tenancy.ErrTimestampTooOld},
		{"too new", h, hookBody, t0.Add(-301 * time.Second), 0, []secret.String{oldSecret}, tenancy.ErrTimestampTooNew},
		{"tight tolerance, old", h, hookBody, t0.Add(11 * time.Second), 10 * time.Second, []secret.String{oldSecret}, tenancy.ErrTimestampTooOld},
		{"tight tolerance, new", h, hookBody, t0.Add(-11 * time.Second), 10 * time.Second, []secret.String{oldSecret}, tenancy.ErrTimestampTooNew},
		{"tight tolerance, inside", h, hookBody, t0.Add(-9 * time.Second), 10 * time.Second, []secret.String{oldSecret}, nil},
		{"body re-encoded", h, []byte(`{"event": "session.ended","session_id":"8ae433e8"}`), t0, 0, []secret.String{oldSecret}, tenancy.ErrNoMatch},
		{"wrong secret", h, hookBody, t0, 0, []secret.String{newSecret}, tenancy.ErrNoMatch},
		{"rotation: receiver holds new and old", h, hookBody, t0, 0, []secret.String{newSecret, oldSecret}, nil},
		{"rotation: sender signs with both, receiver moved on", both, hookBody, t0, 0, []secret.String{newSecret}, nil},
		{"rotation: sender signs with both, receiver not yet", both, hookBody, t0, 0, []secret.String{oldSecret}, nil},
		{"no secret", h, hookBody, t0, 0, nil, tenancy.ErrNoSecret},
		{"empty secrets only", h, hookBody, t0, 0, []secret.String{""}, tenancy.ErrNoSecret},
		{"no header", "", hookBody, t0, 0, []secret.String{oldSecret}, tenancy.ErrNoSignature},
		{"malformed", "t=abc,v1=00", hookBody, t0, 0, []secret.String{oldSecret}, tenancy.ErrMalformedHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tenancy.VerifyWebhook(tc.header, tc.body, tc.now, tc.tol, tc.secrets...)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("VerifyWebhook = %v, want %v", err, tc.want)
			}
		})
	}
}

// receiver is an httptest server behind the verifier middleware that records
// what its handler saw.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	srv    *httptest.Server
}

func newReceiver(t *testing.T, v *tenancy.WebhookVerifier) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, b)
		rc.mu.Unlock()
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) seen() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...)
}

func TestSenderToVerifierMiddleware(t *testing.T) {
	ctx := context.Background()
	now := t0
	clock := func() time.Time { return now }
	rc := newReceiver(t, &tenancy.WebhookVerifier{Secrets: []secret.String{newSecret, oldSecret}, Clock: clock})
	for _, tc := range []struct {
		name       string
		sendAt     time.Time
		secrets    []secret.String
		wantStatus int
	}{
		{"current secret", t0, []secret.String{newSecret}, 200},
		{"previous secret during rotation", t0, []secret.String{oldSecret}, 200},
		{"both secrets", t0, []secret.String{newSecret, oldSecret}, 200},
		{"unknown secret", t0, []secret.String{"whsec_someone_else_123456"}, 401},
		{"sent 6 minutes ago (replay)", t0.Add(-6 * time.Minute), []secret.String{newSecret}, 401},
		{"sender clock 6 minutes ahead", t0.Add(6 * time.Minute), []secret.String{newSecret}, 401},
		{"sender clock 2 minutes ahead", t0.Add(2 * time.Minute), []secret.String{newSecret}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rc.seen())
			s := &tenancy.WebhookSender{Clock: func() time.Time { return tc.sendAt }, Client: loopbackClient(t)}
			resp, err := s.Post(ctx, rc.srv.URL+"/hook", "application/json", hookBody, tc.secrets...)
			if tc.wantStatus == 200 {
				if err != nil || resp.StatusCode != 200 || string(resp.Body) != `{"status":"ok"}` {
					t.Fatalf("Post = %+v, %v", resp, err)
				}
				got := rc.seen()
				if len(got) != before+1 || !bytes.Equal(got[len(got)-1], hookBody) {
					t.Fatal("the handler did not see the exact body")
				}
				return
			}
			var se *tenancy.WebhookStatusError
			if !errors.As(err, &se) || se.StatusCode != tc.wantStatus || resp == nil || resp.StatusCode != tc.wantStatus {
				t.Fatalf("Post = %+v, %v; want status %d", resp, err, tc.wantStatus)
			}
			if !errors.Is(err, tenancy.ErrWebhookStatus) {
				t.Fatalf("error %v does not wrap ErrWebhookStatus", err)
			}
			if len(rc.seen()) != before {
				t.Fatal("the handler ran for a refused request")
			}
		})
	}
}

func TestVerifierRefusesTamperingAndSize(t *testing.T) {
	rc := newReceiver(t, &tenancy.WebhookVerifier{Secrets: []secret.String{newSecret}, MaxBodyBytes: 64})
	send := func(body []byte, header string) int {
		req, _ := http.NewRequest(http.MethodPost, rc.srv.URL, bytes.NewReader(body))
		if header != "" {
			req.Header.Set(tenancy.SignatureHeader, header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now()
	good := tenancy.SignWebhook(now, hookBody, newSecret)
	big := bytes.Repeat([]byte("x"), 65)
	for _, tc := range []struct {
		name   string
		body   []byte
		header string
		want   int
	}{
		{"valid", hookBody, good, 200},
		{"body changed", append(bytes.Clone(hookBody), '\n'), good, 401},
		{"no signature", hookBody, "", 401},
		{"garbage header", hookBody, "v1=zz", 401},
		{"signature moved to another timestamp", hookBody, strings.Replace(good, "t=", "t=1", 1), 401},
		{"body too large", big, tenancy.SignWebhook(now, big, newSecret), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := send(tc.body, tc.header); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
	if n := len(rc.seen()); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

func TestVerifierSecretsPerRequest(t *testing.T) {
	// Secrets chosen per request: each account verifies with its own.
	accounts := map[string]secret.String{"/a": oldSecret, "/b": newSecret}
	rc := newReceiver(t, &tenancy.WebhookVerifier{SecretsFor: func(r *http.Request) ([]secret.String, error) {
		s, ok := accounts[r.URL.Path]
		if !ok {
			return nil, errors.New("unknown account")
		}
		return []secret.String{s}, nil
	}})
	s := &tenancy.WebhookSender{Client: loopbackClient(t)}
	ctx := context.Background()
	if _, err := s.Post(ctx, rc.srv.URL+"/a", "application/json", hookBody, oldSecret); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Post(ctx, rc.srv.URL+"/b", "application/json", hookBody, oldSecret); !errors.Is(err, tenancy.ErrWebhookStatus) {
		t.Fatalf("account b with a's secret: %v", err)
	}
	if _, err := s.Post(ctx, rc.srv.URL+"/c", "application/json", hookBody, oldSecret); !errors.Is(err, tenancy.ErrWebhookStatus) {
		t.Fatalf("unknown account: %v", err)
	}
}

func TestSenderRefusesUnsigned(t *testing.T) {
	s := &tenancy.WebhookSender{}
	if _, err := s.Post(context.Background(), "http://127.0.0.1:1/x", "application/json", hookBody); !errors.Is(err, tenancy.ErrNoSecret) {
		t.Fatalf("Post without secret = %v, want ErrNoSecret", err)
	}
}

func TestPostAccountDuringRotation(t *testing.T) {
	ctx := context.Background()
	now := t0
	clock := func() time.Time { return now }
	acct := &tenancy.Account{WebhookSecret: newSecret, PreviousWebhookSecret: oldSecret, PreviousWebhookSecretUntil: t0.Add(time.Hour)}
	// A receiver that still holds only the old secret.
	rc := newReceiver(t, &tenancy.WebhookVerifier{Secrets: []secret.String{oldSecret}, Clock: clock})
	s := &tenancy.WebhookSender{Clock: clock, Client: loopbackClient(t)}
	if _, err := s.PostAccount(ctx, acct, rc.srv.URL, "application/json", hookBody); err != nil {
		t.Fatalf("during the overlap the old secret still verifies: %v", err)
	}
	now = t0.Add(time.Hour)
	if _, err := s.PostAccount(ctx, acct, rc.srv.URL, "application/json", hookBody); !errors.Is(err, tenancy.ErrWebhookStatus) {
		t.Fatalf("after the overlap only the new secret signs: %v", err)
	}
}

func TestParseSignatureHeader(t *testing.T) {
	mac := strings.Repeat("0f", 32)
	for _, tc := range []struct {
		in   string
		want error
		ts   int64
		n    int
	}{
		{"t=1700000000,v1=" + mac, nil, 1700000000, 1},
		{"t=1700000000,v1=" + mac + ",v1=" + mac, nil, 1700000000, 2},
		{"v0=abc, t=5 ,v1=" + mac, nil, 5, 1},
		{"", tenancy.ErrNoSignature, 0, 0},
		{"t=5", tenancy.ErrMalformedHeader, 0, 0},
		{"t=5,v1=" + mac[:62], tenancy.ErrMalformedHeader, 0, 0},
		{"t=x,v1=" + mac, tenancy.ErrMalformedHeader, 0, 0},
		{"t=5,v1=" + mac + ",v1=nothex", tenancy.ErrMalformedHeader, 0, 0},
		{"t=5,,v1=" + mac, tenancy.ErrMalformedHeader, 0, 0},
	} {
		s, err := tenancy.ParseSignatureHeader(tc.in)
		if !errors.Is(err, tc.want) || (tc.want == nil && (err != nil || s.Timestamp != tc.ts || len(s.V1) != tc.n)) {
			t.Errorf("ParseSignatureHeader(%q) = %+v, %v", tc.in, s, err)
		}
	}
}

// FuzzParseSignatureHeader checks the round-trip property of the public
// parser: what parses prints in canonical form, and the canonical form parses
// to the same signature.
func FuzzParseSignatureHeader(f *testing.F) {
	f.Add(tenancy.SignWebhook(t0, hookBody, oldSecret))
	f.Add(tenancy.SignWebhook(t0, hookBody, oldSecret, newSecret))
	f.Add("t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39")
	f.Add(" t=0 , v1=" + strings.Repeat("ab", 32))
	f.Add("t=1,v1=zz")
	f.Fuzz(func(t *testing.T, h string) {
		s, err := tenancy.ParseSignatureHeader(h)
		if err != nil {
			return
		}
		canon := s.String()
		s2, err := tenancy.ParseSignatureHeader(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, h, err)
		}
		if s2.Timestamp != s.Timestamp || len(s2.V1) != len(s.V1) {
			t.Fatalf("round trip changed %q: %+v vs %+v", h, s, s2)
		}
		for i := range s.V1 {
			if !bytes.Equal(s.V1[i], s2.V1[i]) {
				t.Fatalf("round trip changed v1[%d] of %q", i, h)
			}
		}
		if s2.String() != canon {
			t.Fatalf("canonical form not stable: %q vs %q", s2.String(), canon)
		}
	})
}

// A webhook URL may carry a token in its query or a password: neither may
// reach the error a failed POST returns (net/http quotes the URL).
func TestSenderErrorHidesURLSecrets(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: the POST fails with connection refused
	url := "http://hook-user:hook-pass@" + addr + "/events?token=tok-s3cret"
	var s tenancy.WebhookSender
	_, err = s.Post(context.Background(), url, "application/json", []byte(`{}`), secret.String("whsec_0123456789"))
	if err == nil {
		t.Fatal("POST to a closed port succeeded")
	}
	for _, leak := range []string{"tok-s3cret", "hook-pass"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q holds %q", err, leak)
		}
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not say which host failed", err)
	}
}
