package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

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
