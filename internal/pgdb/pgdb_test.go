package pgdb

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/internal/pgtest"
)

func open(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestConcurrentMigrate: eight processes' pools migrate one fresh database
// at once (two gateways starting together, and more): every call succeeds,
// each step runs once (a step that is not idempotent would fail the
// second time: CREATE TABLE without IF NOT EXISTS, an INSERT under a
// primary key), and the recorded version is the last.
func TestConcurrentMigrate(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	steps := []string{
		`CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a VALUES (1);`,
		`CREATE TABLE b (id int PRIMARY KEY); INSERT INTO a VALUES (2);`,
	}
	var pools []*pgxpool.Pool
	for range 8 {
		pools = append(pools, open(t, dsn))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pools))
	start := make(chan struct{})
	for i, p := range pools {
		wg.Go(func() {
			<-start
			errs[i] = Migrate(context.Background(), p, "test", steps)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Migrate from pool %d: %v", i, err)
		}
	}
	var n int
	if err := pools[0].QueryRow(t.Context(), `SELECT count(*) FROM a`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows of a = %d, %v; want 2 (each step once)", n, err)
	}
	if v, err := Version(t.Context(), pools[0], "test"); err != nil || v != 2 {
		t.Fatalf("Version = %d, %v", v, err)
	}
	// A program that knows fewer steps refuses the newer schema.
	if err := Migrate(t.Context(), pools[1], "test", steps[:1]); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("older program: %v, want ErrSchemaTooNew", err)
	}
	// Another schema name has its own version.
	if err := Migrate(t.Context(), pools[1], "other", []string{`CREATE TABLE c (id int)`}); err != nil {
		t.Fatal(err)
	}
	if v, _ := Version(t.Context(), pools[1], "other"); v != 1 {
		t.Fatalf("Version(other) = %d", v)
	}
}

// TestFailedStepChangesNothing: a step that fails leaves neither its own
// changes nor the steps before it in the same call, and the version as it
// was.
func TestFailedStepChangesNothing(t *testing.T) {
	pool := open(t, pgtest.Shared(t).NewDatabase(t))
	if v, err := Version(t.Context(), pool, "x"); err != nil || v != 0 {
		t.Fatalf("Version of a fresh database = %d, %v", v, err)
	}
	err := Migrate(t.Context(), pool, "x", []string{`CREATE TABLE ok (id int)`, `CREATE TABLE broken (id nosuchtype)`})
	if err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("Migrate = %v, want a failure naming version 2", err)
	}
	var exists bool
	if err := pool.QueryRow(t.Context(), `SELECT to_regclass('ok') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("table of step 1 exists after the failed migration: %v, %v", exists, err)
	}
	if v, _ := Version(t.Context(), pool, "x"); v != 0 {
		t.Fatalf("version %d after a failed migration", v)
	}
}

// TestBadDSNHidesPassword: a connection string that does not parse, or a
// server that refuses, gives an error without the password.
func TestBadDSNHidesPassword(t *testing.T) {
	const pw = "Sup3r-s3cret-pw"
	for _, dsn := range []string{
		"postgres://u:" + pw + "@[::1:5432/db",
		"host=localhost password=" + pw + " port=notaport",
		"postgres://u:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
	} {
		_, err := Open(t.Context(), dsn)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), pw) {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
	if _, err := ParseConfig("postgres://u:" + pw + "@[::1:5432/db"); !errors.Is(err, ErrBadDSN) {
		t.Fatalf("ParseConfig = %v, want ErrBadDSN", err)
	}
}

// TestStoreOwnership: a Store that opened its pool closes it; one given a
// shared pool leaves it open.
func TestStoreOwnership(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	noop := func(context.Context, *pgxpool.Pool) error { return nil }
	owned, err := OpenStore(t.Context(), dsn, noop)
	if err != nil {
		t.Fatal(err)
	}
	_ = owned.Close()
	_ = owned.Close()
	if !owned.Closed() || owned.Pool().Ping(t.Context()) == nil {
		t.Fatal("an owning Store left its pool open")
	}
	pool := open(t, dsn)
	shared, err := NewStore(t.Context(), pool, noop)
	if err != nil {
		t.Fatal(err)
	}
	_ = shared.Close()
	if err := pool.Ping(t.Context()); err != nil {
		t.Fatalf("a sharing Store closed the pool: %v", err)
	}
	var app string
	if err := pool.QueryRow(t.Context(), `SELECT current_setting('application_name')`).Scan(&app); err != nil || app != ApplicationName {
		t.Fatalf("application_name = %q, %v", app, err)
	}
}
