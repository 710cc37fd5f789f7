package sqlitestore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
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
		d, err := sqlitestore.OpenDriver(context.Background(), filepath.Join(t.TempDir(), "admin.db"), nil)
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
	td, err := tsqlite.NewDriver(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := sqlitestore.NewDriver(ctx, db, nil)
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

	d, err := sqlitestore.OpenDriver(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	store = admin.NewStore(d, nil)
	defer store.Close()
	if p, err := store.Provider(ctx, "sp"); err != nil || p.Name != "SP" {
		t.Fatalf("after reopen: %+v, %v", p, err)
	}
}

// TestSMTPPasswordAtRest: the SMTP password is sealed with the key the
// tenancy store of the same database uses: the raw files never hold it, a
// password stored in clear by the first version is sealed (and its bytes
// overwritten) when the database is opened, and another key cannot open the
// database.
func TestSMTPPasswordAtRest(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	const clearOne, sealedOne = "old-smtp-Passw0rd-in-clear", "new-smtp-Passw0rd-sealed"
	// A database of the first version, with a password in clear.
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlitedb.NewStore(ctx, db, sqlitestore.SchemaName, firstSchema()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO admin_smtp(owner, host, port, secure, skip_certificate_check, username, password,
		mail_from, notification_bcc, support_email, revision, updated_at) VALUES('', 'smtp.example.com', 587, 0, 0, 'u', ?, 'a@example.com', '', '', 1, 0)`, clearOne); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	db, err = sqlitestore.OpenDB(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tenants, err := tsqlite.NewStore(ctx, db, nil) // makes the key beside the database
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlitestore.NewStore(ctx, db, nil) // and shares it
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.SMTP(ctx, "")
	if err != nil || got.Password.Reveal() != clearOne {
		t.Fatalf("the migrated password: %v", err)
	}
	got.Password, got.Revision = sealedOne, 0 // a new owner's first settings
	if _, err := store.PutSMTP(ctx, "sp-1", got); err != nil {
		t.Fatal(err)
	}
	_ = store.Close()
	_ = tenants.Close()
	_ = db.Close()
	for _, f := range []string{path, path + "-wal"} {
		raw, _ := os.ReadFile(f)
		for _, pw := range []string{clearOne, sealedOne} {
			if bytes.Contains(raw, []byte(pw)) {
				t.Fatalf("%s holds an SMTP password in clear", filepath.Base(f))
			}
		}
	}
	if _, err := sqlitestore.OpenStore(ctx, path, &sqlitestore.Options{SealingKey: tenancy.NewRandomSealingKey()}); !errors.Is(err, tenancy.ErrWrongSealingKey) {
		t.Fatalf("another key: %v, want ErrWrongSealingKey", err)
	}
	s, err := sqlitestore.OpenStore(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, err := s.SMTP(ctx, "sp-1"); err != nil || c.Password.Reveal() != sealedOne {
		t.Fatalf("after reopen: %v", err)
	}
}

// firstSchema is the driver's schema as first released (the SMTP password
// in clear).
func firstSchema() []string {
	return []string{`
CREATE TABLE admin_service_providers (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL,
	revision    INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE TABLE admin_smtp (
	owner                  TEXT PRIMARY KEY,
	host                   TEXT NOT NULL,
	port                   INTEGER NOT NULL,
	secure                 INTEGER NOT NULL,
	skip_certificate_check INTEGER NOT NULL,
	username               TEXT NOT NULL,
	password               TEXT NOT NULL,
	mail_from              TEXT NOT NULL,
	notification_bcc       TEXT NOT NULL,
	support_email          TEXT NOT NULL,
	revision               INTEGER NOT NULL,
	updated_at             INTEGER NOT NULL
);
CREATE TABLE admin_audit (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	time             INTEGER NOT NULL,
	actor            TEXT NOT NULL,
	actor_email      TEXT NOT NULL,
	action           TEXT NOT NULL,
	resource         TEXT NOT NULL,
	resource_id      TEXT NOT NULL,
	service_provider TEXT NOT NULL,
	account_sid      TEXT NOT NULL,
	fields           TEXT NOT NULL,
	before_json      TEXT,
	after_json       TEXT
);
CREATE INDEX admin_audit_account ON admin_audit(account_sid, id);
CREATE INDEX admin_audit_sp ON admin_audit(service_provider, id);`}
}
