package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicegw/voicegw/tenancy"
)

// RunLimiterTests checks the tenancy.SessionLimiter contract against limiters
// made by newLimiter (each fresh and empty).
func RunLimiterTests(t *testing.T, newLimiter func(t *testing.T) tenancy.SessionLimiter) {
	ctx := context.Background()
	a, b := tenancy.NewSID(), tenancy.NewSID()

	t.Run("Limit", func(t *testing.T) {
		l := newLimiter(t)
		for _, tc := range []struct {
			op      string
			acct    tenancy.SID
			session string
			limit   int
			want    error
			inUse   int
		}{
			{"acquire", a, "s1", 2, nil, 1},
			{"acquire", a, "s2", 2, nil, 2},
			{"acquire", a, "s3", 2, tenancy.ErrLimitReached, 2},
			{"acquire", a, "s1", 2, nil, 2}, // held already: counts once
			{"acquire", b, "s3", 2, nil, 2}, // other account, own count
			{"release", a, "s1", 0, nil, 1},
			{"release", a, "s1", 0, nil, 1}, // twice: fine
			{"release", a, "nope", 0, nil, 1},
			{"acquire", a, "s3", 2, nil, 2},
			{"acquire", a, "s4", 0, nil, 3}, // no limit
			{"acquire", a, "s5", 3, tenancy.ErrLimitReached, 3},
			{"acquire", a, "s5", 4, nil, 4}, // raised limit
		} {
			var err error
			if tc.op == "acquire" {
				err = l.Acquire(ctx, tc.acct, tc.session, tc.limit)
			} else {
				err = l.Release(ctx, tc.acct, tc.session)
			}
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("%s(%s) = %v, want %v", tc.op, tc.session, err, tc.want)
			}
			if tc.want != nil {
				var le *tenancy.LimitError
				if !errors.As(err, &le) || le.Limit != tc.limit || le.InUse != tc.inUse || le.Account != tc.acct {
					t.Fatalf("refusal %#v, want a LimitError with limit %d, in use %d", err, tc.limit, tc.inUse)
				}
				if code, _ := tenancy.SIPStatus(err); code != 486 {
					t.Fatalf("SIPStatus = %d, want 486", code)
				}
			}
			if n, err := l.InUse(ctx, a); err != nil || n != tc.inUse {
				t.Fatalf("after %s(%s): InUse = %d, %v; want %d", tc.op, tc.session, n, err, tc.inUse)
			}
		}
		if n, _ := l.InUse(ctx, b); n != 1 {
			t.Fatalf("InUse(b) = %d, want 1", n)
		}
	})

	t.Run("ConcurrentDistinctSessions", func(t *testing.T) {
		l := newLimiter(t)
		const limit, callers = 10, 40
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch err := l.Acquire(ctx, a, fmt.Sprint("call-", i), limit); {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, tenancy.ErrLimitReached):
					refused.Add(1)
				default:
					t.Errorf("Acquire: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != limit || refused.Load() != callers-limit {
			t.Fatalf("%d acquired, %d refused; want %d and %d", ok.Load(), refused.Load(), limit, callers-limit)
		}
		if n, _ := l.InUse(ctx, a); n != limit {
			t.Fatalf("InUse = %d, want %d", n, limit)
		}
	})

	t.Run("ConcurrentSameSession", func(t *testing.T) {
		l := newLimiter(t)
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l.Acquire(ctx, a, "one-call", 1); err != nil {
					t.Errorf("Acquire of a held session: %v", err)
				}
			}()
		}
		wg.Wait()
		if n, _ := l.InUse(ctx, a); n != 1 {
			t.Fatalf("one recorded call counted %d times", n)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		l := newLimiter(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := l.Acquire(cctx, a, "s", 1)
		if !errors.Is(err, tenancy.ErrLimiterUnavailable) {
			t.Fatalf("Acquire with canceled context = %v, want ErrLimiterUnavailable", err)
		}
		if code, _ := tenancy.SIPStatus(err); code != 503 {
			t.Fatalf("SIPStatus = %d, want 503", code)
		}
	})
}

// RunUsageTests checks the tenancy.UsageCounter contract.
func RunUsageTests(t *testing.T, newCounter func(t *testing.T) tenancy.UsageCounter) {
	ctx := context.Background()
	a, b := tenancy.NewSID(), tenancy.NewSID()
	t.Run("Count", func(t *testing.T) {
		c := newCounter(t)
		for _, s := range []struct {
			acct tenancy.SID
			id   string
			d    time.Duration
		}{
			{a, "s1", 61 * time.Second},        // 2 minutes
			{a, "s2", 60 * time.Second},        // 1 minute
			{a, "s1", 61 * time.Second},        // repeated: counts once
			{a, "s3", 0},                       // 0 minutes
			{a, "s4", 1500 * time.Millisecond}, // 2 s, 1 minute
			{b, "s1", 10 * time.Minute},        // other account
		} {
			if err := c.AddSession(ctx, s.acct, s.id, s.d); err != nil {
				t.Fatal(err)
			}
		}
		u, err := c.Usage(ctx, a)
		if err != nil || u != (tenancy.Usage{Sessions: 4, Seconds: 61 + 60 + 0 + 2, Minutes: 4}) {
			t.Fatalf("Usage(a) = %+v, %v", u, err)
		}
		acct := &tenancy.Account{SID: a, Unit: tenancy.UnitMinutes, MaxUnits: 4}
		if err := tenancy.CheckQuota(acct, u); !errors.Is(err, tenancy.ErrQuotaExhausted) {
			t.Fatalf("CheckQuota at the maximum = %v", err)
		}
		if err := c.Reset(ctx, a); err != nil {
			t.Fatal(err)
		}
		if u, _ := c.Usage(ctx, a); u != (tenancy.Usage{}) {
			t.Fatalf("after Reset: %+v", u)
		}
		if u, _ := c.Usage(ctx, b); u.Minutes != 10 {
			t.Fatalf("Reset of a changed b: %+v", u)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := newCounter(t)
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Ten distinct sessions, each reported three times.
				if err := c.AddSession(ctx, a, fmt.Sprint("s", i%10), 90*time.Second); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if u, _ := c.Usage(ctx, a); u.Sessions != 10 || u.Minutes != 20 {
			t.Fatalf("Usage = %+v, want 10 sessions, 20 minutes", u)
		}
	})
}
