//go:build unix

package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStartServesAndStopRemoves(t *testing.T) {
	s := Start(t)
	dsn := s.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT 40 + 2").Scan(&n); err != nil || n != 42 {
		t.Fatalf("SELECT 40 + 2 = %d, %v", n, err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int)"); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	s.Stop()
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Fatalf("data directory %s still there after Stop: %v", s.Dir, err)
	}
	if _, err := pgx.Connect(ctx, dsn); err == nil {
		t.Fatal("the server still accepts connections after Stop")
	}
}

func TestSharedDatabasesAreSeparate(t *testing.T) {
	s := Shared(t)
	if Shared(t) != s {
		t.Fatal("Shared started a second server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := s.NewDatabase(t), s.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share a DSN: %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (v int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Exec(ctx, "SELECT * FROM only_in_a"); err == nil {
		t.Fatal("a table of database a is visible in database b")
	}
}
