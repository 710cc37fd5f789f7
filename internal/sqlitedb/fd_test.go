package sqlitedb

import (
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// TestBurstLeavesFDsAtBaseline: a burst of 300 concurrent writers (a burst
// of call ends, each finishing on its own goroutine) opens at most MaxConns
// connections, and once it is over the process holds exactly the file
// descriptors it held before the burst.
func TestBurstLeavesFDsAtBaseline(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "burst.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(ctx, db, "b", []string{`CREATE TABLE n (v INTEGER)`}); err != nil {
		t.Fatal(err)
	}
	burst := func(n int) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, err := db.ExecContext(ctx, `INSERT INTO n VALUES (?)`, i)
				errs <- err
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
		}
	}
	// Warm up: the pool opens every connection it may, each used once.
	var conns []*sql.Conn
	for range MaxConns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO n VALUES (0)`); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		_ = c.Close()
	}
	base := openFDs(t)
	for range 3 {
		burst(300)
		if s := db.Stats(); s.OpenConnections > MaxConns {
			t.Fatalf("%d connections open after the burst, the bound is %d", s.OpenConnections, MaxConns)
		}
		if n := openFDs(t); n != base {
			t.Fatalf("%d file descriptors after a burst of 300 writers, %d before", n, base)
		}
	}
}
