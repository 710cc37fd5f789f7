package pgstore_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/internal/pgnotify"
	"github.com/voicegw/voicegw/internal/pgtest"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/pgstore"
	"github.com/voicegw/voicegw/rbac/storetest"
)

func newDSN(t testing.TB) string {
	t.Helper()
	return pgtest.Shared(t).NewDatabase(t)
}

func newPool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgstore.OpenPool(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func openDriver(t *testing.T) rbac.KeyDriver {
	d, err := pgstore.OpenDriver(context.Background(), newDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMemberConformance(t *testing.T) {
	storetest.RunMemberTests(t, func(t *testing.T) rbac.MemberDriver {
		d, err := pgstore.OpenDriver(context.Background(), newDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestKeyConformance(t *testing.T) {
	storetest.RunKeyTests(t, openDriver)
}

// TestKeyConformanceSharedPool: drivers over a pool the caller owns.
func TestKeyConformanceSharedPool(t *testing.T) {
	storetest.RunKeyTests(t, func(t *testing.T) rbac.KeyDriver {
		d, err := pgstore.NewDriver(context.Background(), newPool(t, newDSN(t)))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestKeysAcrossGateways: two pools stand for two gateways: a key created
// through one works through the other; deleted or revoked through one, it
// fails on the other's very next check; the database holds no secret, only
// its HMAC; and the other gateway hears of each change (LISTEN/NOTIFY),
// revocation included.
func TestKeysAcrossGateways(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	a, err := pgstore.NewKeyStore(ctx, newPool(t, dsn), nil)
	if err != nil {
		t.Fatal(err)
	}
	bPool := newPool(t, dsn)
	b, err := pgstore.NewKeyStore(ctx, bPool, nil)
	if err != nil {
		t.Fatal(err)
	}
	changes := listen(t, dsn)

	ck, err := a.Create(ctx, rbac.NewAPIKey{Name: "k", ServiceType: "insights", Account: "acct-a", CreatorEmail: "ann@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerifyKey(ctx, ck.Secret); err != nil {
		t.Fatalf("other gateway: %v", err)
	}
	ck2, err := a.Create(ctx, rbac.NewAPIKey{Name: "k2", ServiceType: "insights", Account: "acct-a", CreatorEmail: "ann@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke(ctx, ck2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyKey(ctx, ck2.Secret); !errors.Is(err, rbac.ErrKeyRevoked) {
		t.Fatalf("after Revoke by the other gateway: %v", err)
	}
	if err := a.Delete(ctx, ck.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerifyKey(ctx, ck.Secret); !errors.Is(err, rbac.ErrUnknownKey) {
		t.Fatalf("other gateway after Delete: %v", err)
	}
	for _, want := range []struct{ op, id string }{{"create", ck.ID}, {"create", ck2.ID}, {"revoke", ck2.ID}, {"delete", ck.ID}} {
		c := nextChange(t, changes)
		if c.Resource != "api_key" || c.Op != want.op || c.ID != want.id || c.Account != "acct-a" {
			t.Fatalf("change %+v, want api_key %s %s", c, want.op, want.id)
		}
	}

	rows, err := bPool.Query(ctx, `SELECT k::text FROM rbac_api_keys k`)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(raw) != 1 {
		t.Fatalf("rows %d, %v", len(raw), err)
	}
	secret := ck2.Secret.Reveal()
	if strings.Contains(raw[0], secret) || strings.Contains(raw[0], hex.EncodeToString([]byte(secret))) ||
		strings.Contains(raw[0], secret[4:len(secret)-4]) {
		t.Fatal("the database holds an API key secret")
	}
	h := a.HashSecret(secret)
	if !strings.Contains(raw[0], hex.EncodeToString(h[:])) {
		t.Fatal("the row does not hold the key's HMAC: the test reads the wrong thing")
	}
}

// TestRoleDeletionAcrossGateways: a role deleted through one gateway while
// another gives it to a member: never both.
func TestRoleDeletionAcrossGateways(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	one, err := pgstore.NewMemberStore(ctx, newPool(t, dsn), nil)
	if err != nil {
		t.Fatal(err)
	}
	two, err := pgstore.NewMemberStore(ctx, newPool(t, dsn), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		r, err := one.CreateRole(ctx, &rbac.Role{Account: "acct-a", Name: "r" + string(rune('a'+i))})
		if err != nil {
			t.Fatal(err)
		}
		del, create := make(chan error, 1), make(chan error, 1)
		go func() { del <- one.DeleteRole(ctx, r.ID) }()
		go func() {
			_, err := two.CreateMember(ctx, &rbac.Member{Email: "m" + string(rune('a'+i)) + "@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", RoleID: r.ID})
			create <- err
		}()
		delErr, createErr := <-del, <-create
		switch {
		case delErr == nil && createErr == nil:
			t.Fatal("a role was deleted while another gateway gave it to a member")
		case delErr != nil && !errors.Is(delErr, rbac.ErrInUse):
			t.Fatalf("DeleteRole: %v", delErr)
		case createErr != nil && !errors.Is(createErr, rbac.ErrInvalid):
			t.Fatalf("CreateMember: %v", createErr)
		}
	}
}

// listen delivers the database's change notifications (the channel
// tenancy/pgstore.Watch listens on), after the subscription.
func listen(t *testing.T, dsn string) <-chan pgnotify.Change {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan pgnotify.Change, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = pgnotify.Listen(ctx, cfg, func(c pgnotify.Change) { ch <- c }, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if c := nextChange(t, ch); !c.All {
		t.Fatalf("first change %+v, want All", c)
	}
	return ch
}

func nextChange(t *testing.T, ch <-chan pgnotify.Change) pgnotify.Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("no change notified within 15 s")
		return pgnotify.Change{}
	}
}
