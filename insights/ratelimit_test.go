package insights_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/rbac/secret"
)

// rbac's key store plugs into the handler as it is.
var _ insights.KeyVerifier = (*rbac.KeyStore)(nil)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// countingKeys counts the keys the handler asks the store about.
type countingKeys struct {
	*rbac.KeyStore
	checked atomic.Int32
}

func (c *countingKeys) VerifyKey(ctx context.Context, key secret.String) (*rbac.Principal, error) {
	c.checked.Add(1)
	return c.KeyStore.VerifyKey(ctx, key)
}

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip (one kept-alive connection, as an attacker would use).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxConnsPerHost: 1}}
}

// TestHTTPFailedKeysThrottled runs the attack of issue 14 (wrong keys as
// fast as one connection sends them) against the handler over real HTTP:
// after the burst the source gets 429 with Retry-After and its keys are not
// even looked up, valid ones included, until it has waited; another source
// address is unaffected; a source with a valid key is never slowed down.
func TestHTTPFailedKeysThrottled(t *testing.T) {
	ctx := context.Background()
	keyStore := memstore.NewKeyStore(nil)
	defer keyStore.Close()
	ck, err := keyStore.Create(ctx, rbac.NewAPIKey{Name: "reporting", ServiceType: "insights", Account: "acct-a", CreatorEmail: "ann@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := &countingKeys{KeyStore: keyStore}
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	const burst = 5
	idx := memindex.NewIndex()
	defer idx.Close()
	srv := httptest.NewServer(insights.NewHandler(insights.HandlerConfig{
		Index: idx, Keys: keys,
		FailedKeys: rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: burst, Every: time.Second, Clock: clk.Now}),
	}))
	defer srv.Close()
	url := srv.URL + "/insights/sessions?from_date=2025-03-01&to_date=2025-03-02"
	get := func(t *testing.T, c *http.Client, key string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if key != "" {
			req.Header.Set(insights.KeyHeader, key)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		return res.StatusCode, res.Header.Get("Retry-After"), e.Error
	}
	attacker, other := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")

	// A valid key from the attacker's address before the attack: 200, and
	// it costs nothing of the allowance.
	for range 3 * burst {
		if code, _, msg := get(t, attacker, ck.Secret.Reveal()); code != http.StatusOK {
			t.Fatalf("valid key: %d %s", code, msg)
		}
	}
	for i := range burst {
		key := "vgk_guess" + strings.Repeat("x", i)
		if i == burst-1 {
			key = "" // a missing key is a failure too
		}
		if code, _, msg := get(t, attacker, key); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s, want 401", i, code, msg)
		}
	}
	checked := keys.checked.Load()
	for _, key := range []string{"vgk_another_guess", ck.Secret.Reveal()} {
		code, retry, msg := get(t, attacker, key)
		if code != http.StatusTooManyRequests || retry != "1" || !strings.Contains(msg, "retry in 1 s") {
			t.Fatalf("after %d failures: %d, Retry-After %q, %q; want 429, 1", burst, code, retry, msg)
		}
	}
	if n := keys.checked.Load(); n != checked {
		t.Fatalf("%d keys looked up while the source was throttled", n-checked)
	}
	// Another address is not throttled by the attacker's failures.
	if code, _, msg := get(t, other, "vgk_wrong_from_elsewhere"); code != http.StatusUnauthorized {
		t.Fatalf("another source: %d %s, want 401", code, msg)
	}
	if code, _, msg := get(t, other, ck.Secret.Reveal()); code != http.StatusOK {
		t.Fatalf("another source with a valid key: %d %s", code, msg)
	}
	// After Retry-After, one more check.
	clk.Add(time.Second)
	if code, _, msg := get(t, attacker, ck.Secret.Reveal()); code != http.StatusOK {
		t.Fatalf("valid key after the wait: %d %s", code, msg)
	}
	if code, _, _ := get(t, attacker, "vgk_guess_again"); code != http.StatusUnauthorized {
		t.Fatalf("one guess after the wait: %d, want 401", code)
	}
	if code, _, _ := get(t, attacker, "vgk_guess_again_2"); code != http.StatusTooManyRequests {
		t.Fatalf("a second guess after a wait of one: %d, want 429", code)
	}
}
