package rbac_test

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicegw/voicegw/rbac"
)

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

func TestFailureLimiter(t *testing.T) {
	a, b := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.8")
	t.Run("BurstThenWait", func(t *testing.T) {
		clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		l := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: 3, Every: 2 * time.Second, Clock: clk.Now})
		for i := range 3 {
			if ok, _ := l.Reserve(a); !ok {
				t.Fatalf("failure %d of a burst of 3 refused", i+1)
			}
		}
		ok, wait := l.Reserve(a)
		if ok || wait != 2*time.Second {
			t.Fatalf("fourth failure: ok %v, wait %v; want refused, 2s", ok, wait)
		}
		if ok, _ := l.Reserve(b); !ok {
			t.Fatal("another source was throttled by a's failures")
		}
		clk.Add(time.Second)
		if ok, wait := l.Reserve(a); ok || wait != time.Second {
			t.Fatalf("half-way: ok %v, wait %v; want refused, 1s", ok, wait)
		}
		clk.Add(time.Second)
		if ok, _ := l.Reserve(a); !ok {
			t.Fatal("a's allowance did not come back after the wait")
		}
		if ok, _ := l.Reserve(a); ok {
			t.Fatal("one wait gave back more than one check")
		}
	})
	t.Run("RefundKeepsValidClientsUnthrottled", func(t *testing.T) {
		clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		l := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: 2, Clock: clk.Now})
		for i := range 1000 {
			ok, _ := l.Reserve(a)
			if !ok {
				t.Fatalf("request %d with a valid key throttled", i)
			}
			l.Refund(a)
		}
		l.Reserve(a)
		l.Reserve(a)
		if ok, _ := l.Reserve(a); ok {
			t.Fatal("refunds built up beyond the burst")
		}
	})
	t.Run("IPv6CountedByPrefix", func(t *testing.T) {
		clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		l := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: 1, Clock: clk.Now})
		l.Reserve(netip.MustParseAddr("2001:db8:1:2::1"))
		if ok, _ := l.Reserve(netip.MustParseAddr("2001:db8:1:2:ffff::9")); ok {
			t.Fatal("another address of the same /64 got its own allowance")
		}
		if ok, _ := l.Reserve(netip.MustParseAddr("2001:db8:1:3::1")); !ok {
			t.Fatal("another /64 was throttled")
		}
		l.Reserve(netip.MustParseAddr("192.0.2.1"))
		if ok, _ := l.Reserve(netip.MustParseAddr("::ffff:192.0.2.1")); ok {
			t.Fatal("an IPv4-mapped IPv6 address is counted apart from its IPv4 address")
		}
	})
	t.Run("MaxSources", func(t *testing.T) {
		clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		l := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: 2, MaxSources: 2, Clock: clk.Now})
		l.Reserve(a)
		l.Reserve(b)
		// Two sources tracked: the others share one allowance of 2.
		c, d := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
		l.Reserve(c)
		l.Reserve(d)
		if ok, _ := l.Reserve(netip.MustParseAddr("203.0.113.3")); ok {
			t.Fatal("sources past MaxSources are not limited together")
		}
		// Once a and b are full again they are forgotten, making room.
		clk.Add(time.Minute)
		for i := range 2 {
			if ok, _ := l.Reserve(c); !ok {
				t.Fatalf("check %d of a new source refused after the table was swept", i)
			}
		}
	})
	t.Run("ParallelGuessesBounded", func(t *testing.T) {
		clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		l := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: 10, Clock: clk.Now})
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() {
				if allowed, _ := l.Reserve(a); allowed {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 10 {
			t.Fatalf("%d of 200 parallel checks allowed, want the burst (10)", ok.Load())
		}
	})
	t.Run("ZeroConfig", func(t *testing.T) {
		l := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{})
		n := 0
		for {
			if ok, wait := l.Reserve(a); !ok {
				if wait <= 0 || wait > time.Second {
					t.Fatalf("default wait %v, want within 1s", wait)
				}
				break
			}
			n++
		}
		if n != 10 {
			t.Fatalf("default burst %d, want 10", n)
		}
	})
}

func TestCheckSecretStrength(t *testing.T) {
	for _, tc := range []struct {
		secret string
		ok     bool
	}{
		{"kR7-vq2p_Lx9#mB4wZ1t", true},
		{"change-me-reporting-key-0001", true},
		{"vgk_I6gN6O5lclI44dNNRrWndZYB2DSnzaaf8iGcfjEToLM", true},
		{"abcdefghijklmnopqrstu", true}, // 21 lowercase letters: 98 bits, at the edge
		{"abcdefghijklmnopqrst", false}, // 20: 94 bits
		{"short", false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"abababababababababababababababab", false},
		{"01234567890123456789012345678", true},  // 29 digits: 96.3 bits
		{"0123456789012345678901234567", false},  // 28 digits: 93 bits
		{"a perfectly long secret value", false}, // spaces
		{"t\u00e9l\u00e9phone-secret-0123456789", false},
		{string(make([]byte, 300)), false},
	} {
		err := rbac.CheckSecretStrength(tc.secret)
		if (err == nil) != tc.ok {
			t.Errorf("CheckSecretStrength(%q) = %v, want ok %v", tc.secret, err, tc.ok)
		}
		if err != nil && len(tc.secret) > 3 && strings.Contains(err.Error(), tc.secret) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
	err := rbac.CheckSecretStrength("abc defghijklmnopqrstuvwxyz")
	if fes := rbac.FieldErrors(err); len(fes) != 1 || fes[0].Reason != "character at position 4 is not printable ASCII (no spaces)" {
		t.Fatalf("position of the space: %v", err)
	}
}
