package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// TestCrossTenantIsolation: a caller never sees nor touches another account
// or service provider; what it may not know exists answers 404, exactly as
// what does not exist.
func TestCrossTenantIsolation(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	ctx := context.Background()
	appB, _ := e.tenants.CreateApplication(ctx, &tenancy.Application{Account: w.b1.SID, Name: "b-app"})
	roleB, _ := e.members.CreateRole(ctx, &rbac.Role{Account: string(w.b1.SID), Name: "b-role"})
	memberB, _ := e.members.CreateMember(ctx, &rbac.Member{Email: "b@example.com", Scope: rbac.ScopeAccount, Account: string(w.b1.SID)})
	keyB, _ := e.keys.Create(ctx, rbac.NewAPIKey{Name: "b-key", ServiceType: "insights", Account: string(w.b1.SID), CreatorEmail: "b@example.com"}, nil)
	spKeyB, _ := e.keys.Create(ctx, rbac.NewAPIKey{Name: "sp2-key", ServiceType: "insights", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp2", CreatorEmail: "b@example.com"}, nil)

	a1Key := e.key(rbac.ScopeAccount, "", string(w.a1.SID), "all")
	sp1Key := e.key(rbac.ScopeServiceProvider, "sp1", "", "all")
	b1 := "/accounts/" + string(w.b1.SID)
	missing := "/accounts/00000000-0000-4000-8000-00000000dead"
	foreign := []struct {
		method, path string
		body         any
	}{
		{"GET", b1, nil},
		{"PATCH", b1, map[string]any{"name": "stolen"}},
		{"DELETE", b1, nil},
		{"POST", b1 + "/webhook-secret/rotate", nil},
		{"GET", b1 + "/recording", nil},
		{"PATCH", b1 + "/recording", map[string]any{"enabled": false}},
		{"POST", b1 + "/recording/test", nil},
		{"GET", b1 + "/sip", nil},
		{"PATCH", b1 + "/sip", map[string]any{"allowlist": []string{"198.51.100.1"}}},
		{"POST", b1 + "/sip/users", map[string]any{"username": "eve", "password": "eve-Passw0rd"}},
		{"DELETE", b1 + "/sip/users/eve", nil},
		{"GET", b1 + "/call-attached-data", nil},
		{"GET", b1 + "/applications", nil},
		{"POST", b1 + "/applications", map[string]any{"name": "evil"}},
		{"GET", b1 + "/applications/" + string(appB.SID), nil},
		{"DELETE", b1 + "/applications/" + string(appB.SID), nil},
		{"GET", "/api-keys/" + keyB.ID, nil},
		{"DELETE", "/api-keys/" + keyB.ID, nil},
		{"POST", "/api-keys/" + spKeyB.ID + "/revoke", nil},
		{"GET", "/api-keys?account_sid=" + string(w.b1.SID), nil},
		{"GET", "/roles/" + roleB.ID, nil},
		{"PATCH", "/roles/" + roleB.ID, map[string]any{"name": "x"}},
		{"GET", "/members/" + memberB.ID, nil},
		{"DELETE", "/members/" + memberB.ID, nil},
		{"GET", "/members?account_sid=" + string(w.b1.SID), nil},
		// every other route that takes another tenant's ID (security review)
		{"PATCH", "/members/" + memberB.ID, map[string]any{"email": "eve@example.com"}},
		{"PUT", "/members/" + memberB.ID + "/password", map[string]any{"password": "Eve-takes-0ver-the-member"}},
		{"DELETE", "/roles/" + roleB.ID, nil},
		{"PUT", b1 + "/sip/users/eve", map[string]any{"password": "eve-Passw0rd"}},
		{"PUT", b1 + "/call-attached-data", []any{}},
		{"PATCH", b1 + "/applications/" + string(appB.SID), map[string]any{"name": "evil"}},
		{"DELETE", "/service-providers/sp2", nil},
		{"GET", "/service-providers/sp2", nil},
		{"PATCH", "/service-providers/sp2", map[string]any{"name": "stolen"}},
		{"GET", "/audit?account_sid=" + string(w.b1.SID), nil},
		{"GET", "/audit?service_provider=sp2", nil},
		{"GET", "/accounts?service_provider=sp2", nil},
	}
	for name, key := range map[string]string{"account a1": a1Key, "service provider sp1": sp1Key} {
		for _, f := range foreign {
			t.Run(name+"/"+f.method+" "+f.path, func(t *testing.T) {
				r := e.do(f.method, f.path, key, f.body)
				if name == "account a1" && strings.Contains(f.path, "service_provider=sp2") && f.path == "/accounts?service_provider=sp2" {
					// An account caller's list filtered by another provider is empty.
					r.must(t, http.StatusOK)
					return
				}
				r.must(t, http.StatusNotFound)
				if p := r.problem(t); p.Code != admin.CodeNotFound {
					t.Fatalf("%+v", p)
				}
				// Indistinguishable from a resource that does not exist.
				if strings.HasPrefix(f.path, b1) {
					m := e.do(f.method, missing+strings.TrimPrefix(f.path, b1), key, f.body)
					if m.status != r.status || m.problem(t).Detail != r.problem(t).Detail {
						t.Fatalf("foreign %d %s vs missing %d %s", r.status, r.body, m.status, m.body)
					}
				}
			})
		}
	}
	// Creating in another tenant is refused without revealing it.
	for _, tc := range []struct {
		key, path string
		body      any
		field     string
	}{
		{sp1Key, "/accounts", map[string]any{"name": "X", "service_provider": "sp2"}, "service_provider"},
		{sp1Key, "/api-keys", map[string]any{"name": "x", "service_type": "insights", "account_sid": string(w.b1.SID)}, "account_sid"},
		{a1Key, "/members", map[string]any{"email": "x@example.com", "account_sid": string(w.b1.SID)}, "account_sid"},
		{a1Key, "/roles", map[string]any{"name": "x", "account_sid": string(w.b1.SID)}, "account_sid"},
	} {
		r := e.do(http.MethodPost, tc.path, tc.key, tc.body).must(t, http.StatusUnprocessableEntity)
		if fp, ok := r.problem(t).Field(tc.field); !ok || !strings.HasPrefix(fp.Detail, "no such") {
			t.Fatalf("POST %s: %s", tc.path, r.body)
		}
	}
	// Lists hold only what is within reach.
	var accts admin.List[tenancy.Account]
	e.do(http.MethodGet, "/accounts", sp1Key, nil).must(t, http.StatusOK).decode(t, &accts)
	if len(accts.Items) != 2 || accts.Items[0].ServiceProvider != "sp1" || accts.Items[1].ServiceProvider != "sp1" {
		t.Fatalf("sp1 lists %+v", accts.Items)
	}
	e.do(http.MethodGet, "/accounts", a1Key, nil).must(t, http.StatusOK).decode(t, &accts)
	if len(accts.Items) != 1 || accts.Items[0].SID != w.a1.SID {
		t.Fatalf("a1 lists %+v", accts.Items)
	}
	var sps admin.List[admin.ServiceProvider]
	e.do(http.MethodGet, "/service-providers", sp1Key, nil).must(t, http.StatusOK).decode(t, &sps)
	if len(sps.Items) != 1 || sps.Items[0].ID != "sp1" {
		t.Fatalf("sp1 lists providers %+v", sps.Items)
	}
	// Nothing of B changed.
	b, _ := e.tenants.Account(ctx, w.b1.SID)
	if b.Name != "B1" || b.Revision != w.b1.Revision {
		t.Fatalf("account B changed: %+v", b)
	}
	if _, err := e.keys.VerifyKey(ctx, keyB.Secret); err != nil {
		t.Fatalf("B's key was touched: %v", err)
	}
	// An account caller may not create or delete accounts, even its own:
	// 403, since it knows its account exists.
	e.do(http.MethodDelete, "/accounts/"+string(w.a1.SID), a1Key, nil).must(t, http.StatusForbidden)
	e.do(http.MethodPost, "/accounts", a1Key, map[string]any{"name": "Mine"}).must(t, http.StatusForbidden)
}

// TestNoEscalation: nobody hands out more than they hold.
func TestNoEscalation(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	ctx := context.Background()
	a1 := string(w.a1.SID)
	// A caller holding organization.create alone.
	key := e.key(rbac.ScopeAccount, "", a1, "organization.create")
	c := e.client(key)
	// A key of a service type granting more than the caller holds.
	_, err := c.CreateAPIKey(ctx, admin.CreateAPIKeyRequest{Name: "big", ServiceType: "all", AccountSID: a1})
	if !errors.Is(err, admin.ErrForbidden) || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("key beyond its creator: %v", err)
	}
	// A broader scope than the caller's.
	_, err = c.CreateAPIKey(ctx, admin.CreateAPIKeyRequest{Name: "sp", ServiceType: "organization.create", ServiceProvider: "sp1"})
	if !errors.Is(err, admin.ErrInvalid) && !errors.Is(err, admin.ErrForbidden) {
		t.Fatalf("service provider key from an account caller: %v", err)
	}
	// A role granting more than the caller holds.
	_, err = c.CreateRole(ctx, rbac.Role{Account: a1, Name: "god", Privileges: rbac.AllPrivileges()})
	var p *admin.Problem
	if !errors.As(err, &p) || p.Status != http.StatusForbidden {
		t.Fatalf("role beyond its creator: %v", err)
	}
	if _, ok := p.Field("privileges"); !ok {
		t.Fatalf("refusal does not name privileges: %v", err)
	}
	// A member with a role granting more.
	god, _ := e.members.CreateRole(ctx, &rbac.Role{Account: a1, Name: "god", Privileges: rbac.AllPrivileges()})
	_, err = c.CreateMember(ctx, rbac.Member{Email: "new@example.com", Account: a1, RoleID: god.ID})
	if !errors.As(err, &p) || p.Status != http.StatusForbidden {
		t.Fatalf("member with a role beyond its creator: %v", err)
	}
	// A member broader than the caller (an SP caller making an admin).
	spc := e.client(e.key(rbac.ScopeServiceProvider, "sp1", "", "all"))
	_, err = spc.CreateMember(ctx, rbac.Member{Email: "root@example.com", Scope: rbac.ScopeAdmin})
	if !errors.Is(err, admin.ErrForbidden) {
		t.Fatalf("admin member from a service provider caller: %v", err)
	}
	// Within its privileges it works.
	if _, err := c.CreateRole(ctx, rbac.Role{Account: a1, Name: "small", Privileges: *(&rbac.Privileges{}).Grant(rbac.EntityOrganization, rbac.ActionCreate)}); err != nil {
		t.Fatal(err)
	}
}

// TestKeySecretsAreGenerated (issue 14, item 10): a caller cannot choose an
// API key's secret (the field is refused, 400 naming it), two keys of
// different owners may share a name (no existence oracle across tenants),
// and each created key gets a fresh secret of its own.
func TestKeySecretsAreGenerated(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	a1, b1 := string(w.a1.SID), string(w.b1.SID)
	a1Key := e.key(rbac.ScopeAccount, "", a1, "all")
	b1Key := e.key(rbac.ScopeAccount, "", b1, "all")
	r := e.do(http.MethodPost, "/api-keys", a1Key, map[string]any{"name": "chosen", "service_type": "insights", "account_sid": a1, "secret": "my-own-chosen-secret-0123456789"})
	r.must(t, http.StatusBadRequest)
	if _, ok := r.problem(t).Field("secret"); !ok {
		t.Fatalf("a chosen secret refused without naming the field: %+v", r.problem(t))
	}
	var ka, kb admin.CreatedAPIKey
	e.do(http.MethodPost, "/api-keys", a1Key, map[string]any{"name": "ops", "service_type": "insights", "account_sid": a1}).must(t, http.StatusCreated).decode(t, &ka)
	e.do(http.MethodPost, "/api-keys", b1Key, map[string]any{"name": "ops", "service_type": "insights", "account_sid": b1}).must(t, http.StatusCreated).decode(t, &kb)
	if ka.Secret == "" || kb.Secret == "" || ka.Secret == kb.Secret || len(ka.Secret) < 32 {
		t.Fatalf("generated secrets %q and %q", ka.Secret, kb.Secret)
	}
}
