package sqlitedb

import (
	"path/filepath"
	"testing"
	"time"
)

// TestStoreOwnership: a Store that opened its database closes it; one given
// a shared database leaves it open for the others; Close is idempotent.
func TestStoreOwnership(t *testing.T) {
	ctx := t.Context()
	steps := []string{`CREATE TABLE t (v INTEGER)`}

	owned, err := OpenStore(ctx, filepath.Join(t.TempDir(), "owned.db"), "t", steps)
	if err != nil {
		t.Fatal(err)
	}
	if owned.Closed() {
		t.Fatal("Closed before Close")
	}
	if err := owned.Close(); err != nil {
		t.Fatal(err)
	}
	if err := owned.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !owned.Closed() {
		t.Fatal("Closed = false after Close")
	}
	if err := owned.DB().PingContext(ctx); err == nil {
		t.Fatal("the database an owning Store opened is still open after Close")
	}

	db, err := Open(ctx, filepath.Join(t.TempDir(), "shared.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	shared, err := NewStore(ctx, db, "t", steps)
	if err != nil {
		t.Fatal(err)
	}
	if err := shared.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatalf("a shared database was closed by its Store: %v", err)
	}
}

// TestOpenStoreBadSchema: a schema step that fails makes OpenStore fail
// with the step's error.
func TestOpenStoreBadSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.db")
	s, err := OpenStore(t.Context(), path, "bad", []string{`CREATE TABLE (`})
	if err == nil || s != nil {
		t.Fatalf("OpenStore with a broken schema step = %v, %v; want an error", s, err)
	}
}

func TestStoredValues(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 30, 0, 123456000, time.FixedZone("x", 3600))
	if got := FromMicros(Micros(at)); !got.Equal(at) || got.Location() != time.UTC {
		t.Fatalf("FromMicros(Micros(%v)) = %v, want the same instant in UTC", at, got)
	}
	if NullString("") != nil || NullString("a") != "a" {
		t.Fatalf("NullString: %v %v", NullString(""), NullString("a"))
	}
}
