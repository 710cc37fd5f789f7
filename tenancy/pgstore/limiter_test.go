package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/pgstore"
	"github.com/voicegw/voicegw/tenancy/storetest"
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

func newLimiter(t testing.TB, pool *pgxpool.Pool, opts *pgstore.LimiterOptions) *pgstore.Limiter {
	t.Helper()
	l, err := pgstore.NewLimiter(t.Context(), pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// expiry returns the expiry of a session's lease, or 0 when it has none.
func expiry(t *testing.T, pool *pgxpool.Pool, session string) int64 {
	t.Helper()
	var exp int64
	err := pool.QueryRow(context.Background(), `SELECT expires_at FROM tenancy_session_leases WHERE session_id = $1`, session).Scan(&exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	return exp
}

func TestLimiterConformance(t *testing.T) {
	storetest.RunLimiterTests(t, func(t *testing.T) tenancy.SessionLimiter {
		return newLimiter(t, newPool(t, newDSN(t)), nil)
	})
}

// TestLimiterConformanceManyPools runs the suite on a limiter that is in
// fact four gateways (four pools, four holders) taking turns: the contract
// holds across processes, not only across goroutines.
func TestLimiterConformanceManyPools(t *testing.T) {
	storetest.RunLimiterTests(t, func(t *testing.T) tenancy.SessionLimiter {
		dsn := newDSN(t)
		var m multiLimiter
		for i := range 4 {
			m = append(m, newLimiter(t, newPool(t, dsn), &pgstore.LimiterOptions{Holder: fmt.Sprint("gw", i)}))
		}
		return &m
	})
}

// multiLimiter spreads calls over several limiters, round robin.
type multiLimiter []*pgstore.Limiter

var turn atomic.Uint64

func (m *multiLimiter) next() *pgstore.Limiter { return (*m)[turn.Add(1)%uint64(len(*m))] }
func (m *multiLimiter) Acquire(ctx context.Context, a tenancy.SID, s string, limit int) error {
	return m.next().Acquire(ctx, a, s, limit)
}
func (m *multiLimiter) Release(ctx context.Context, a tenancy.SID, s string) error {
	return m.next().Release(ctx, a, s)
}
func (m *multiLimiter) InUse(ctx context.Context, a tenancy.SID) (int, error) {
	return m.next().InUse(ctx, a)
}

func TestUsageConformance(t *testing.T) {
	storetest.RunUsageTests(t, func(t *testing.T) tenancy.UsageCounter {
		c, err := pgstore.NewUsageCounter(context.Background(), newPool(t, newDSN(t)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

// TestLimiterConcurrentGateways: five gateways (five pools of their own)
// with twelve callers each start calls at once on two accounts, limits 7
// and 3: exactly 7 and 3 are admitted in total, the rest refused with
// ErrLimitReached; after releases the freed slots are taken again, never
// more.
func TestLimiterConcurrentGateways(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	var gws []*pgstore.Limiter
	for i := range 5 {
		gws = append(gws, newLimiter(t, newPool(t, dsn), &pgstore.LimiterOptions{Holder: fmt.Sprint("gw", i)}))
	}
	accounts := []struct {
		sid   tenancy.SID
		limit int
	}{{tenancy.NewSID(), 7}, {tenancy.NewSID(), 3}}
	round := func(name string) map[tenancy.SID][]string {
		var mu sync.Mutex
		admitted := map[tenancy.SID][]string{}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g, gw := range gws {
			for c := range 12 {
				wg.Go(func() {
					<-start
					a := accounts[c%2]
					session := fmt.Sprintf("%s-gw%d-call%d", name, g, c)
					switch err := gw.Acquire(ctx, a.sid, session, a.limit); {
					case err == nil:
						mu.Lock()
						admitted[a.sid] = append(admitted[a.sid], session)
						mu.Unlock()
					case !errors.Is(err, tenancy.ErrLimitReached):
						t.Errorf("Acquire: %v", err)
					}
				})
			}
		}
		close(start)
		wg.Wait()
		return admitted
	}
	first := round("r1")
	for _, a := range accounts {
		if len(first[a.sid]) != a.limit {
			t.Fatalf("account with limit %d: %d sessions admitted across 5 gateways", a.limit, len(first[a.sid]))
		}
		if n, err := gws[0].InUse(ctx, a.sid); err != nil || n != a.limit {
			t.Fatalf("InUse = %d, %v; want %d", n, err, a.limit)
		}
	}
	// Two calls of the first account end (released by whichever gateway).
	for i, s := range first[accounts[0].sid][:2] {
		if err := gws[i].Release(ctx, accounts[0].sid, s); err != nil {
			t.Fatal(err)
		}
	}
	second := round("r2")
	if got := len(second[accounts[0].sid]); got != 2 {
		t.Fatalf("after 2 releases, %d new sessions admitted, want 2", got)
	}
	if got := len(second[accounts[1].sid]); got != 0 {
		t.Fatalf("a full account admitted %d more", got)
	}
}

// TestLimiterSharedAndLeases: the leases of a gateway that stops renewing
// (it died) expire after TTL and free their slots; a renewed lease still
// counts.
func TestLimiterSharedAndLeases(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	gw1 := newLimiter(t, newPool(t, dsn), &pgstore.LimiterOptions{Holder: "gw1", TTL: time.Minute, Clock: clk.Now})
	gw2 := newLimiter(t, newPool(t, dsn), &pgstore.LimiterOptions{Holder: "gw2", TTL: time.Minute, Clock: clk.Now})
	acct := tenancy.NewSID()
	if err := gw1.Acquire(ctx, acct, "call-1", 2); err != nil {
		t.Fatal(err)
	}
	if err := gw2.Acquire(ctx, acct, "call-2", 2); err != nil {
		t.Fatal(err)
	}
	if err := gw2.Acquire(ctx, acct, "call-3", 2); !errors.Is(err, tenancy.ErrLimitReached) {
		t.Fatalf("third call across two gateways: %v, want ErrLimitReached", err)
	}
	clk.Add(40 * time.Second)
	if n, err := gw2.Renew(ctx); err != nil || n != 1 {
		t.Fatalf("Renew = %d, %v", n, err)
	}
	clk.Add(30 * time.Second) // gw1's lease is 70 s old: expired
	if n, _ := gw2.InUse(ctx, acct); n != 1 {
		t.Fatalf("InUse after gw1's lease expired = %d, want 1", n)
	}
	if err := gw2.Acquire(ctx, acct, "call-3", 2); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if err := gw1.Acquire(ctx, acct, "call-4", 2); !errors.Is(err, tenancy.ErrLimitReached) {
		t.Fatalf("gw2's renewed lease must still count: %v", err)
	}
	// gw1 comes back and renews: its expired lease is not brought back.
	if n, err := gw1.Renew(ctx); err != nil || n != 0 {
		t.Fatalf("Renew of an expired lease = %d, %v; want 0", n, err)
	}
	if err := gw2.Release(ctx, acct, "call-2"); err != nil {
		t.Fatal(err)
	}
	if err := gw1.Acquire(ctx, acct, "call-4", 2); err != nil {
		t.Fatal(err)
	}
}

// TestLimiterDatabaseClock: without a Clock, leases are stamped with the
// database server's clock, the one clock every gateway shares.
func TestLimiterDatabaseClock(t *testing.T) {
	ctx := t.Context()
	pool := newPool(t, newDSN(t))
	l := newLimiter(t, pool, &pgstore.LimiterOptions{TTL: time.Hour})
	serverNow := func() int64 {
		var us int64
		if err := pool.QueryRow(ctx, `SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint`).Scan(&us); err != nil {
			t.Fatal(err)
		}
		return us
	}
	before := serverNow()
	if err := l.Acquire(ctx, tenancy.NewSID(), "call", 1); err != nil {
		t.Fatal(err)
	}
	after := serverNow()
	exp := expiry(t, pool, "call")
	if exp < before+time.Hour.Microseconds() || exp > after+time.Hour.Microseconds() {
		t.Fatalf("lease expires at %d, want the server's time of the call + 1 h: in [%d, %d]", exp,
			before+time.Hour.Microseconds(), after+time.Hour.Microseconds())
	}
}

// lockLeases makes the database refuse writes to the lease table: another
// session holds an exclusive lock on it until the returned function rolls
// back.
func lockLeases(t *testing.T, dsn string) (unlock func()) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `LOCK TABLE tenancy_session_leases IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = tx.Rollback(context.Background())
		_ = conn.Close(context.Background())
	}
}

// TestLimiterFailedReleaseIsRetried: a release that fails (another session
// locks the table: the database takes no write) leaves the lease; the
// Limiter never renews it (the session ended) and retries the release once
// the database takes writes again, after which the slot is free.
func TestLimiterFailedReleaseIsRetried(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	pool := newPool(t, dsn)
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := newLimiter(t, pool, &pgstore.LimiterOptions{Holder: "gw1", TTL: time.Minute, Clock: clk.Now})
	acct := tenancy.NewSID()
	for _, s := range []string{"live", "ended", "ended-ok"} {
		if err := l.Acquire(ctx, acct, s, 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Release(ctx, acct, "ended-ok"); err != nil {
		t.Fatal(err)
	}
	unlock := lockLeases(t, dsn)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := l.Release(short, acct, "ended")
	cancel()
	if !errors.Is(err, tenancy.ErrLimiterUnavailable) {
		t.Fatalf("Release while the table is locked = %v, want ErrLimiterUnavailable", err)
	}
	if code, _ := tenancy.SIPStatus(err); code != 503 {
		t.Fatalf("SIPStatus = %d", code)
	}
	if l.PendingReleases() != 1 || l.Held() != 1 {
		t.Fatalf("pending %d, held %d; want 1 and 1", l.PendingReleases(), l.Held())
	}
	short, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
	if n, err := l.RetryReleases(short); n != 0 || err == nil {
		t.Fatalf("RetryReleases while locked = %d, %v; want 0 and an error", n, err)
	}
	cancel()
	unlock()

	stale := expiry(t, pool, "ended")
	if stale == 0 {
		t.Fatal("the failed release removed the lease after all; the test injects nothing")
	}
	clk.Add(40 * time.Second)
	if n, err := l.Renew(ctx); err != nil || n != 1 {
		t.Fatalf("Renew = %d, %v; want 1 (the live session only)", n, err)
	}
	if got := expiry(t, pool, "ended"); got != stale {
		t.Fatal("the lease of a session that ended was renewed")
	}
	if got := expiry(t, pool, "live"); got != clk.Now().Add(time.Minute).UnixMicro() {
		t.Fatal("the live session's lease was not renewed")
	}
	if n, err := l.RetryReleases(ctx); n != 1 || err != nil {
		t.Fatalf("RetryReleases after recovery = %d, %v; want 1", n, err)
	}
	if expiry(t, pool, "ended") != 0 || l.PendingReleases() != 0 {
		t.Fatal("the retried release did not remove the lease")
	}
	if n, _ := l.InUse(ctx, acct); n != 1 {
		t.Fatalf("InUse = %d, want 1", n)
	}
}

// TestLimiterRunRetriesReleases: Run retries a failed release by itself.
func TestLimiterRunRetriesReleases(t *testing.T) {
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	dsn := newDSN(t)
	l := newLimiter(t, newPool(t, dsn), &pgstore.LimiterOptions{TTL: 60 * time.Millisecond})
	acct := tenancy.NewSID()
	if err := l.Acquire(ctx, acct, "call", 1); err != nil {
		t.Fatal(err)
	}
	unlock := lockLeases(t, dsn)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	if err := l.Release(short, acct, "call"); err == nil {
		t.Fatal("Release succeeded on a locked table")
	}
	cancel()
	unlock()
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	for l.PendingReleases() != 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.Acquire(ctx, acct, "next-call", 1); err != nil {
		t.Fatalf("the account's one slot is still taken after Run retried the release: %v", err)
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

// TestLimiterRun: Run keeps renewing a long call's lease.
func TestLimiterRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pool := newPool(t, newDSN(t))
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	const ttl = 60 * time.Millisecond // Run ticks every 20 ms of real time
	l := newLimiter(t, pool, &pgstore.LimiterOptions{TTL: ttl, Clock: clk.Now})
	acct := tenancy.NewSID()
	if err := l.Acquire(ctx, acct, "long-call", 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	for range 5 {
		clk.Add(2 * ttl / 3)
		want := clk.Now().Add(ttl).UnixMicro()
		for expiry(t, pool, "long-call") != want {
			time.Sleep(time.Millisecond)
		}
	}
	if n, err := l.InUse(ctx, acct); err != nil || n != 1 {
		t.Fatalf("lease lost while Run renews it: %d, %v", n, err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

// checkCounts fails unless the per-account count the triggers keep equals
// the leases in the table, for every account.
func checkCounts(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var bad int
	err := pool.QueryRow(context.Background(), `SELECT count(*) FROM (
		SELECT account_sid, count(*) AS n FROM tenancy_session_leases GROUP BY account_sid) l
		FULL JOIN tenancy_session_counts c USING (account_sid)
		WHERE coalesce(l.n, 0) != coalesce(c.leases, 0)`).Scan(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Fatalf("%d accounts whose count differs from their leases", bad)
	}
}

// TestLimiterCountStaysExact: Acquire reads the account's count of leases
// (kept by triggers) instead of counting them; the count stays equal to the
// leases through acquisitions by two gateways, a re-acquisition, renewals,
// expiry (InUse leaves expired leases out before they are deleted, and the
// next Acquire deletes them before it compares) and releases, including
// the release of a lease deleted already.
func TestLimiterCountStaysExact(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	probe := newPool(t, dsn)
	gw1 := newLimiter(t, newPool(t, dsn), &pgstore.LimiterOptions{Holder: "gw1", TTL: time.Minute, Clock: clk.Now})
	gw2 := newLimiter(t, newPool(t, dsn), &pgstore.LimiterOptions{Holder: "gw2", TTL: time.Minute, Clock: clk.Now})
	acct := tenancy.NewSID()
	inUse := func(want int) {
		t.Helper()
		if n, err := gw2.InUse(ctx, acct); err != nil || n != want {
			t.Fatalf("InUse = %d, %v; want %d", n, err, want)
		}
	}
	for _, s := range []string{"a", "b", "c"} {
		if err := gw1.Acquire(ctx, acct, s, 0); err != nil { // unlimited: still counted
			t.Fatal(err)
		}
	}
	for _, s := range []string{"d", "e", "d"} {
		if err := gw2.Acquire(ctx, acct, s, 6); err != nil {
			t.Fatal(err)
		}
	}
	inUse(5)
	checkCounts(t, probe)
	clk.Add(40 * time.Second)
	if n, err := gw2.Renew(ctx); err != nil || n != 2 {
		t.Fatalf("Renew = %d, %v; want 2", n, err)
	}
	clk.Add(30 * time.Second) // gw1's three leases expired, not yet deleted
	inUse(2)
	checkCounts(t, probe)
	if err := gw2.Acquire(ctx, acct, "f", 3); err != nil {
		t.Fatalf("after gw1's leases expired: %v", err)
	}
	checkCounts(t, probe)
	var le *tenancy.LimitError
	if err := gw2.Acquire(ctx, acct, "g", 3); !errors.As(err, &le) || le.InUse != 3 {
		t.Fatalf("fourth session at limit 3: %v, want a LimitError with 3 in use", err)
	}
	if err := gw1.Release(ctx, acct, "a"); err != nil { // deleted already
		t.Fatal(err)
	}
	if err := gw2.Release(ctx, acct, "d"); err != nil {
		t.Fatal(err)
	}
	inUse(2)
	checkCounts(t, probe)
	if err := gw1.Acquire(ctx, acct, "g", 3); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	checkCounts(t, probe)
}
