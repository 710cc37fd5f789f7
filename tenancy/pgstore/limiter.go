package pgstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/internal/pgdb"
	"github.com/voicegw/voicegw/tenancy"
)

// LimitsSchemaName versions the tables of Limiter and UsageCounter.
const LimitsSchemaName = "tenancy_limits"

// limitsSchema's second step keeps a count of leases per account
// (tenancy_session_counts, kept by triggers on every insert and delete of a
// lease, whoever makes it) and indexes the leases by expiry, so Acquire
// neither counts nor scans an account's leases; it drops the holder index
// no query uses.
var limitsSchema = []string{`
CREATE TABLE tenancy_session_leases (
	account_sid text NOT NULL,
	session_id  text NOT NULL,
	holder      text NOT NULL,
	expires_at  bigint NOT NULL,
	PRIMARY KEY (account_sid, session_id)
);
COMMENT ON COLUMN tenancy_session_leases.expires_at IS 'microseconds since the Unix epoch';
CREATE INDEX tenancy_session_leases_holder ON tenancy_session_leases(holder);
CREATE TABLE tenancy_usage (
	account_sid text NOT NULL,
	session_id  text NOT NULL,
	seconds     bigint NOT NULL,
	minutes     bigint NOT NULL,
	PRIMARY KEY (account_sid, session_id)
);`, `
-- no lease written by a process still running the old schema between the
-- back-fill of the counts and the triggers (DROP INDEX below locks the
-- table too; this says so)
LOCK TABLE tenancy_session_leases IN SHARE ROW EXCLUSIVE MODE;
CREATE INDEX tenancy_session_leases_expiry ON tenancy_session_leases(account_sid, expires_at);
DROP INDEX tenancy_session_leases_holder;
CREATE TABLE tenancy_session_counts (
	account_sid text PRIMARY KEY,
	leases      bigint NOT NULL
);
INSERT INTO tenancy_session_counts(account_sid, leases)
	SELECT account_sid, count(*) FROM tenancy_session_leases GROUP BY account_sid;
CREATE FUNCTION tenancy_session_leases_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		UPDATE tenancy_session_counts SET leases = leases - 1 WHERE account_sid = OLD.account_sid;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		INSERT INTO tenancy_session_counts(account_sid, leases) VALUES (NEW.account_sid, 1)
			ON CONFLICT (account_sid) DO UPDATE SET leases = tenancy_session_counts.leases + 1;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER tenancy_session_leases_count AFTER INSERT OR DELETE ON tenancy_session_leases
	FOR EACH ROW EXECUTE FUNCTION tenancy_session_leases_count();
CREATE TRIGGER tenancy_session_leases_count_move AFTER UPDATE OF account_sid ON tenancy_session_leases
	FOR EACH ROW WHEN (NEW.account_sid IS DISTINCT FROM OLD.account_sid) EXECUTE FUNCTION tenancy_session_leases_count();`}

func migrateLimits(ctx context.Context, pool *pgxpool.Pool) error {
	return pgdb.Migrate(ctx, pool, LimitsSchemaName, limitsSchema)
}

// leaseLockClass is the first key of the advisory locks Acquire takes, one
// per account (the second key is a hash of the account SID): "vgwl".
const leaseLockClass int32 = 0x76677761

// dbNow is the database server's clock in microseconds since the epoch, or
// the caller's ($n) when given. It is a scalar subquery, evaluated once per
// statement (clock_timestamp() is volatile: compared directly with a column
// it would be evaluated for every row, and no index could serve the
// comparison).
func dbNow(n int) string {
	return fmt.Sprintf("(SELECT coalesce($%d::bigint, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint))", n)
}

// LimiterOptions configures a Limiter. The zero value (or nil) works.
type LimiterOptions struct {
	// Holder names this gateway instance in the lease table. Default: a
	// random identifier per Limiter.
	Holder string
	// TTL is how long a lease lives without renewal. The sessions of a
	// gateway that died are freed at most TTL later. Default: 2 minutes.
	TTL time.Duration
	// Clock returns the current time. Default: the database server's clock
	// (clock_timestamp()), one clock for every gateway whatever the skew
	// between their hosts. Set it in tests to move time by hand.
	Clock func() time.Time
	// Logger receives renewal and release failures. Default: discard.
	Logger *slog.Logger
}

// Limiter is a tenancy.SessionLimiter whose sessions live as leases in a
// PostgreSQL table, so every gateway sharing the database shares one count
// per account: N gateways together never exceed an account's licensed
// sessions.
//
// Acquire is one round trip: a pipelined implicit transaction that takes a
// transaction-level advisory lock for the account (pg_advisory_xact_lock,
// keyed by a hash of the account SID), deletes the account's expired leases
// (found by an index on account and expiry), and inserts the session's
// lease only if the session is held already or the account's count of
// leases is below the limit. The count is a row per account kept by
// triggers of the lease table, so an Acquire costs the same whatever the
// number of sessions in progress; without a limit it is not read. The lock serializes the
// acquirers of one account across every process, and only them: other
// accounts proceed in parallel, no row has to exist beforehand (a row lock
// would need one per account), and unlike a SERIALIZABLE transaction
// nothing is retried under contention. The lock ends with the transaction,
// even when the gateway dies mid-way.
//
// A lease lives TTL: run Run in a goroutine (or call Renew and
// RetryReleases periodically) for the life of the gateway. When a gateway
// dies without releasing, its sessions free themselves once their leases
// expire. The Limiter remembers which sessions it acquired and has not
// released: Renew extends those leases only (never the lease of a session
// that ended, even when its release failed), and a failed release is kept
// and retried by Run (RetryReleases) until it succeeds.
type Limiter struct {
	pool   *pgxpool.Pool
	holder string
	ttl    time.Duration
	clock  func() time.Time
	log    *slog.Logger

	mu      sync.Mutex
	held    map[lease]struct{} // acquired and not released: renewed
	pending map[lease]struct{} // released, but not yet from the database: retried, never renewed
}

type lease struct {
	account tenancy.SID
	session string
}

var _ tenancy.SessionLimiter = (*Limiter)(nil)

// NewLimiter returns a Limiter over pool (from OpenPool, perhaps shared
// with the stores) and brings its schema up to date.
func NewLimiter(ctx context.Context, pool *pgxpool.Pool, opts *LimiterOptions) (*Limiter, error) {
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := migrateLimits(ctx, pool); err != nil {
		return nil, err
	}
	return &Limiter{pool: pool, holder: o.Holder, ttl: o.TTL, clock: o.Clock, log: o.Logger,
		held: map[lease]struct{}{}, pending: map[lease]struct{}{}}, nil
}

// now returns the caller's clock in microseconds, or nil for the
// database's.
func (l *Limiter) now() *int64 {
	if l.clock == nil {
		return nil
	}
	n := l.clock().UnixMicro()
	return &n
}

// Holder returns this instance's holder name.
func (l *Limiter) Holder() string { return l.holder }

// TTL returns the lease lifetime.
func (l *Limiter) TTL() time.Duration { return l.ttl }

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

// acquireSQL inserts (or refreshes) the lease when the session is held
// already or the account's leases (its count, kept by triggers; the
// expired ones were just deleted) are fewer than the limit ($5 <= 0: none,
// and nothing is read); it returns a row only then. The caller holds the
// account's lock.
var acquireSQL = `
WITH now AS (SELECT ` + dbNow(6) + ` AS t)
INSERT INTO tenancy_session_leases(account_sid, session_id, holder, expires_at)
SELECT $1, $2, $3, now.t + $4 FROM now
WHERE $5 <= 0
   OR EXISTS (SELECT 1 FROM tenancy_session_leases WHERE account_sid = $1 AND session_id = $2)
   OR coalesce((SELECT leases FROM tenancy_session_counts WHERE account_sid = $1), 0) < $5
ON CONFLICT (account_sid, session_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
RETURNING true`

// countSQL is the account's count of leases.
const countSQL = `SELECT coalesce((SELECT leases FROM tenancy_session_counts WHERE account_sid = $1), 0)`

func (l *Limiter) acquire(ctx context.Context, account tenancy.SID, session string, limit int) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	now := l.now()
	// One pipelined batch: PostgreSQL runs it as one implicit transaction,
	// so the advisory lock is held from the first statement to the last.
	var b pgx.Batch
	b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, leaseLockClass, string(account))
	b.Queue(`DELETE FROM tenancy_session_leases WHERE account_sid = $1 AND expires_at <= `+dbNow(2), string(account), now)
	b.Queue(acquireSQL, string(account), session, l.holder, l.ttl.Microseconds(), limit, now)
	b.Queue(countSQL, string(account))
	br := l.pool.SendBatch(ctx, &b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return unavailable(err)
	}
	if _, err := br.Exec(); err != nil {
		return unavailable(err)
	}
	var granted bool
	if err := br.QueryRow().Scan(&granted); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return unavailable(err)
	}
	var inUse int
	if err := br.QueryRow().Scan(&inUse); err != nil {
		return unavailable(err)
	}
	if err := br.Close(); err != nil {
		return unavailable(err)
	}
	if !granted {
		return &tenancy.LimitError{Account: account, Limit: limit, InUse: inUse}
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
	if _, err := l.pool.Exec(ctx, `DELETE FROM tenancy_session_leases WHERE account_sid = $1 AND session_id = $2`,
		string(k.account), k.session); err != nil {
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
// count less the leases expired and not yet deleted).
func (l *Limiter) InUse(ctx context.Context, account tenancy.SID) (int, error) {
	var n int
	err := l.pool.QueryRow(ctx, `SELECT coalesce((SELECT leases FROM tenancy_session_counts WHERE account_sid = $1), 0)
		- (SELECT count(*) FROM tenancy_session_leases WHERE account_sid = $1 AND expires_at <= `+dbNow(2)+`)`,
		string(account), l.now()).Scan(&n)
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// Renew extends by TTL from now the leases of the sessions this Limiter
// acquired and has not released, in one statement, and returns how many it
// renewed. A lease that expired meanwhile is not brought back (its place
// may have been given to another session).
func (l *Limiter) Renew(ctx context.Context) (int, error) {
	l.mu.Lock()
	accounts := make([]string, 0, len(l.held))
	sessions := make([]string, 0, len(l.held))
	for k := range l.held {
		accounts = append(accounts, string(k.account))
		sessions = append(sessions, k.session)
	}
	l.mu.Unlock()
	if len(accounts) == 0 {
		return 0, nil
	}
	tag, err := l.pool.Exec(ctx, `WITH now AS (SELECT `+dbNow(5)+` AS t)
		UPDATE tenancy_session_leases s SET expires_at = now.t + $4
		FROM now, unnest($1::text[], $2::text[]) AS h(account_sid, session_id)
		WHERE s.account_sid = h.account_sid AND s.session_id = h.session_id AND s.holder = $3 AND s.expires_at > now.t`,
		accounts, sessions, l.holder, l.ttl.Microseconds(), l.now())
	if err != nil {
		return 0, unavailable(err)
	}
	return int(tag.RowsAffected()), nil
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

// UsageCounter is a tenancy.UsageCounter in PostgreSQL, shared by every
// gateway of the database. Each session is one row keyed by (account,
// session), so a session reported twice (by two recorders, or two
// gateways) counts once.
type UsageCounter struct {
	pool *pgxpool.Pool
}

var _ tenancy.UsageCounter = (*UsageCounter)(nil)

// NewUsageCounter returns a UsageCounter over pool (from OpenPool, perhaps
// shared with the stores) and brings its schema up to date.
func NewUsageCounter(ctx context.Context, pool *pgxpool.Pool) (*UsageCounter, error) {
	if err := migrateLimits(ctx, pool); err != nil {
		return nil, err
	}
	return &UsageCounter{pool: pool}, nil
}

// AddSession implements tenancy.UsageCounter.
func (c *UsageCounter) AddSession(ctx context.Context, account tenancy.SID, session string, d time.Duration) error {
	secs := int64(0)
	if d > 0 {
		secs = int64((d + time.Second - 1) / time.Second)
	}
	_, err := c.pool.Exec(ctx, `INSERT INTO tenancy_usage(account_sid, session_id, seconds, minutes) VALUES ($1, $2, $3, $4)
		ON CONFLICT (account_sid, session_id) DO NOTHING`, string(account), session, secs, tenancy.BilledMinutes(d))
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Usage implements tenancy.UsageCounter.
func (c *UsageCounter) Usage(ctx context.Context, account tenancy.SID) (tenancy.Usage, error) {
	var u tenancy.Usage
	err := c.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(seconds), 0), coalesce(sum(minutes), 0)
		FROM tenancy_usage WHERE account_sid = $1`, string(account)).Scan(&u.Sessions, &u.Seconds, &u.Minutes)
	if err != nil {
		return tenancy.Usage{}, unavailable(err)
	}
	return u, nil
}

// Reset implements tenancy.UsageCounter.
func (c *UsageCounter) Reset(ctx context.Context, account tenancy.SID) error {
	if _, err := c.pool.Exec(ctx, `DELETE FROM tenancy_usage WHERE account_sid = $1`, string(account)); err != nil {
		return unavailable(err)
	}
	return nil
}
