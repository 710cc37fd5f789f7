package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/internal/pgtest"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/pgstore"
	"github.com/voicegw/voicegw/tenancy/storetest"
)

// newDSN returns a fresh database of the test binary's PostgreSQL server
// (skipped, naming the package, when PostgreSQL is not installed).
func newDSN(t testing.TB) string {
	t.Helper()
	return pgtest.Shared(t).NewDatabase(t)
}

// newPool opens a pool to dsn, closed when the test ends: one pool stands
// for one gateway process.
func newPool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgstore.OpenPool(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func keyOpts() *pgstore.Options { return &pgstore.Options{SealingKey: tenancy.NewRandomSealingKey()} }

func TestConformance(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) tenancy.Driver {
		d, err := pgstore.OpenDriver(context.Background(), newDSN(t), keyOpts())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestConformanceSharedPool runs the suite on drivers over a pool the test
// owns (NewDriver): closing the driver leaves the pool open.
func TestConformanceSharedPool(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) tenancy.Driver {
		pool := newPool(t, newDSN(t))
		d, err := pgstore.NewDriver(context.Background(), pool, keyOpts())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := pool.Ping(context.Background()); err != nil {
				t.Errorf("closing the driver closed the shared pool: %v", err)
			}
		})
		return d
	})
}

// TestDurableAcrossReopen: what one pool wrote, a store opened later on
// another pool with the same key reads back identically.
func TestDurableAcrossReopen(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	key := tenancy.NewRandomSealingKey()
	s, err := pgstore.OpenStore(ctx, dsn, &pgstore.Options{SealingKey: key})
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
	_ = s.Close()
	s2, err := pgstore.OpenStore(ctx, dsn, &pgstore.Options{SealingKey: key})
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
	if gotApp, err := s2.Application(ctx, app.SID); err != nil || !reflect.DeepEqual(gotApp, app) {
		t.Fatalf("application after reopen: %+v, %v", gotApp, err)
	}
}

// TestUniqueAcrossPools: two pools stand for two gateway processes: a
// realm taken through one cannot be taken through the other, however the
// creations interleave.
func TestUniqueAcrossPools(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	key := tenancy.NewRandomSealingKey()
	var stores []*tenancy.Store
	for range 2 {
		s, err := pgstore.NewStore(ctx, newPool(t, dsn), &pgstore.Options{SealingKey: key})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = stores[i%2].CreateAccount(ctx, &tenancy.Account{Name: fmt.Sprint("n", i), SIPRealm: "one.example.com"})
		})
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
		t.Fatalf("%d creations of one realm from two pools succeeded, want 1", wins)
	}
}

// TestConcurrentOpen: four gateways start at once on a fresh database:
// each opens its stores (schema migrations, the sealing key's record)
// without error, and they share what one of them writes.
func TestConcurrentOpen(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	key := tenancy.NewRandomSealingKey()
	stores := make([]*tenancy.Store, 4)
	limiters := make([]*pgstore.Limiter, 4)
	errs := make([]error, 4)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			<-start
			pool, err := pgstore.OpenPool(ctx, dsn)
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(pool.Close)
			if stores[i], errs[i] = pgstore.NewStore(ctx, pool, &pgstore.Options{SealingKey: key}); errs[i] != nil {
				return
			}
			limiters[i], errs[i] = pgstore.NewLimiter(ctx, pool, nil)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("gateway %d: %v", i, err)
		}
	}
	a, err := stores[0].CreateAccount(ctx, &tenancy.Account{Name: "Acme", SIPRealm: "sip.acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := stores[3].AccountByRealm(ctx, "sip.acme.example"); err != nil || got.SID != a.SID {
		t.Fatalf("another gateway: %v, %v", got, err)
	}
	if err := limiters[1].Acquire(ctx, a.SID, "call", 1); err != nil {
		t.Fatal(err)
	}
	if err := limiters[2].Acquire(ctx, a.SID, "other", 1); !errors.Is(err, tenancy.ErrLimitReached) {
		t.Fatalf("second session across gateways: %v", err)
	}
}
