package memstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/memstore"
)

func ExampleNewMemberStore() {
	ctx := context.Background()
	s := memstore.NewMemberStore(nil)
	defer s.Close()

	var viewer rbac.Privileges
	viewer.Grant(rbac.EntityInteraction, rbac.ActionRead)
	role, err := s.CreateRole(ctx, &rbac.Role{Account: "acct-a", Name: "Viewer", Privileges: viewer})
	if err != nil {
		fmt.Println(err)
		return
	}
	ann, err := s.CreateMember(ctx, &rbac.Member{Email: "Ann@Example.com", Scope: rbac.ScopeAccount, Account: "acct-a", RoleID: role.ID})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = s.CreateMember(ctx, &rbac.Member{Email: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-b"})
	fmt.Println(ann.Email, errors.Is(err, rbac.ErrExists))

	// The member's principal carries the role's privileges.
	p, _ := s.Principal(ctx, ann.ID)
	read := rbac.Request{Target: rbac.Target{Account: "acct-a"}, Entity: rbac.EntityInteraction, Action: rbac.ActionRead}
	fmt.Println(rbac.Policy{}.Decide(p, read))
	read.Account = "acct-b"
	fmt.Println(rbac.Policy{}.Decide(p, read))
	// Output:
	// ann@example.com true
	// allow
	// deny: out of scope
}

func ExampleNewKeyStore() {
	ctx := context.Background()
	keys := memstore.NewKeyStore(nil)
	defer keys.Close()

	// A key never grants more than its creator holds: Ann may read
	// interactions, usage and their metrics, what an "insights" key grants.
	var analyst rbac.Privileges
	analyst.Grant(rbac.EntityInteraction, rbac.ActionRead).Grant(rbac.EntityUsage, rbac.ActionRead)
	analyst.Advanced = rbac.ReadInteractionMetrics
	creator := &rbac.Principal{Subject: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", Privileges: analyst}
	ck, err := keys.Create(ctx, rbac.NewAPIKey{Name: "CRM sync", ServiceType: "insights", Account: "acct-a"}, creator)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The secret is returned once; the store keeps only its hash.
	p, err := keys.VerifyKey(ctx, ck.Secret)
	fmt.Println(p.Account, p.Scope, err)

	_ = keys.Revoke(ctx, ck.ID)
	_, err = keys.VerifyKey(ctx, ck.Secret)
	fmt.Println(errors.Is(err, rbac.ErrInvalidKey))
	// Output:
	// acct-a account <nil>
	// true
}
