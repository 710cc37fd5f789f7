package sqlitedb

import (
	"context"
	"database/sql"
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
