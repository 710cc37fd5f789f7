package sqlitedb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

func TestMigrateIsIdempotentAndVersioned(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	steps := []string{
		`CREATE TABLE a (id TEXT PRIMARY KEY)`,
		`ALTER TABLE a ADD COLUMN name TEXT`,
	}
	for range 3 {
		if err := Migrate(ctx, db, "test", steps); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO a(id, name) VALUES('x', 'y')`); err != nil {
		t.Fatalf("schema not applied: %v", err)
	}
	if err := Migrate(ctx, db, "test", steps[:1]); err == nil {
		t.Fatal("Migrate accepted a schema older than the database")
	}
	_, err = db.ExecContext(ctx, `INSERT INTO a(id) VALUES('x')`)
	if !IsConstraint(err) {
		t.Fatalf("duplicate primary key: IsConstraint(%v) = false", err)
	}
}

func TestConcurrentWritersWait(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(ctx, db, "c", []string{`CREATE TABLE n (v INTEGER)`}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				errs <- err
				return
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO n VALUES(?)`, i); err != nil {
				_ = tx.Rollback()
				errs <- err
				return
			}
			errs <- tx.Commit()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent write failed: %v", err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM n`).Scan(&n); err != nil || n != 200 {
		t.Fatalf("rows = %d, %v; want 200", n, err)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := Open(context.Background(), ""); !errors.Is(err, ErrEmptyPath) {
		t.Fatalf("Open(\"\") = %v, want ErrEmptyPath", err)
	}
}

// TestMemory: ":memory:" is one database for every user of the *sql.DB
// (a second query while the first holds the connection waits for it, and
// does not open a new, empty database), and private to that *sql.DB.
func TestMemory(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(ctx, db, "m", []string{`CREATE TABLE m (v TEXT)`}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO m VALUES('x')`); err != nil {
		t.Fatal(err)
	}

	rows, err := db.QueryContext(ctx, `SELECT v FROM m`) // holds the connection
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		v   string
		err error
	}
	got := make(chan answer, 1)
	go func() {
		var a answer
		a.err = db.QueryRowContext(ctx, `SELECT v FROM m`).Scan(&a.v)
		got <- a
	}()
	var a answer
	for waiting := false; !waiting; {
		select {
		case a = <-got:
			t.Fatalf("second query ran beside the first on another connection: %q, %v", a.v, a.err)
		default:
			waiting = db.Stats().WaitCount > 0
			runtime.Gosched()
		}
	}
	_ = rows.Close()
	if a = <-got; a.err != nil || a.v != "x" {
		t.Fatalf("second query = %q, %v; want the row written before", a.v, a.err)
	}

	other, err := Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var n int
	if err := other.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'm'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("another :memory: database sees table m: n = %d, %v", n, err)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, name := range []string{"a?b.db", "c#d.db", "e%20f.db"} {
		path := filepath.Join(dir, name)
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("Open(%q): %v", path, err)
		}
		if err := Migrate(ctx, db, "x", []string{`CREATE TABLE x (v)`}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("Open(%q) did not create that file: %v", path, err)
		}
	}
}

// TestFileModes: under a directory anyone may read (0755) and with the
// usual umask, the database and its -wal and -shm files are readable by
// their owner only; a database left 0644 by an older version is narrowed
// when opened.
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	check := func(path string) {
		t.Helper()
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if fi.Mode().Perm() != FileMode {
				t.Fatalf("%s has mode %v, want %v", f, fi.Mode().Perm(), FileMode)
			}
		}
	}
	path := filepath.Join(dir, "state.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, db, "m", []string{`CREATE TABLE m (v TEXT)`}); err != nil {
		t.Fatal(err)
	}
	check(path)
	db.Close()

	// A database written before this rule, world-readable.
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `INSERT INTO m VALUES ('x')`); err != nil {
		t.Fatal(err)
	}
	check(path)
	if got, err := FilePath(ctx, db); err != nil || got != path {
		t.Fatalf("FilePath = %q, %v; want %q", got, err, path)
	}
}
