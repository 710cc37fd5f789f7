// Package pgdb opens PostgreSQL connection pools (github.com/jackc/pgx/v5)
// the same way for every voicegw store, and applies each store's schema in
// versioned steps, safely when several gateway processes start at once on one
// database.
//
// The public drivers (tenancy/pgstore, rbac/pgstore, tenancy/admin/pgstore,
// insights/pgindex) each export an OpenPool that calls Open, so callers
// outside the module open pools the same way, and may share one pool between
// the stores of a process.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors of Open and Migrate; match them with errors.Is.
var (
	// ErrBadDSN: the connection string does not parse. The error never
	// quotes it (it may hold a password).
	ErrBadDSN = errors.New("pgdb: bad connection string")
	// ErrSchemaTooNew: the database holds a schema version newer than the
	// program knows (a newer gateway migrated it).
	ErrSchemaTooNew = errors.New("pgdb: schema newer than this program")
)

// ApplicationName is the application_name the pools report to the server
// (pg_stat_activity) unless the connection string sets one.
const ApplicationName = "voicegw"

// Open opens a connection pool to the database named by dsn (a URL
// "postgres://user:password@host:port/db?sslmode=…" or key=value pairs; an
// empty dsn takes everything from the standard PG* environment variables:
// PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE, …) and checks
// that the server answers. The pool's size and lifetimes come from the
// connection string's pool_max_conns, pool_min_conns, pool_max_conn_lifetime,
// … parameters (pgxpool's defaults otherwise: at most max(4, number of CPUs)
// connections).
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgdb: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgdb: connect to %s: %w", describe(cfg.ConnConfig), err)
	}
	return pool, nil
}

// ParseConfig parses dsn as Open does, without connecting.
func ParseConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the string with the password redacted on a
		// best-effort basis; quote nothing.
		reason := "not a postgres:// URL or key=value list"
		if inner := errors.Unwrap(err); inner != nil && !strings.Contains(inner.Error(), "@") {
			reason = inner.Error()
		}
		return nil, fmt.Errorf("%w: %s", ErrBadDSN, reason)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = ApplicationName
	}
	return cfg, nil
}

// describe names a server for errors: user, host, port and database, never
// the password.
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("database %q on %s:%d as %q", c.Database, c.Host, c.Port, c.User)
}

// migrationLock is the advisory lock every voicegw migration holds for its
// transaction: "voicegw" in ASCII.
const migrationLock int64 = 0x766f6963656777

// Migrate brings the schema named name up to date: steps[i] is the SQL that
// takes it from version i to i+1 (several statements allowed). Applied
// versions are recorded in the table schema_versions. The whole migration
// runs in one transaction holding a transaction-level advisory lock, so
// concurrent calls (two gateways starting at once on a fresh database) run
// one after the other: the second finds the schema up to date. A failed
// step leaves the database as it was.
func Migrate(ctx context.Context, pool *pgxpool.Pool, name string, steps []string) error {
	if name == "" || strings.ContainsAny(name, "'\"\\") {
		return fmt.Errorf("pgdb: bad schema name %q", name)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgdb: migrate %s: %w", name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("pgdb: migrate %s: lock: %w", name, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (name text PRIMARY KEY, version integer NOT NULL)`); err != nil {
		return fmt.Errorf("pgdb: migrate %s: %w", name, err)
	}
	var have int
	err = tx.QueryRow(ctx, `SELECT version FROM schema_versions WHERE name = $1`, name).Scan(&have)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("pgdb: migrate %s: %w", name, err)
	}
	if have > len(steps) {
		return fmt.Errorf("%w: schema %s is at version %d, this program knows %d", ErrSchemaTooNew, name, have, len(steps))
	}
	if have == len(steps) {
		return nil // up to date; the rollback releases the lock
	}
	for v := have; v < len(steps); v++ {
		if _, err := tx.Exec(ctx, steps[v]); err != nil {
			return fmt.Errorf("pgdb: migrate %s to version %d: %w", name, v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_versions(name, version) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET version = excluded.version`, name, len(steps)); err != nil {
		return fmt.Errorf("pgdb: migrate %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgdb: migrate %s: %w", name, err)
	}
	return nil
}

// Version returns the version of schema name recorded in the database (0
// when none).
func Version(ctx context.Context, pool *pgxpool.Pool, name string) (int, error) {
	var v int
	err := pool.QueryRow(ctx, `SELECT version FROM schema_versions WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: nothing migrated yet
		return 0, nil
	}
	return v, err
}

// Store is a driver's hold on its pool: either opened by the driver (Close
// closes it) or shared with other stores (Close leaves it open), and whether
// the driver was closed.
type Store struct {
	pool   *pgxpool.Pool
	owned  bool
	closed atomic.Bool
}

// OpenStore opens a pool (Open) and runs migrate on it; Close closes the
// pool.
func OpenStore(ctx context.Context, dsn string, migrate func(context.Context, *pgxpool.Pool) error) (*Store, error) {
	pool, err := Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool, owned: true}, nil
}

// NewStore uses pool, perhaps shared with other stores, after running
// migrate on it. Close leaves the pool open.
func NewStore(ctx context.Context, pool *pgxpool.Pool, migrate func(context.Context, *pgxpool.Pool) error) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgdb: nil pool")
	}
	if err := migrate(ctx, pool); err != nil {
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// Pool returns the pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close marks the store closed and closes the pool when the store opened
// it. It is safe to call more than once.
func (s *Store) Close() error {
	if s.closed.Swap(true) || !s.owned {
		return nil
	}
	s.pool.Close()
	return nil
}

// Closed reports whether Close was called.
func (s *Store) Closed() bool { return s.closed.Load() }

// Constraint returns the name of the unique (code 23505) or foreign key
// (23503) constraint err violates, and which kind: "unique" or "foreign".
// ok is false for any other error.
func Constraint(err error) (name, kind string, ok bool) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return "", "", false
	}
	switch pgErr.Code {
	case "23505":
		return pgErr.ConstraintName, "unique", true
	case "23503":
		return pgErr.ConstraintName, "foreign", true
	}
	return "", "", false
}

// Code returns the SQLSTATE of err, or "".
func Code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// UTC returns t in UTC with microsecond precision (what timestamptz keeps),
// the zero time for a NULL.
func UTC(t *time.Time) time.Time {
	if t == nil || t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// NullTime is t for a timestamptz column, NULL for the zero time.
func NullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// NullString is s for a column where "" is NULL (so that a UNIQUE index
// allows many empty values).
func NullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
