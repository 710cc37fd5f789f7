package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/voicegw/voicegw/rbac"
	rbacmem "github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/memstore"
	tenancymem "github.com/voicegw/voicegw/tenancy/memstore"
)

// A gateway mounts the admin API next to its other handlers and hears of
// every change through the Notifier, to drop its caches at once.
func Example() {
	ctx := context.Background()
	tenants := tenancymem.NewStore(nil)
	rd := rbacmem.NewDriver()
	keys := rbac.NewKeyStore(rd, nil)
	members := rbac.NewMemberStore(rd, nil)

	// The first Admin key comes from the gateway's bootstrap (no creator).
	root, err := keys.Create(ctx, rbac.NewAPIKey{Name: "bootstrap", ServiceType: "api", Scope: rbac.ScopeAdmin, CreatorEmail: "ops@example.com"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := admin.NewHandler(admin.Config{
		Tenants: tenants, Keys: keys, Members: members, Store: memstore.NewStore(nil),
		Notifier: admin.NotifierFunc(func(_ context.Context, c admin.Change) {
			fmt.Println("changed:", c.Resource, c.Op, c.Fields, c.Realms)
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := admin.NewClient(srv.URL, root.Secret)
	acct, err := c.CreateAccount(ctx, tenancy.Account{Name: "Acme", SIPRealm: "sip.acme.example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := c.AddSIPUser(ctx, acct.SID, "alice", "alice-Passw0rd"); err != nil {
		fmt.Println(err)
		return
	}
	// An account key may not raise its licensed sessions (seed 000: Admin).
	ak, _ := c.CreateAPIKey(ctx, admin.CreateAPIKeyRequest{Name: "acme ops", ServiceType: "api", AccountSID: string(acct.SID)})
	_, err = admin.NewClient(srv.URL, secret.String(ak.Secret)).UpdateAccount(ctx, acct.SID, admin.AccountPatch{LicensedSessions: ptr(100)}, 0)
	var p *admin.Problem
	if errors.As(err, &p) {
		fmt.Println(p.Status, p.Errors[0].Field)
	}
	// Output:
	// changed: account create [] [sip.acme.example]
	// changed: account update [sip] [sip.acme.example]
	// changed: api_key create [] []
	// 403 licensed_sessions
}

// A member gets the password it signs in to the console with; only its
// Argon2id hash is stored.
func ExampleClient_SetMemberPassword() {
	ctx := context.Background()
	rd := rbacmem.NewDriver()
	keys := rbac.NewKeyStore(rd, nil)
	members := rbac.NewMemberStore(rd, nil)
	root, _ := keys.Create(ctx, rbac.NewAPIKey{Name: "bootstrap", ServiceType: "api", Scope: rbac.ScopeAdmin, CreatorEmail: "ops@example.com"}, nil)
	h, err := admin.NewHandler(admin.Config{Tenants: tenancymem.NewStore(nil), Keys: keys, Members: members, Store: memstore.NewStore(nil)})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := admin.NewClient(srv.URL, root.Secret)

	ann, err := c.CreateMember(ctx, rbac.Member{Email: "ann@example.com", Scope: rbac.ScopeAdmin})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.SetMemberPassword(ctx, ann.ID, "short"))
	fmt.Println(c.SetMemberPassword(ctx, ann.ID, "correct horse battery"))
	m, err := members.VerifyPassword(ctx, "ann@example.com", "correct horse battery")
	fmt.Println(m.Email, err)
	// Output:
	// admin: 422 Unprocessable Entity: the request has invalid fields (password: 5 characters, want at least 12)
	// <nil>
	// ann@example.com <nil>
}
