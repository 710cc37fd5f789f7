package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/sqlitestore"
	"github.com/voicegw/voicegw/tenancy/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) tenancy.Driver {
		d, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "tenancy.db"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestConformanceInMemoryDatabase(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) tenancy.Driver {
		d, err := sqlitestore.Open(context.Background(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestDurableAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tenancy.db")
	d, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s := tenancy.NewStore(d, nil)
	in := storetest.FullAccount()
	a, err := s.CreateAccount(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.CreateApplication(ctx, &tenancy.Application{Account: a.SID, Name: "ivr", RecordAllCalls: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	d2, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s2 := tenancy.NewStore(d2, nil)
	defer s2.Close()
	got, err := s2.AccountByRealm(ctx, in.SIPRealm)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("after reopen:\n got %#v\nwant %#v", got, a)
	}
	storetest.CheckRecordingSecrets(t, in, got)
	gotApp, err := s2.Application(ctx, app.SID)
	if err != nil || !reflect.DeepEqual(gotApp, app) {
		t.Fatalf("application after reopen: %+v, %v", gotApp, err)
	}
}

// Two drivers on one file stand for two gateway processes sharing the
// database: uniqueness still holds between them.
func TestUniqueAcrossConnections(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tenancy.db")
	var stores []*tenancy.Store
	for range 2 {
		d, err := sqlitestore.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		s := tenancy.NewStore(d, nil)
		t.Cleanup(func() { _ = s.Close() })
		stores = append(stores, s)
	}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = stores[i%2].CreateAccount(ctx, &tenancy.Account{Name: fmt.Sprint("n", i), SIPRealm: "one.example.com"})
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, tenancy.ErrExists):
			t.Errorf("unexpected: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creations of one realm from two connections succeeded, want 1", wins)
	}
}

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestLimiterConformance(t *testing.T) {
	storetest.RunLimiterTests(t, func(t *testing.T) tenancy.SessionLimiter {
		l, err := sqlitestore.NewLimiter(context.Background(), openDB(t, filepath.Join(t.TempDir(), "l.db")), nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

func TestUsageConformance(t *testing.T) {
	storetest.RunUsageTests(t, func(t *testing.T) tenancy.UsageCounter {
		c, err := sqlitestore.NewUsageCounter(context.Background(), openDB(t, filepath.Join(t.TempDir(), "u.db")))
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Two limiters over two connections to one file stand for two gateway
// instances: they share the count, and the leases of an instance that stops
// renewing expire.
func TestLimiterSharedAndLeases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "limits.db")
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	gw1, err := sqlitestore.NewLimiter(ctx, openDB(t, path), &sqlitestore.LimiterOptions{Holder: "gw1", TTL: time.Minute, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	gw2, err := sqlitestore.NewLimiter(ctx, openDB(t, path), &sqlitestore.LimiterOptions{Holder: "gw2", TTL: time.Minute, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	acct := tenancy.NewSID()
	if err := gw1.Acquire(ctx, acct, "call-1", 2); err != nil {
		t.Fatal(err)
	}
	if err := gw2.Acquire(ctx, acct, "call-2", 2); err != nil {
		t.Fatal(err)
	}
	if err := gw2.Acquire(ctx, acct, "call-3", 2); !errors.Is(err, tenancy.ErrLimitReached) {
		t.Fatalf("third call across two instances: %v, want ErrLimitReached", err)
	}
	// gw2 keeps renewing, gw1 "dies".
	clk.Add(40 * time.Second)
	if n, err := gw2.Renew(ctx); err != nil || n != 1 {
		t.Fatalf("Renew = %d, %v", n, err)
	}
	clk.Add(30 * time.Second) // gw1's lease is 70 s old: expired
	if n, _ := gw2.InUse(ctx, acct); n != 1 {
		t.Fatalf("InUse after gw1's lease expired = %d, want 1", n)
	}
	if err := gw2.Acquire(ctx, acct, "call-3", 2); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if err := gw1.Acquire(ctx, acct, "call-4", 2); !errors.Is(err, tenancy.ErrLimitReached) {
		t.Fatalf("gw2's renewed lease must still count: %v", err)
	}
	if err := gw2.Release(ctx, acct, "call-2"); err != nil {
		t.Fatal(err)
	}
	if err := gw1.Acquire(ctx, acct, "call-4", 2); err != nil {
		t.Fatal(err)
	}
}

func TestLimiterRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := openDB(t, ":memory:")
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	const ttl = 30 * time.Millisecond // Run ticks every 10 ms of real time
	l, err := sqlitestore.NewLimiter(ctx, db, &sqlitestore.LimiterOptions{TTL: ttl, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	acct := tenancy.NewSID()
	if err := l.Acquire(ctx, acct, "long-call", 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	// The call outlives five TTLs of the (fake) clock: Run keeps renewing.
	for range 5 {
		clk.Add(2 * ttl / 3)
		want := clk.Now().Add(ttl).UnixMicro()
		for {
			var exp int64
			if err := db.QueryRowContext(ctx, `SELECT expires_at FROM tenancy_session_leases`).Scan(&exp); err != nil {
				t.Fatal(err)
			}
			if exp == want {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	if n, err := l.InUse(ctx, acct); err != nil || n != 1 {
		t.Fatalf("lease lost while Run renews it: %d, %v", n, err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}
