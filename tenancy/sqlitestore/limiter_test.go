package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/sqlitestore"
)

// expiry returns the expiry of a session's lease, or 0 when it has none.
func expiry(t *testing.T, ctx context.Context, db *sql.DB, session string) int64 {
	t.Helper()
	var exp int64
	err := db.QueryRowContext(ctx, `SELECT expires_at FROM tenancy_session_leases WHERE session_id = ?`, session).Scan(&exp)
	if err != nil {
		return 0
	}
	return exp
}

// TestLimiterFailedReleaseIsRetried is issue 14's disk-full episode: a
// release that fails (here: another connection holds the database's write
// lock, a real SQLite failure) leaves the lease in the database; the
// Limiter never renews it (the session ended) and retries the release
// until the database takes writes again, after which the account's slot
// is free. The old Limiter renewed every lease it held, so such a lease
// lived until the process restarted.
func TestLimiterFailedReleaseIsRetried(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "limits.db")
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l, err := sqlitestore.NewLimiter(ctx, openDB(t, path), &sqlitestore.LimiterOptions{Holder: "gw1", TTL: time.Minute, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	acct := tenancy.NewSID()
	for _, s := range []string{"live", "ended", "ended-ok"} {
		if err := l.Acquire(ctx, acct, s, 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Release(ctx, acct, "ended-ok"); err != nil {
		t.Fatal(err)
	}

	// The database stops taking writes: another connection holds its lock.
	blocker := openDB(t, path)
	tx, err := blocker.BeginTx(ctx, nil) // IMMEDIATE: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tenancy_usage`); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err = l.Release(short, acct, "ended")
	cancel()
	if !errors.Is(err, tenancy.ErrLimiterUnavailable) {
		t.Fatalf("Release while the database is locked = %v, want ErrLimiterUnavailable", err)
	}
	if l.PendingReleases() != 1 || l.Held() != 1 {
		t.Fatalf("pending %d, held %d; want 1 and 1", l.PendingReleases(), l.Held())
	}
	short, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
	if n, err := l.RetryReleases(short); n != 0 || err == nil {
		t.Fatalf("RetryReleases while locked = %d, %v; want 0 and an error", n, err)
	}
	cancel()
	_ = tx.Rollback() // the database takes writes again
	probe := openDB(t, path)

	stale := expiry(t, ctx, probe, "ended")
	if stale == 0 {
		t.Fatal("the failed release removed the lease after all; the test injects nothing")
	}
	clk.Add(40 * time.Second)
	if n, err := l.Renew(ctx); err != nil || n != 1 {
		t.Fatalf("Renew = %d, %v; want 1 (the live session only)", n, err)
	}
	if got := expiry(t, ctx, probe, "ended"); got != stale {
		t.Fatal("the lease of a session that ended was renewed")
	}
	if got := expiry(t, ctx, probe, "live"); got != clk.Now().Add(time.Minute).UnixMicro() {
		t.Fatal("the live session's lease was not renewed")
	}
	if n, err := l.RetryReleases(ctx); n != 1 || err != nil {
		t.Fatalf("RetryReleases after recovery = %d, %v; want 1", n, err)
	}
	if expiry(t, ctx, probe, "ended") != 0 || l.PendingReleases() != 0 {
		t.Fatal("the retried release did not remove the lease")
	}
	if n, _ := l.InUse(ctx, acct); n != 1 {
		t.Fatalf("InUse = %d, want 1", n)
	}
}

// TestLimiterRunRetriesReleases: Run retries a failed release by itself.
func TestLimiterRunRetriesReleases(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	path := filepath.Join(t.TempDir(), "limits.db")
	l, err := sqlitestore.NewLimiter(ctx, openDB(t, path), &sqlitestore.LimiterOptions{TTL: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	acct := tenancy.NewSID()
	if err := l.Acquire(ctx, acct, "call", 1); err != nil {
		t.Fatal(err)
	}
	blocker := openDB(t, path)
	tx, err := blocker.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tenancy_usage`); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if err := l.Release(short, acct, "call"); err == nil {
		t.Fatal("Release succeeded on a locked database")
	}
	cancel()
	_ = tx.Rollback()
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

// checkCounts fails unless the per-account count the triggers keep equals
// the leases in the table, for every account.
func checkCounts(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	var bad int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM (
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
// leases through acquisitions by two instances sharing the file, a
// re-acquisition, renewals, expiry (InUse leaves expired leases out before
// they are swept, and the sweep of the next Acquire takes them out of the
// count before the limit is compared), and releases, including the release
// of a lease already swept.
func TestLimiterCountStaysExact(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "limits.db")
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	probe := openDB(t, path)
	gw1, err := sqlitestore.NewLimiter(ctx, openDB(t, path), &sqlitestore.LimiterOptions{Holder: "gw1", TTL: time.Minute, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	gw2, err := sqlitestore.NewLimiter(ctx, openDB(t, path), &sqlitestore.LimiterOptions{Holder: "gw2", TTL: time.Minute, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	acct, other := tenancy.NewSID(), tenancy.NewSID()
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
	for _, s := range []string{"d", "e", "d"} { // "d" twice: counted once
		if err := gw2.Acquire(ctx, acct, s, 6); err != nil {
			t.Fatal(err)
		}
	}
	if err := gw2.Acquire(ctx, other, "x", 1); err != nil {
		t.Fatal(err)
	}
	inUse(5)
	checkCounts(t, ctx, probe)
	if err := gw2.Acquire(ctx, acct, "f", 5); !errors.Is(err, tenancy.ErrLimitReached) {
		t.Fatalf("sixth session at limit 5: %v", err)
	}

	// gw1 dies; gw2 renews its two.
	clk.Add(40 * time.Second)
	if n, err := gw2.Renew(ctx); err != nil || n != 3 {
		t.Fatalf("Renew = %d, %v; want 3", n, err)
	}
	checkCounts(t, ctx, probe)
	clk.Add(30 * time.Second) // gw1's three leases expired, not yet swept
	inUse(2)
	checkCounts(t, ctx, probe)

	// The next Acquire sweeps them before it compares: 2 live + 1 = 3.
	if err := gw2.Acquire(ctx, acct, "f", 3); err != nil {
		t.Fatalf("after gw1's leases expired: %v", err)
	}
	var leases int
	if err := probe.QueryRowContext(ctx, `SELECT leases FROM tenancy_session_counts WHERE account_sid = ?`, string(acct)).Scan(&leases); err != nil || leases != 3 {
		t.Fatalf("count after the sweep = %d, %v; want 3", leases, err)
	}
	checkCounts(t, ctx, probe)
	var le *tenancy.LimitError
	if err := gw2.Acquire(ctx, acct, "g", 3); !errors.As(err, &le) || le.InUse != 3 {
		t.Fatalf("fourth session at limit 3: %v, want a LimitError with 3 in use", err)
	}

	// Releases: one swept already (no change), one live.
	if err := gw1.Release(ctx, acct, "a"); err != nil {
		t.Fatal(err)
	}
	inUse(3)
	if err := gw2.Release(ctx, acct, "d"); err != nil {
		t.Fatal(err)
	}
	inUse(2)
	checkCounts(t, ctx, probe)
	if err := gw1.Acquire(ctx, acct, "g", 3); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	checkCounts(t, ctx, probe)
	if n, _ := gw2.InUse(ctx, other); n != 1 {
		t.Fatalf("InUse(other) = %d, want 1", n)
	}
}

// TestLimiterMigratesLeases: a database written by the first version of the
// limits schema, with leases in progress, keeps them through the migration
// that adds the counts: they count against the limit at once.
func TestLimiterMigratesLeases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "limits.db")
	db := openDB(t, path)
	if err := sqlitedb.Migrate(ctx, db, sqlitestore.LimitsSchemaName, limitsSchemaV1); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	acct := tenancy.NewSID()
	exp := clk.Now().Add(time.Minute).UnixMicro()
	for _, s := range []string{"old-1", "old-2"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO tenancy_session_leases(account_sid, session_id, holder, expires_at) VALUES (?, ?, 'gw0', ?)`,
			string(acct), s, exp); err != nil {
			t.Fatal(err)
		}
	}
	l, err := sqlitestore.NewLimiter(ctx, db, &sqlitestore.LimiterOptions{Holder: "gw1", TTL: time.Minute, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, ctx, db)
	if n, err := l.InUse(ctx, acct); err != nil || n != 2 {
		t.Fatalf("InUse after migration = %d, %v; want 2", n, err)
	}
	if err := l.Acquire(ctx, acct, "new", 3); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(ctx, acct, "one-too-many", 3); !errors.Is(err, tenancy.ErrLimitReached) {
		t.Fatalf("past the limit with migrated leases: %v", err)
	}
	checkCounts(t, ctx, db)
}

// limitsSchemaV1 is the first step of the limits schema, as released.
var limitsSchemaV1 = []string{`
CREATE TABLE tenancy_session_leases (
	account_sid TEXT NOT NULL,
	session_id  TEXT NOT NULL,
	holder      TEXT NOT NULL,
	expires_at  INTEGER NOT NULL,
	PRIMARY KEY (account_sid, session_id)
);
CREATE INDEX tenancy_session_leases_holder ON tenancy_session_leases(holder);
CREATE TABLE tenancy_usage (
	account_sid TEXT NOT NULL,
	session_id  TEXT NOT NULL,
	seconds     INTEGER NOT NULL,
	minutes     INTEGER NOT NULL,
	PRIMARY KEY (account_sid, session_id)
);`}
