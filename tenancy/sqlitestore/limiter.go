package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/tenancy"
)

// LimitsSchemaName versions the tables of Limiter and UsageCounter.
const LimitsSchemaName = "tenancy_limits"

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
);`}

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
// IMMEDIATE transaction that first drops the account's expired leases and
// counts the live ones, so concurrent instances never exceed the limit. A
// lease lives TTL; call Renew periodically (or run Run in a goroutine) to
// keep this instance's leases alive. When an instance dies without releasing,
// its sessions free themselves once their leases expire.
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
}

var _ tenancy.SessionLimiter = (*Limiter)(nil)

// NewLimiter returns a Limiter over db (opened with internal/sqlitedb.Open,
// possibly shared with the stores) and brings its schema up to date.
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
	return &Limiter{db: db, holder: o.Holder, ttl: o.TTL, now: o.Clock, log: o.Logger}, nil
}

// Holder returns this instance's holder name.
func (l *Limiter) Holder() string { return l.holder }

func unavailable(err error) error { return fmt.Errorf("%w: %w", tenancy.ErrLimiterUnavailable, err) }

// Acquire implements tenancy.SessionLimiter.
func (l *Limiter) Acquire(ctx context.Context, account tenancy.SID, session string, limit int) error {
	now := l.now()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM tenancy_session_leases WHERE account_sid = ? AND expires_at <= ?`,
		string(account), now.UnixMicro()); err != nil {
		return unavailable(err)
	}
	expires := now.Add(l.ttl).UnixMicro()
	res, err := tx.ExecContext(ctx, `UPDATE tenancy_session_leases SET holder = ?, expires_at = ? WHERE account_sid = ? AND session_id = ?`,
		l.holder, expires, string(account), session)
	if err != nil {
		return unavailable(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var inUse int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tenancy_session_leases WHERE account_sid = ?`, string(account)).Scan(&inUse); err != nil {
			return unavailable(err)
		}
		if limit > 0 && inUse >= limit {
			return &tenancy.LimitError{Account: account, Limit: limit, InUse: inUse}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenancy_session_leases(account_sid, session_id, holder, expires_at) VALUES(?,?,?,?)`,
			string(account), session, l.holder, expires); err != nil {
			return unavailable(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Release implements tenancy.SessionLimiter.
func (l *Limiter) Release(ctx context.Context, account tenancy.SID, session string) error {
	if _, err := l.db.ExecContext(ctx, `DELETE FROM tenancy_session_leases WHERE account_sid = ? AND session_id = ?`,
		string(account), session); err != nil {
		return unavailable(err)
	}
	return nil
}

// InUse implements tenancy.SessionLimiter: the live leases of account.
func (l *Limiter) InUse(ctx context.Context, account tenancy.SID) (int, error) {
	var n int
	err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM tenancy_session_leases WHERE account_sid = ? AND expires_at > ?`,
		string(account), l.now().UnixMicro()).Scan(&n)
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// Renew extends every lease this instance holds by TTL from now and returns
// how many it renewed.
func (l *Limiter) Renew(ctx context.Context) (int, error) {
	now := l.now()
	res, err := l.db.ExecContext(ctx, `UPDATE tenancy_session_leases SET expires_at = ? WHERE holder = ? AND expires_at > ?`,
		now.Add(l.ttl).UnixMicro(), l.holder, now.UnixMicro())
	if err != nil {
		return 0, unavailable(err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Run renews this instance's leases every TTL/3 until ctx is done; run it in
// a goroutine for the life of the gateway. It returns ctx's error.
func (l *Limiter) Run(ctx context.Context) error {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
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

// NewUsageCounter returns a UsageCounter over db and brings its schema up to
// date.
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
