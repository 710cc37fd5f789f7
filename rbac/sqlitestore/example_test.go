package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/rbac/sqlitestore"
)

// API keys in a database file: a key created before a restart still works
// after it, and a deleted key fails at once.
func ExampleOpenKeyStore() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rbac-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "rbac.db")
	opts := &rbac.KeyStoreOptions{Pepper: "from-the-secrets-manager"}

	keys, err := sqlitestore.OpenKeyStore(ctx, path, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The creator must hold what the key's service type grants.
	creator := &rbac.Principal{Subject: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", Privileges: rbac.AllPrivileges()}
	ck, err := keys.Create(ctx, rbac.NewAPIKey{Name: "CRM sync", ServiceType: "insights", Account: "acct-a"}, creator)
	if err != nil {
		fmt.Println(err)
		return
	}
	plain := ck.Secret.Reveal() // shown to the operator once
	_ = keys.Close()

	keys, err = sqlitestore.OpenKeyStore(ctx, path, opts) // the next start of the gateway
	if err != nil {
		fmt.Println(err)
		return
	}
	defer keys.Close()
	p, err := keys.VerifyKey(ctx, secret.String(plain))
	fmt.Println(p.Account, err)
	_ = keys.Delete(ctx, ck.ID)
	_, err = keys.VerifyKey(ctx, secret.String(plain))
	fmt.Println(errors.Is(err, rbac.ErrInvalidKey))
	// Output:
	// acct-a <nil>
	// true
}

// One database file shared by the API keys, the members and (through
// tenancy/sqlitestore) the accounts and the licensed-session limiter.
func ExampleOpenDB() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rbac-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := sqlitestore.OpenDB(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close() // after the stores
	keys, err := sqlitestore.NewKeyStore(ctx, db, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer keys.Close()
	members, err := sqlitestore.NewMemberStore(ctx, db, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer members.Close()
	m, err := members.CreateMember(ctx, &rbac.Member{Email: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a"})
	fmt.Println(m.Email, err)
	fi, _ := os.Stat(filepath.Join(dir, "state.db"))
	fmt.Println(fi.Mode().Perm())
	// Output:
	// ann@example.com <nil>
	// -rw-------
}
