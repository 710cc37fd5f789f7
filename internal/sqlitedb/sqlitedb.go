// Package sqlitedb opens SQLite databases (modernc.org/sqlite, pure Go, no
// cgo) configured the same way for every store of voicegw: WAL journal, a busy
// timeout so concurrent writers wait instead of failing, foreign keys on, and
// a schema applied in versioned steps.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DriverName is the database/sql driver name registered by modernc.org/sqlite.
const DriverName = "sqlite"

// ErrEmptyPath is returned by Open for an empty path.
var ErrEmptyPath = errors.New("sqlitedb: empty database path (use \":memory:\" for a private in-memory database)")

// Open opens (creating if needed) the database at path. ":memory:" opens a
// private in-memory database held by a single connection.
func Open(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" {
		return nil, ErrEmptyPath
	}
	pragmas := []string{"busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"}
	if path != ":memory:" {
		pragmas = append(pragmas, "journal_mode(WAL)")
	}
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + escapePath(path) + "?" + q.Encode()
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitedb: open %q: %w", path, err)
	}
	if path == ":memory:" {
		// Every connection would see its own empty database.
		db.SetMaxOpenConns(1)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlitedb: open %q: %w", path, err)
	}
	return db, nil
}

// escapePath percent-encodes the characters that would end or change the
// path part of an SQLite URI filename ("?" starts the query, "#" the
// fragment, "%" an escape); SQLite decodes them again when it opens the file.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// Migrate brings the schema named name up to date: steps[i] is the SQL that
// takes the schema from version i to i+1. Applied versions are recorded in
// the table schema_versions, so Migrate is safe to call on every start and
// from several stores sharing one database (each with its own name).
func Migrate(ctx context.Context, db *sql.DB, name string, steps []string) error {
	if name == "" || strings.ContainsAny(name, "'\"") {
		return fmt.Errorf("sqlitedb: bad schema name %q", name)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitedb: migrate %s: %w", name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlitedb: migrate %s: %w", name, err)
	}
	var have int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_versions WHERE name = ?`, name).Scan(&have)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlitedb: migrate %s: %w", name, err)
	}
	if have > len(steps) {
		return fmt.Errorf("sqlitedb: schema %s is at version %d, newer than this program knows (%d)", name, have, len(steps))
	}
	for v := have; v < len(steps); v++ {
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return fmt.Errorf("sqlitedb: migrate %s to version %d: %w", name, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_versions(name, version) VALUES(?, ?)
		ON CONFLICT(name) DO UPDATE SET version = excluded.version`, name, len(steps)); err != nil {
		return fmt.Errorf("sqlitedb: migrate %s: %w", name, err)
	}
	return tx.Commit()
}

// IsConstraint reports whether err is an SQLite constraint violation (a
// UNIQUE or PRIMARY KEY clash, for instance), so a store can map it to its
// own "already exists" error.
func IsConstraint(err error) bool {
	return err != nil && strings.Contains(err.Error(), "constraint failed")
}
