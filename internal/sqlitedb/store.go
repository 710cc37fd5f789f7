package sqlitedb

import (
	"context"
	"database/sql"
	"strconv"
	"sync/atomic"
	"time"
)

// Store is a driver's hold on its database (rbac's and tenancy's SQLite
// drivers are built on it): the database, either opened by the driver
// (Close closes it) or shared with other stores (Close leaves it open),
// and whether the driver was closed.
type Store struct {
	db     *sql.DB
	owned  bool
	closed atomic.Bool
}

// OpenStore opens the database at path (Open) and brings the schema name up
// to date with steps (Migrate). Close closes the database.
func OpenStore(ctx context.Context, path, name string, steps []string) (*Store, error) {
	db, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	s, err := NewStore(ctx, db, name, steps)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// NewStore uses db, opened with Open and perhaps shared by several stores,
// and brings the schema name up to date with steps. Close leaves db open.
func NewStore(ctx context.Context, db *sql.DB, name string, steps []string) (*Store, error) {
	if err := Migrate(ctx, db, name, steps); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// DB returns the database.
func (s *Store) DB() *sql.DB { return s.db }

// Close marks the store closed and closes the database when the store
// opened it. It is safe to call more than once.
func (s *Store) Close() error {
	if s.closed.Swap(true) || !s.owned {
		return nil
	}
	return s.db.Close()
}

// Closed reports whether Close was called.
func (s *Store) Closed() bool { return s.closed.Load() }

// Micros is how the stores keep a time: Unix microseconds.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros reads a time kept by Micros, in UTC.
func FromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// NullString keeps "" as NULL (so that UNIQUE allows many empty values).
func NullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Scrub runs fn in one IMMEDIATE transaction on a connection whose deleted
// content SQLite overwrites (secure_delete), then checkpoints the WAL into
// the database and truncates it, so that values fn replaces (a secret
// stored in clear before) leave no copy in the files. Backups taken before
// still hold them.
func Scrub(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var was int
	if err := conn.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&was); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = `+strconv.Itoa(was))
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, _ = conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`) // readers may hold it back; the next checkpoint does it
	return nil
}
