package sqlitestore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/sqlitestore"
	"github.com/voicegw/voicegw/rbac/storetest"
)

func open(t *testing.T, path string) *sqlitestore.Driver {
	t.Helper()
	d, err := sqlitestore.OpenDriver(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMemberConformance(t *testing.T) {
	storetest.RunMemberTests(t, func(t *testing.T) rbac.MemberDriver { return open(t, filepath.Join(t.TempDir(), "rbac.db")) })
}

func TestKeyConformance(t *testing.T) {
	storetest.RunKeyTests(t, func(t *testing.T) rbac.KeyDriver { return open(t, filepath.Join(t.TempDir(), "rbac.db")) })
}

// Two connections to one file stand for two gateway processes: a key
// deleted through one fails at once through the other, and the database file
// never holds the secret.
func TestKeysAcrossConnections(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rbac.db")
	a := rbac.NewKeyStore(open(t, path), nil)
	b := rbac.NewKeyStore(open(t, path), nil)
	defer a.Close()
	defer b.Close()
	ck, err := a.Create(ctx, rbac.NewAPIKey{Name: "k", ServiceType: "insights", Account: "acct-a", CreatorEmail: "ann@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerifyKey(ctx, ck.Secret); err != nil {
		t.Fatalf("other process: %v", err)
	}
	if err := a.Delete(ctx, ck.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerifyKey(ctx, ck.Secret); !errors.Is(err, rbac.ErrUnknownKey) {
		t.Fatalf("other process after Delete: %v", err)
	}
	ck2, _ := a.Create(ctx, rbac.NewAPIKey{Name: "k2", ServiceType: "insights", Account: "acct-a", CreatorEmail: "ann@example.com"}, nil)
	if err := b.Revoke(ctx, ck2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyKey(ctx, ck2.Secret); !errors.Is(err, rbac.ErrKeyRevoked) {
		t.Fatalf("after Revoke by another process: %v", err)
	}
	_ = a.Close()
	_ = b.Close()
	for _, f := range []string{path, path + "-wal"} {
		raw, _ := os.ReadFile(f)
		if strings.Contains(string(raw), ck2.Secret.Reveal()) {
			t.Fatalf("%s holds a secret in clear", f)
		}
	}
}
