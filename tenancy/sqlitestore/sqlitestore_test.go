package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

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
