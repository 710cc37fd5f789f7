package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/sqlitestore"
	"github.com/voicegw/voicegw/tenancy/admin/storetest"
	tsqlite "github.com/voicegw/voicegw/tenancy/sqlitestore"
)

func TestConformance(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) admin.Driver {
		d, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "admin.db"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// The admin tables live beside tenancy's in one shared database, and
// survive a reopen.
func TestSharedDatabaseAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gw.db")
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	td, err := tsqlite.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := sqlitestore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	tenants, store := tenancy.NewStore(td, nil), admin.NewStore(ad, nil)
	if _, err := store.CreateProvider(ctx, &admin.ServiceProvider{ID: "sp", Name: "SP"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tenants.CreateAccount(ctx, &tenancy.Account{Name: "A", ServiceProvider: "sp"}); err != nil {
		t.Fatal(err)
	}
	_ = store.Close()
	_ = tenants.Close()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("New's Close closed the shared database: %v", err)
	}
	_ = db.Close()

	d, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	store = admin.NewStore(d, nil)
	defer store.Close()
	if p, err := store.Provider(ctx, "sp"); err != nil || p.Name != "SP" {
		t.Fatalf("after reopen: %+v, %v", p, err)
	}
}
