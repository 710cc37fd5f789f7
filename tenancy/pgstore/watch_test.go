package pgstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/pgstore"
)

// bound is how long the tests wait for a change: the stated bound of a
// change over a working connection is milliseconds; this leaves room for a
// loaded machine without waiting for ever.
const bound = 15 * time.Second

// watch runs Watch on pool until the test ends.
func watch(t *testing.T, pool *pgxpool.Pool, opts *pgstore.WatchOptions) <-chan pgstore.Change {
	t.Helper()
	ch := make(chan pgstore.Change, 256)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pgstore.Watch(ctx, pool, func(c pgstore.Change) { ch <- c }, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v", err)
		}
	})
	select {
	case c := <-ch:
		if !c.All {
			t.Fatalf("first change %+v, want All", c)
		}
	case <-time.After(bound):
		t.Fatalf("Watch did not subscribe within %v", bound)
	}
	return ch
}

// waitFor returns the first change for which match is true, failing after
// bound.
func waitFor(t *testing.T, ch <-chan pgstore.Change, what string, match func(pgstore.Change) bool) pgstore.Change {
	t.Helper()
	deadline := time.After(bound)
	for {
		select {
		case c := <-ch:
			if match(c) {
				return c
			}
		case <-deadline:
			t.Fatalf("%s: not seen within %v", what, bound)
			return pgstore.Change{}
		}
	}
}

// TestWatchAcrossGateways: two pools on one database stand for two
// gateways: what the admin of one changes (an account created, its realm
// and allowlist edited, an application, the account deleted) reaches the
// other's watcher, with the realms a cache keyed by realm must drop.
func TestWatchAcrossGateways(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	key := tenancy.NewRandomSealingKey()
	gw1, err := pgstore.NewStore(ctx, newPool(t, dsn), &pgstore.Options{SealingKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ch := watch(t, newPool(t, dsn), nil)

	a, err := gw1.CreateAccount(ctx, &tenancy.Account{Name: "Acme", SIPRealm: "old.acme.example", ServiceProvider: "sp1"})
	if err != nil {
		t.Fatal(err)
	}
	c := waitFor(t, ch, "account created", func(c pgstore.Change) bool { return c.Resource == pgstore.ResourceAccount })
	if c.Op != pgstore.OpCreate || c.ID != string(a.SID) || c.Account != string(a.SID) || c.ServiceProvider != "sp1" ||
		!slices.Equal(c.Realms, []string{"old.acme.example"}) {
		t.Fatalf("create: %+v", c)
	}
	a.SIPRealm = "new.acme.example"
	a.SIP.Allowlist = []string{"203.0.113.0/24"}
	if a, err = gw1.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	c = waitFor(t, ch, "account updated", func(c pgstore.Change) bool { return c.Resource == pgstore.ResourceAccount })
	slices.Sort(c.Realms)
	if c.Op != pgstore.OpUpdate || c.ID != string(a.SID) || !slices.Equal(c.Realms, []string{"new.acme.example", "old.acme.example"}) {
		t.Fatalf("update: %+v", c)
	}
	app, err := gw1.CreateApplication(ctx, &tenancy.Application{Account: a.SID, Name: "ivr"})
	if err != nil {
		t.Fatal(err)
	}
	c = waitFor(t, ch, "application created", func(c pgstore.Change) bool { return c.Resource == pgstore.ResourceApplication })
	if c.Op != pgstore.OpCreate || c.ID != string(app.SID) || c.Account != string(a.SID) {
		t.Fatalf("application: %+v", c)
	}
	if err := gw1.DeleteAccount(ctx, a.SID); err != nil {
		t.Fatal(err)
	}
	// The cascade deletes the application too; both are announced, in the
	// order the triggers fired.
	var appGone, acctGone bool
	waitFor(t, ch, "account and application deleted", func(c pgstore.Change) bool {
		appGone = appGone || c.Resource == pgstore.ResourceApplication && c.Op == pgstore.OpDelete && c.ID == string(app.SID)
		acctGone = acctGone || c.Resource == pgstore.ResourceAccount && c.Op == pgstore.OpDelete && c.ID == string(a.SID)
		return appGone && acctGone
	})
}

// TestWatchAfterServerEndsConnection: the server ends the watcher's
// connection (a restart, a failover): the watcher delivers All, meaning
// "drop everything", and then the changes committed after.
func TestWatchAfterServerEndsConnection(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	pool := newPool(t, dsn)
	s, err := pgstore.NewStore(ctx, pool, keyOpts())
	if err != nil {
		t.Fatal(err)
	}
	ch := watch(t, newPool(t, dsn), &pgstore.WatchOptions{HealthInterval: time.Hour})
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'voicegw-watch' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "All after the connection ended", func(c pgstore.Change) bool { return c.All })
	a, err := s.CreateAccount(ctx, &tenancy.Account{Name: "After"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "a change after reconnecting", func(c pgstore.Change) bool { return c.ID == string(a.SID) })
}
