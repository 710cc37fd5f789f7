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
		d, err := sqlitestore.OpenDriver(context.Background(), filepath.Join(t.TempDir(), "tenancy.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestConformanceInMemoryDatabase(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) tenancy.Driver {
		d, err := sqlitestore.OpenDriver(context.Background(), ":memory:", nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestDurableAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tenancy.db")
	s, err := sqlitestore.OpenStore(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
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

	s2, err := sqlitestore.OpenStore(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.AccountByRealm(ctx, in.SIPRealm)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("after reopen:\n got %#v\nwant %#v", got, a)
	}
	storetest.CheckRecordingSecrets(t, in, got)
	storetest.CheckSIPSecrets(t, in, got)
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
		s, err := sqlitestore.OpenStore(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
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
	db, err := sqlitestore.OpenDB(context.Background(), path)
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

// TestMigrationFromVersion1 opens a database written by the first schema
// (before SIP access, the session webhook and bucket URLs) and checks that its
// accounts read back unchanged, with the new fields empty and writable.
func TestMigrationFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.Migrate(ctx, db, sqlitestore.SchemaName, schemaV1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO tenancy_accounts(sid, name, unit, max_units, licensed_sessions,
		sip_realm, webhook_secret, rec_enabled, rec_format, rec_all_calls, revision, created_at, updated_at)
		VALUES('2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4', 'old', 'sessions', 0, 3, 'old.example.com',
		'whsec_old_secret_0123456789', 0, 'wav', 0, 1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	s, err := sqlitestore.NewStore(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.AccountByName(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if a.LicensedSessions != 3 || a.SIPRealm != "old.example.com" || !a.SIP.IsZero() || a.SessionWebhook != "" || a.Recording.BucketURL != "" {
		t.Fatalf("migrated account: %+v", a)
	}
	a.SIP.Users = []tenancy.SIPUser{{Username: "u", Password: "password-123"}}
	a.SessionWebhook = "https://example.com/hook"
	if _, err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, _ := s.AccountByName(ctx, "old")
	if got.SessionWebhook != "https://example.com/hook" || !got.SIP.Users[0].HA1.Equal(tenancy.NewDigestHA1("u", "old.example.com", "password-123")) {
		t.Fatalf("after update: %+v", got)
	}
	_ = db.Close()
}

// schemaV1 is the first schema step of the driver, as released.
var schemaV1 = []string{`
CREATE TABLE tenancy_accounts (
	sid                       TEXT PRIMARY KEY,
	name                      TEXT NOT NULL UNIQUE,
	service_provider          TEXT NOT NULL DEFAULT '',
	unit                      TEXT NOT NULL,
	max_units                 INTEGER NOT NULL,
	licensed_sessions         INTEGER NOT NULL,
	sip_realm                 TEXT UNIQUE,
	webhook_secret            TEXT NOT NULL,
	prev_webhook_secret       TEXT NOT NULL DEFAULT '',
	prev_webhook_secret_until INTEGER,
	device_calls_application  TEXT NOT NULL DEFAULT '',
	siprec_application        TEXT NOT NULL DEFAULT '',
	registration_webhook      TEXT NOT NULL DEFAULT '',
	queue_event_webhook       TEXT NOT NULL DEFAULT '',
	rec_enabled               INTEGER NOT NULL,
	rec_format                TEXT NOT NULL,
	rec_bucket                TEXT NOT NULL DEFAULT '',
	rec_all_calls             INTEGER NOT NULL,
	call_attached_data        TEXT NOT NULL DEFAULT '[]',
	revision                  INTEGER NOT NULL,
	created_at                INTEGER NOT NULL,
	updated_at                INTEGER NOT NULL
);
CREATE INDEX tenancy_accounts_sp ON tenancy_accounts(service_provider, name);
CREATE TABLE tenancy_applications (
	sid              TEXT PRIMARY KEY,
	account_sid      TEXT NOT NULL REFERENCES tenancy_accounts(sid) ON DELETE CASCADE,
	name             TEXT NOT NULL,
	record_all_calls INTEGER NOT NULL,
	revision         INTEGER NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	UNIQUE(account_sid, name)
);`}
