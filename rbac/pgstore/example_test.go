package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/pgstore"
	"github.com/voicegw/voicegw/rbac/secret"
)

// API keys shared by every gateway of a deployment: one revoked through any
// of them fails on the next request to all. (Needs a PostgreSQL server:
// compiled, not run; the tests run the same calls against one.)
func ExampleNewKeyStore() {
	ctx := context.Background()
	pool, err := pgstore.OpenPool(ctx, os.Getenv("VOICEGW_DATABASE")) // "" reads PGHOST, PGUSER, …
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	keys, err := pgstore.NewKeyStore(ctx, pool, &rbac.KeyStoreOptions{Pepper: secret.String(os.Getenv("VOICEGW_KEY_PEPPER"))})
	if err != nil {
		log.Fatal(err)
	}
	ck, err := keys.Create(ctx, rbac.NewAPIKey{Name: "CRM", ServiceType: "insights", Account: "AC00", CreatorEmail: "ops@example.com"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("shown once:", ck.Secret.Reveal())
	_ = keys.Revoke(ctx, ck.ID)
	_, err = keys.VerifyKey(ctx, ck.Secret)
	fmt.Println(errors.Is(err, rbac.ErrKeyRevoked))
}

// Members and roles on the same pool.
func ExampleOpenMemberStore() {
	ctx := context.Background()
	members, err := pgstore.OpenMemberStore(ctx, "postgres://voicegw@db.internal/voicegw", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer members.Close()
	var viewer rbac.Privileges
	viewer.Grant(rbac.EntityInteraction, rbac.ActionRead)
	r, err := members.CreateRole(ctx, &rbac.Role{Account: "AC00", Name: "Viewer", Privileges: viewer})
	if err != nil {
		log.Fatal(err)
	}
	m, err := members.CreateMember(ctx, &rbac.Member{Email: "ann@example.com", Scope: rbac.ScopeAccount, Account: "AC00", RoleID: r.ID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Email)
}

// A gateway checks at start that its API key pepper is the one of the
// database's other gateways, and members sign in with passwords kept as
// Argon2id hashes in the database. (Needs a PostgreSQL server: compiled,
// not run; the tests run the same calls against one.)
func ExampleCheckPepper() {
	ctx := context.Background()
	pool, err := pgstore.OpenPool(ctx, "") // PGHOST, PGUSER, …
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	keys, err := pgstore.NewKeyStore(ctx, pool, &rbac.KeyStoreOptions{Pepper: secret.String(os.Getenv("VOICEGW_KEY_PEPPER"))})
	if err != nil {
		log.Fatal(err)
	}
	if err := pgstore.CheckPepper(ctx, pool, keys); errors.Is(err, pgstore.ErrPepperMismatch) {
		log.Fatal("give this gateway the pepper of the others: ", err)
	} else if err != nil {
		log.Fatal(err)
	}
	members, err := pgstore.NewMemberStore(ctx, pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	m, err := members.CreateMember(ctx, &rbac.Member{Email: "ann@example.com", Scope: rbac.ScopeAccount, Account: "AC00"})
	if err != nil {
		log.Fatal(err)
	}
	if err := members.SetPassword(ctx, m.ID, "correct horse battery staple"); err != nil {
		log.Fatal(err)
	}
	_, err = members.VerifyPassword(ctx, "ann@example.com", "correct horse battery staple")
	fmt.Println(err == nil)
}
