package sqlitedb

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
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

func TestMemory(t *testing.T) {
	db, err := Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(context.Background(), db, "m", []string{`CREATE TABLE m (v)`}); err != nil {
		t.Fatal(err)
	}
}
