// Package sqlitedb opens SQLite databases (modernc.org/sqlite, pure Go, no
// cgo) configured the same way for every store of voicegw: WAL journal, a busy
// timeout so concurrent writers wait instead of failing, foreign keys on, at
// most MaxConns connections, files readable by their owner only, and a schema
// applied in versioned steps.
//
// The public drivers (rbac/sqlitestore, tenancy/sqlitestore,
// insights/sqliteindex) each export an OpenDB that calls Open, so callers
// outside the module open databases the same way.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DriverName is the database/sql driver name registered by modernc.org/sqlite.
const DriverName = "sqlite"

// ErrEmptyPath is returned by Open for an empty path.
var ErrEmptyPath = errors.New("sqlitedb: empty database path (use \":memory:\" for a private in-memory database)")

// MaxConns bounds the connections of one database opened by Open (a
// ":memory:" database has exactly one). SQLite has one writer at a time, so
// more connections only add readers; a bound keeps a burst of concurrent
// callers (300 calls ending at once) waiting for a connection instead of
// opening one each. The pool keeps its connections open while idle: a
// connection closed while another one of the process holds a lock on the
// same file leaves its descriptor open until every lock is gone (SQLite's
// POSIX-lock rule), which under steady load is never, so churning
// connections leaks descriptors. Each connection holds two descriptors (the
// database and its WAL) besides the one shared -shm mapping.
const MaxConns = 4

// FileMode is the mode of the database files Open creates or finds: the
// database, its -wal and its -shm, which hold the same data. A file found
// with a wider mode is narrowed to it, whatever the directory's mode.
const FileMode fs.FileMode = 0o600

// Open opens (creating if needed) the database at path. ":memory:" opens a
// private in-memory database held by a single connection.
//
// The database file and its -wal and -shm files are made FileMode (SQLite
// creates -wal and -shm with the mode of the database). The returned pool
// holds at most MaxConns connections and keeps them while idle; do not raise
// the bound above the idle bound (SetMaxIdleConns), for the reason MaxConns
// gives.
func Open(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" {
		return nil, ErrEmptyPath
	}
	memory := path == ":memory:"
	pragmas := []string{"busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"}
	if !memory {
		pragmas = append(pragmas, "journal_mode(WAL)")
		if err := restrictFiles(path, true); err != nil {
			return nil, fmt.Errorf("sqlitedb: open %q: %w", path, err)
		}
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
	conns := MaxConns
	if memory {
		conns = 1 // every connection would see its own empty database
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlitedb: open %q: %w", path, err)
	}
	if !memory {
		// WAL mode made the -wal and -shm files; narrow them if an older
		// database left them wider.
		if err := restrictFiles(path, false); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("sqlitedb: open %q: %w", path, err)
		}
	}
	return db, nil
}

// restrictFiles gives the database file (created when create is true and
// it is missing) and its -wal, -shm and -journal files FileMode.
func restrictFiles(path string, create bool) error {
	if create {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, FileMode)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != FileMode {
			if err := os.Chmod(p, FileMode); err != nil {
				return err
			}
		}
	}
	return nil
}

// FilePath returns the file of db's main database ("" for an in-memory
// one), so a store can keep a companion file (a key) beside it.
func FilePath(ctx context.Context, db *sql.DB) (string, error) {
	var file string
	err := db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file)
	if err != nil {
		return "", fmt.Errorf("sqlitedb: database file: %w", err)
	}
	return file, nil
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
