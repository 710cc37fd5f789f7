package pgstore_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/voicegw/voicegw/internal/pgtest"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/pgstore"
	"github.com/voicegw/voicegw/tenancy/admin/storetest"
	tenancypg "github.com/voicegw/voicegw/tenancy/pgstore"
)

func TestConformance(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) admin.Driver {
		d, err := pgstore.OpenDriver(context.Background(), pgtest.Shared(t).NewDatabase(t),
			&pgstore.Options{SealingKey: tenancy.NewRandomSealingKey()})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestSharedDatabaseAndSMTPPasswordAtRest: the admin tables live beside
// tenancy's in one database and share its sealing key; the SMTP passwords
// never lie in the database in clear (no column of any row, in clear or
// hex); another key cannot open the database; another gateway's pool with
// the same key reads them back, and hears of the changes.
func TestSharedDatabaseAndSMTPPasswordAtRest(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Shared(t).NewDatabase(t)
	key := tenancy.NewRandomSealingKey()
	pool, err := tenancypg.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tenants, err := tenancypg.NewStore(ctx, pool, &tenancypg.Options{SealingKey: key})
	if err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.NewStore(ctx, pool, &pgstore.Options{SealingKey: key})
	if err != nil {
		t.Fatal(err)
	}
	changes := make(chan tenancypg.Change, 16)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = tenancypg.Watch(wctx, pool, func(c tenancypg.Change) { changes <- c }, nil)
	}()
	if c := <-changes; !c.All {
		t.Fatalf("first change %+v", c)
	}

	if _, err := store.CreateProvider(ctx, &admin.ServiceProvider{ID: "sp", Name: "SP"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tenants.CreateAccount(ctx, &tenancy.Account{Name: "A", ServiceProvider: "sp"}); err != nil {
		t.Fatal(err)
	}
	const pw1, pw2 = "platform-smtp-Passw0rd", "provider-smtp-Passw0rd"
	if _, err := store.PutSMTP(ctx, "", &admin.SMTPConfig{SMTPSettings: tenancy.SMTPSettings{Host: "smtp.example.com", Username: "u",
		Password: pw1, MailFrom: "noreply@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutSMTP(ctx, "sp", &admin.SMTPConfig{SMTPSettings: tenancy.SMTPSettings{Host: "smtp.sp.example.com", Username: "u",
		Password: pw2, MailFrom: "noreply@sp.example.com"}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ resource, op, id string }{
		{"service_provider", "create", "sp"}, {"account", "create", ""}, {"smtp", "create", ""}, {"smtp", "create", "sp"},
	} {
		c := <-changes
		if c.Resource != want.resource || c.Op != want.op || (want.id != "" && c.ID != want.id) {
			t.Fatalf("change %+v, want %v", c, want)
		}
	}
	_ = store.Close()
	_ = tenants.Close()

	rows, err := pool.Query(ctx, `SELECT s::text FROM admin_smtp s`)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(raw) != 2 {
		t.Fatalf("%d rows, %v", len(raw), err)
	}
	all := strings.Join(raw, "\n")
	if !strings.Contains(all, "smtp.sp.example.com") {
		t.Fatal("the raw rows do not hold the settings: the test reads the wrong thing")
	}
	for _, pw := range []string{pw1, pw2} {
		if strings.Contains(all, pw) || strings.Contains(all, hex.EncodeToString([]byte(pw))) {
			t.Fatal("the database holds an SMTP password in clear")
		}
	}
	if _, err := pgstore.NewStore(ctx, pool, &pgstore.Options{SealingKey: tenancy.NewRandomSealingKey()}); !errors.Is(err, tenancy.ErrWrongSealingKey) {
		t.Fatalf("another key: %v, want ErrWrongSealingKey", err)
	}
	if _, err := pgstore.NewStore(ctx, pool, nil); !errors.Is(err, tenancy.ErrNoSealingKey) {
		t.Fatalf("no key: %v, want ErrNoSealingKey", err)
	}
	other, err := pgstore.OpenStore(ctx, dsn, &pgstore.Options{SealingKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if c, err := other.SMTP(ctx, "sp"); err != nil || c.Password.Reveal() != pw2 {
		t.Fatalf("another gateway: %v", err)
	}
	if p, err := other.Provider(ctx, "sp"); err != nil || p.Name != "SP" {
		t.Fatalf("another gateway: %+v, %v", p, err)
	}
}
