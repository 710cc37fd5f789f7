package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/tenancy"
)

// LimitsSchemaName versions the tables of Limiter and UsageCounter.
const LimitsSchemaName = "tenancy_limits"

// limitsSchema's second step keeps a count of leases per account
// (tenancy_session_counts, kept by triggers) and indexes the leases by
// expiry, so Acquire neither counts nor scans an account's leases; it
// also makes the lease table WITHOUT ROWID and drops its unused holder
// index, so a lease is written in two B-trees instead of four.
var limitsSchema = []string{`
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
);`, `
CREATE TABLE tenancy_session_leases_v2 (
	account_sid TEXT NOT NULL,
	session_id  TEXT NOT NULL,
	holder      TEXT NOT NULL,
	expires_at  INTEGER NOT NULL,
	PRIMARY KEY (account_sid, session_id)
) WITHOUT ROWID;
INSERT INTO tenancy_session_leases_v2(account_sid, session_id, holder, expires_at)
	SELECT account_sid, session_id, holder, expires_at FROM tenancy_session_leases;
DROP TABLE tenancy_session_leases;
ALTER TABLE tenancy_session_leases_v2 RENAME TO tenancy_session_leases;
CREATE INDEX tenancy_session_leases_expiry ON tenancy_session_leases(account_sid, expires_at);
CREATE TABLE tenancy_session_counts (
	account_sid TEXT PRIMARY KEY,
	leases      INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO tenancy_session_counts(account_sid, leases)
	SELECT account_sid, count(*) FROM tenancy_session_leases GROUP BY account_sid;
CREATE TRIGGER tenancy_session_leases_count_ins AFTER INSERT ON tenancy_session_leases BEGIN
	INSERT INTO tenancy_session_counts(account_sid, leases) VALUES (NEW.account_sid, 1)
		ON CONFLICT(account_sid) DO UPDATE SET leases = leases + 1;
END;
CREATE TRIGGER tenancy_session_leases_count_del AFTER DELETE ON tenancy_session_leases BEGIN
	UPDATE tenancy_session_counts SET leases = leases - 1 WHERE account_sid = OLD.account_sid;
END;
CREATE TRIGGER tenancy_session_leases_count_move AFTER UPDATE OF account_sid ON tenancy_session_leases
	WHEN NEW.account_sid IS NOT OLD.account_sid BEGIN
	UPDATE tenancy_session_counts SET leases = leases - 1 WHERE account_sid = OLD.account_sid;
	INSERT INTO tenancy_session_counts(account_sid, leases) VALUES (NEW.account_sid, 1)
		ON CONFLICT(account_sid) DO UPDATE SET leases = leases + 1;
END;`}

// LimiterOptions configures a Limiter. The zero value (or nil) works.
type LimiterOptions struct {
	// Holder names this gateway instance in the lease table. Default: a
	// random identifier per Limiter.
	Holder string
	// TTL is how long a lease lives without renewal. A session of an
	// instance that died is freed at most TTL later. Default: 2 minutes.
	TTL time.Duration
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// Logger receives renewal failures. Default: discard.
	Logger *slog.Logger
}

// Limiter is a tenancy.SessionLimiter whose sessions live as leases in an
// SQLite database, so every gateway process that opens the same database file
// (on one host; SQLite locking does not work over network file systems)
// shares one count per account.
//
// Each Acquire inserts a lease (account, session, holder, expiry) in an
// IMMEDIATE transaction that first drops the account's expired leases and,
// for an account with a limit, reads its count of leases, so concurrent
// instances never exceed the limit. The count is a row per account that
// triggers of the lease table keep (every insert and delete of a lease, by
// any process and any path: release, expiry sweep, migration), so an
// Acquire costs the same whatever the number of sessions in progress; an
// account without a limit (limit <= 0) is not counted at all. A lease
// lives TTL; run Run in a goroutine (or call Renew and RetryReleases
// periodically) for the life of the gateway. When an instance dies without
// releasing, its sessions free themselves once their leases expire.
//
// The Limiter remembers which sessions it acquired and has not released:
// Renew extends those leases only, so the lease of a session that ended is
// never renewed, even when its release failed (a full disk, a locked
// database). A failed release is kept and retried by Run (RetryReleases)
// until it succeeds; should the process die first, the lease expires within
// TTL.
//
// Gateways on several hosts share a limiter by implementing
// tenancy.SessionLimiter with the same contract over a shared server (for
// example a Redis sorted set per account scored by expiry, updated by one
// Lua script; or this schema in PostgreSQL with SELECT ... FOR UPDATE).
type Limiter struct {
	db     *sql.DB
	holder string
	ttl    time.Duration
	now    func() time.Time
	log    *slog.Logger

	q *limiterStmts

	mu      sync.Mutex
	held    map[lease]struct{} // acquired and not released: renewed
	pending map[lease]struct{} // released, but not yet from the database: retried, never renewed
}

type lease struct {
	account tenancy.SID
	session string
}

var _ tenancy.SessionLimiter = (*Limiter)(nil)

// NewLimiter returns a Limiter over db (opened with OpenDB, possibly shared
// with the stores) and brings its schema up to date.
func NewLimiter(ctx context.Context, db *sql.DB, opts *LimiterOptions) (*Limiter, error) {
	var o LimiterOptions
	if opts != nil {
		o = *opts
	}
	if o.Holder == "" {
		o.Holder = "gw-" + rand.Text()
	}
	if o.TTL <= 0 {
		o.TTL = 2 * time.Minute
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := sqlitedb.Migrate(ctx, db, LimitsSchemaName, limitsSchema); err != nil {
		return nil, err
	}
	q, err := prepareLimiter(ctx, db)
	if err != nil {
		return nil, err
	}
	return &Limiter{db: db, holder: o.Holder, ttl: o.TTL, now: o.Clock, log: o.Logger, q: q,
		held: map[lease]struct{}{}, pending: map[lease]struct{}{}}, nil
}

// limiterStmts are the Limiter's statements, prepared once (database/sql
// prepares each again on every connection that runs it, once, and closes
// them with the database).
type limiterStmts struct {
	sweep, take, count, upsert, release, inUse, renew *sql.Stmt
}

func prepareLimiter(ctx context.Context, db *sql.DB) (*limiterStmts, error) {
	var q limiterStmts
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&q.sweep, `DELETE FROM tenancy_session_leases WHERE account_sid = ? AND expires_at <= ?`},
		{&q.take, `UPDATE tenancy_session_leases SET holder = ?, expires_at = ? WHERE account_sid = ? AND session_id = ?`},
		{&q.count, `SELECT leases FROM tenancy_session_counts WHERE account_sid = ?`},
		{&q.upsert, `INSERT INTO tenancy_session_leases(account_sid, session_id, holder, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT(account_sid, session_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`},
		{&q.release, `DELETE FROM tenancy_session_leases WHERE account_sid = ? AND session_id = ?`},
		{&q.inUse, `SELECT coalesce((SELECT leases FROM tenancy_session_counts WHERE account_sid = ?1), 0)
			- (SELECT count(*) FROM tenancy_session_leases WHERE account_sid = ?1 AND expires_at <= ?2)`},
		{&q.renew, `UPDATE tenancy_session_leases SET expires_at = ?
			WHERE account_sid = ? AND session_id = ? AND holder = ? AND expires_at > ?`},
	} {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			for _, s := range []*sql.Stmt{q.sweep, q.take, q.count, q.upsert, q.release, q.inUse, q.renew} {
				if s != nil {
					_ = s.Close() // the ones prepared before
				}
			}
			return nil, fmt.Errorf("sqlitestore: preparing the limiter's statements: %w", err)
		}
		*p.st = st
	}
	return &q, nil
}

// Holder returns this instance's holder name.
func (l *Limiter) Holder() string { return l.holder }

// Held returns the number of sessions this Limiter acquired and has not
// released (the leases Renew extends).
func (l *Limiter) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.held)
}

// PendingReleases returns the number of sessions released whose lease could
// not be removed yet (RetryReleases retries them).
func (l *Limiter) PendingReleases() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", tenancy.ErrLimiterUnavailable, err) }

// Acquire implements tenancy.SessionLimiter.
func (l *Limiter) Acquire(ctx context.Context, account tenancy.SID, session string, limit int) error {
	if err := l.acquire(ctx, account, session, limit); err != nil {
		return err
	}
	l.mu.Lock()
	k := lease{account, session}
	l.held[k] = struct{}{}
	delete(l.pending, k)
	l.mu.Unlock()
	return nil
}

func (l *Limiter) acquire(ctx context.Context, account tenancy.SID, session string, limit int) error {
	now := l.now()
	expires := now.Add(l.ttl).UnixMicro()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer func() { _ = tx.Rollback() }()
	// The expired leases of the account, found by the expiry index: none
	// in the common case, so this costs one index probe.
	if _, err := tx.StmtContext(ctx, l.q.sweep).ExecContext(ctx, string(account), now.UnixMicro()); err != nil {
		return unavailable(err)
	}
	if limit <= 0 {
		// No limit: nothing to count; insert the lease, or take it over.
		if _, err := tx.StmtContext(ctx, l.q.upsert).ExecContext(ctx, string(account), session, l.holder, expires); err != nil {
			return unavailable(err)
		}
	} else {
		res, err := tx.StmtContext(ctx, l.q.take).ExecContext(ctx, l.holder, expires, string(account), session)
		if err != nil {
			return unavailable(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// A new lease: the account's count (kept by triggers, so the
			// expired leases swept above are out of it) decides.
			var inUse int
			err := tx.StmtContext(ctx, l.q.count).QueryRowContext(ctx, string(account)).Scan(&inUse)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return unavailable(err)
			}
			if inUse >= limit {
				return &tenancy.LimitError{Account: account, Limit: limit, InUse: inUse}
			}
			if _, err := tx.StmtContext(ctx, l.q.upsert).ExecContext(ctx, string(account), session, l.holder, expires); err != nil {
				return unavailable(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Release implements tenancy.SessionLimiter. From this call on the lease is
// never renewed. When it cannot be removed from the database, Release
// returns an error wrapping tenancy.ErrLimiterUnavailable and keeps the
// release, which RetryReleases (and so Run) retries until it succeeds.
func (l *Limiter) Release(ctx context.Context, account tenancy.SID, session string) error {
	k := lease{account, session}
	l.mu.Lock()
	delete(l.held, k)
	l.mu.Unlock()
	if err := l.release(ctx, k); err != nil {
		l.mu.Lock()
		l.pending[k] = struct{}{}
		l.mu.Unlock()
		return fmt.Errorf("%w (the release is retried until it succeeds)", err)
	}
	l.mu.Lock()
	delete(l.pending, k)
	l.mu.Unlock()
	return nil
}

func (l *Limiter) release(ctx context.Context, k lease) error {
	if _, err := l.q.release.ExecContext(ctx, string(k.account), k.session); err != nil {
		return unavailable(err)
	}
	return nil
}

// RetryReleases retries the releases that failed and returns how many now
// succeeded, and the errors of those that failed again (they stay pending).
func (l *Limiter) RetryReleases(ctx context.Context) (int, error) {
	l.mu.Lock()
	todo := make([]lease, 0, len(l.pending))
	for k := range l.pending {
		todo = append(todo, k)
	}
	l.mu.Unlock()
	done := 0
	var errs []error
	for _, k := range todo {
		if err := l.release(ctx, k); err != nil {
			errs = append(errs, err)
			continue
		}
		l.mu.Lock()
		delete(l.pending, k)
		l.mu.Unlock()
		done++
	}
	return done, errors.Join(errs...)
}

// InUse implements tenancy.SessionLimiter: the live leases of account (its
// count less the leases expired and not yet swept).
func (l *Limiter) InUse(ctx context.Context, account tenancy.SID) (int, error) {
	var n int
	err := l.q.inUse.QueryRowContext(ctx, string(account), l.now().UnixMicro()).Scan(&n)
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// Renew extends by TTL from now the leases of the sessions this Limiter
// acquired and has not released, and returns how many it renewed. A lease
// that expired meanwhile is not brought back (its place may have been
// given to another session).
func (l *Limiter) Renew(ctx context.Context) (int, error) {
	l.mu.Lock()
	held := make([]lease, 0, len(l.held))
	for k := range l.held {
		held = append(held, k)
	}
	l.mu.Unlock()
	if len(held) == 0 {
		return 0, nil
	}
	now := l.now()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, unavailable(err)
	}
	defer func() { _ = tx.Rollback() }()
	upd := tx.StmtContext(ctx, l.q.renew)
	renewed := 0
	for _, k := range held {
		res, err := upd.ExecContext(ctx, now.Add(l.ttl).UnixMicro(), string(k.account), k.session, l.holder, now.UnixMicro())
		if err != nil {
			return 0, unavailable(err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			renewed++
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, unavailable(err)
	}
	return renewed, nil
}

// Run retries the failed releases and renews this instance's leases every
// TTL/3 until ctx is done; run it in a goroutine for the life of the
// gateway. It returns ctx's error.
func (l *Limiter) Run(ctx context.Context) error {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if n, err := l.RetryReleases(ctx); err != nil && ctx.Err() == nil {
				l.log.WarnContext(ctx, "tenancy: releasing session leases failed again; retrying", "holder", l.holder,
					"pending", l.PendingReleases(), "err", err)
			} else if n > 0 {
				l.log.InfoContext(ctx, "tenancy: session leases released after a failure", "holder", l.holder, "released", n)
			}
			if _, err := l.Renew(ctx); err != nil && ctx.Err() == nil {
				l.log.WarnContext(ctx, "tenancy: renewing session leases failed", "holder", l.holder, "err", err)
			}
		}
	}
}

// UsageCounter is a tenancy.UsageCounter in SQLite, shared by every process
// that opens the same database file. Each session is one row keyed by
// (account, session), so a session reported twice counts once.
type UsageCounter struct {
	db *sql.DB
}

var _ tenancy.UsageCounter = (*UsageCounter)(nil)

// NewUsageCounter returns a UsageCounter over db (opened with OpenDB,
// possibly shared with the stores) and brings its schema up to date.
func NewUsageCounter(ctx context.Context, db *sql.DB) (*UsageCounter, error) {
	if err := sqlitedb.Migrate(ctx, db, LimitsSchemaName, limitsSchema); err != nil {
		return nil, err
	}
	return &UsageCounter{db: db}, nil
}

// AddSession implements tenancy.UsageCounter.
func (c *UsageCounter) AddSession(ctx context.Context, account tenancy.SID, session string, d time.Duration) error {
	secs := int64(0)
	if d > 0 {
		secs = int64((d + time.Second - 1) / time.Second)
	}
	_, err := c.db.ExecContext(ctx, `INSERT INTO tenancy_usage(account_sid, session_id, seconds, minutes) VALUES(?,?,?,?)
		ON CONFLICT(account_sid, session_id) DO NOTHING`, string(account), session, secs, tenancy.BilledMinutes(d))
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Usage implements tenancy.UsageCounter.
func (c *UsageCounter) Usage(ctx context.Context, account tenancy.SID) (tenancy.Usage, error) {
	var u tenancy.Usage
	err := c.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(seconds), 0), coalesce(sum(minutes), 0)
		FROM tenancy_usage WHERE account_sid = ?`, string(account)).Scan(&u.Sessions, &u.Seconds, &u.Minutes)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return tenancy.Usage{}, unavailable(err)
	}
	return u, nil
}

// Reset implements tenancy.UsageCounter.
func (c *UsageCounter) Reset(ctx context.Context, account tenancy.SID) error {
	if _, err := c.db.ExecContext(ctx, `DELETE FROM tenancy_usage WHERE account_sid = ?`, string(account)); err != nil {
		return unavailable(err)
	}
	return nil
}
