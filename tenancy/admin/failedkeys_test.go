package admin_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// TestFailedKeysThrottled: a source that sends wrong keys gets 429 with
// Retry-After past its allowance, even with a good key then (its requests
// are not checked until it waits); good keys cost it nothing; and the
// limiter given in Config is the one counted, so another API sharing it
// sees the same failures.
func TestFailedKeysThrottled(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	shared := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: 3, Every: time.Minute, Clock: func() time.Time { return now }})
	e := newEnv(t, func(c *admin.Config) { c.FailedKeys = shared })
	for range 5 {
		e.do(http.MethodGet, "/me", e.admin, nil).must(t, http.StatusOK) // refunded
	}
	for range 3 {
		e.do(http.MethodGet, "/me", "vgk_wrong_wrong_wrong_wrong_wrong", nil).must(t, http.StatusUnauthorized)
	}
	r := e.do(http.MethodGet, "/me", e.admin, nil).must(t, http.StatusTooManyRequests)
	if p := r.problem(t); p.Code != admin.CodeTooManyRequests || r.header.Get("Retry-After") != "60" {
		t.Fatalf("throttled: %+v, Retry-After %q", p, r.header.Get("Retry-After"))
	}
	// The shared limiter holds the source's failures for the other APIs.
	if ok, _ := shared.Reserve(netipLoopback); ok {
		t.Fatal("the shared limiter does not count the admin API's failures")
	}
	now = now.Add(time.Minute)
	e.do(http.MethodGet, "/me", e.admin, nil).must(t, http.StatusOK)
}

var netipLoopback = netip.MustParseAddr("127.0.0.1")
