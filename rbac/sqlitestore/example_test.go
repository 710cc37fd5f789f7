package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/sqlitestore"
)

// API keys in a database file: a key created before a restart still works
// after it, and a deleted key fails at once.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rbac-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "rbac.db")
	opts := &rbac.KeyStoreOptions{Pepper: "from-the-secrets-manager"}

	d, err := sqlitestore.Open(ctx, path)
	if err != nil {
		fmt.Println(err)
		return
	}
	keys := rbac.NewKeyStore(d, opts) // d is also a rbac.MemberDriver
	// The creator must hold what the key's service type grants.
	creator := &rbac.Principal{Subject: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", Privileges: rbac.AllPrivileges()}
	ck, err := keys.Create(ctx, rbac.NewAPIKey{Name: "CRM sync", ServiceType: "insights", Account: "acct-a"}, creator)
	if err != nil {
		fmt.Println(err)
		return
	}
	secret := ck.Secret.Reveal() // shown to the operator once
	_ = keys.Close()

	d, err = sqlitestore.Open(ctx, path) // the next start of the gateway
	if err != nil {
		fmt.Println(err)
		return
	}
	keys = rbac.NewKeyStore(d, opts)
	defer keys.Close()
	k, err := keys.Lookup(ctx, secret)
	fmt.Println(k.Name, k.Account, err)
	_ = keys.Delete(ctx, ck.ID)
	_, err = keys.Lookup(ctx, secret)
	fmt.Println(errors.Is(err, rbac.ErrInvalidKey))
	// Output:
	// CRM sync acct-a <nil>
	// true
}
