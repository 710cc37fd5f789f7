package rbac_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/memstore"
)

func ExamplePolicy_Decide() {
	var viewer rbac.Privileges
	viewer.Grant(rbac.EntityInteraction, rbac.ActionRead)
	p := &rbac.Principal{Subject: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", Privileges: viewer}

	var az rbac.Authorizer = rbac.Policy{}
	read := rbac.Request{Target: rbac.Target{Account: "acct-a"}, Entity: rbac.EntityInteraction, Action: rbac.ActionRead}
	fmt.Println(az.Decide(p, read))
	del := read
	del.Action = rbac.ActionDelete
	fmt.Println(az.Decide(p, del))
	other := read
	other.Account = "acct-b"
	fmt.Println(az.Decide(p, other))
	fmt.Println(rbac.Authorize(az, p, other))
	// Output:
	// allow
	// deny: privilege not granted
	// deny: out of scope
	// rbac: ann@example.com may not read interaction of account "acct-b" (service provider ""): deny: out of scope
}

func ExampleCheckFields() {
	sp := &rbac.Principal{Subject: "sp@example.com", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp-1"}
	// The fields an update changes (tenancy.ChangedFields gives them).
	err := rbac.CheckFields(sp, rbac.AccountFieldRules(), []string{"name", "licensed_sessions", "sip_realm", "unit"})
	for _, fe := range rbac.FieldErrors(err) {
		fmt.Println(fe.Field, errors.Is(fe, rbac.ErrForbidden))
	}
	// Output:
	// licensed_sessions true
	// unit true
}

func ExampleKeyStore() {
	ctx := context.Background()
	keys := memstore.NewKeyStore(nil)
	defer keys.Close()

	// Ann's role lets her read interactions, usage and their metrics: what
	// an "insights" key grants, and no more.
	var analyst rbac.Privileges
	analyst.Grant(rbac.EntityInteraction, rbac.ActionRead).Grant(rbac.EntityUsage, rbac.ActionRead)
	analyst.Advanced = rbac.ReadInteractionMetrics
	creator := &rbac.Principal{Subject: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", Privileges: analyst}
	ck, err := keys.Create(ctx, rbac.NewAPIKey{Name: "CRM sync", ServiceType: "insights", Account: "acct-a"}, creator)
	if err != nil {
		fmt.Println(err)
		return
	}
	// An "api" key would do more than Ann may: refused.
	_, err = keys.Create(ctx, rbac.NewAPIKey{Name: "everything", ServiceType: "api", Account: "acct-a"}, creator)
	fmt.Println(errors.Is(err, rbac.ErrForbidden))
	// ck.Secret.Reveal() is shown to the operator once; the store keeps a hash.
	k, err := keys.Lookup(ctx, ck.Secret.Reveal())
	fmt.Println(k.Name, k.Account, k.Scope, k.CreatorEmail, err)

	_ = keys.Delete(ctx, ck.ID)
	_, err = keys.Lookup(ctx, ck.Secret.Reveal())
	fmt.Println(errors.Is(err, rbac.ErrInvalidKey))
	// Output:
	// true
	// CRM sync acct-a account ann@example.com <nil>
	// true
}
