package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/admintest"
)

// TestSeed000ScopeTable: every setting of seed 000's table, set by a caller
// of each scope holding every privilege, is allowed or refused (403 naming
// the field) as the table's Scope column says. TTS prompt caching has no
// counterpart in voicegw (no TTS).
func TestSeed000ScopeTable(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	ctx := context.Background()
	app, err := e.tenants.CreateApplication(ctx, &tenancy.Application{Account: w.a1.SID, Name: "ivr"})
	if err != nil {
		t.Fatal(err)
	}
	callers := map[string]string{
		admintest.Admin:           e.admin,
		admintest.ServiceProvider: e.key(rbac.ScopeServiceProvider, "sp1", "", "all"),
		admintest.Account:         e.key(rbac.ScopeAccount, "", string(w.a1.SID), "all"),
	}
	acct := "/accounts/" + string(w.a1.SID)
	patch := func(key string, body map[string]any) response { return e.do(http.MethodPatch, acct, key, body) }
	target := admintest.Target{Account: string(w.a1.SID), Application: string(app.SID)}
	for _, st := range admintest.Seed000Settings() {
		for _, scope := range admintest.Scopes() {
			t.Run(st.Name+"/"+scope, func(t *testing.T) {
				req := st.Request(scope, target)
				r := e.do(req.Method, req.Path, callers[scope], req.Body)
				if st.AllowedFor(scope) {
					if r.status != http.StatusOK && r.status != http.StatusCreated {
						t.Fatalf("seed 000 allows %s scope; got %d %s", scope, r.status, r.body)
					}
					return
				}
				r.must(t, http.StatusForbidden)
				p := r.problem(t)
				if _, ok := p.Field(st.Field); p.Code != admin.CodeForbiddenField || !ok {
					t.Fatalf("refusal does not name %q: %+v", st.Field, p)
				}
			})
		}
	}
	// The Account SID is generated and read-only: a patch cannot change it.
	r := patch(e.admin, map[string]any{"sid": "11111111-1111-4111-8111-111111111111", "name": "A1 again"}).must(t, http.StatusOK)
	var got tenancy.Account
	r.decode(t, &got)
	if got.SID != w.a1.SID || got.Name != "A1 again" {
		t.Fatalf("after a patch naming another sid: %s %q", got.SID, got.Name)
	}
	// The Admin-only settings were not changed by the refused requests.
	cur, _ := e.tenants.Account(ctx, w.a1.SID)
	if cur.LicensedSessions != 10+len("admin") || cur.MaxUnits != 100+len("admin") {
		t.Fatalf("licensed sessions %d, max units %d: a refused write got through", cur.LicensedSessions, cur.MaxUnits)
	}
	// A service provider cannot move its account to another provider.
	spKey := callers[admintest.ServiceProvider]
	r = patch(spKey, map[string]any{"service_provider": "sp2"}).must(t, http.StatusForbidden)
	if _, ok := r.problem(t).Field("service_provider"); !ok {
		t.Fatalf("moving an account: %s", r.body)
	}
	// Sending back what was read (unchanged Admin-only values) is not a change.
	read := e.do(http.MethodGet, acct, callers[admintest.Account], nil).must(t, http.StatusOK)
	e.do(http.MethodPatch, acct, callers[admintest.Account], read.body).must(t, http.StatusOK)
}

// TestBucketChoicesThatReachTheHost: a bucket URL uses the gateway's own
// credentials and a local directory the gateway's disk; only an Admin may
// set either, and only an Admin may test one.
func TestBucketChoicesThatReachTheHost(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	acctKey := e.key(rbac.ScopeAccount, "", string(w.a1.SID), "all")
	acct := "/accounts/" + string(w.a1.SID) + "/recording"
	for _, body := range []map[string]any{
		{"bucket_url": "s3://someone-elses-bucket?region=us-east-1"},
		{"bucket_url": nil, "bucket": map[string]any{"vendor": "file", "file": map[string]any{"dir": t.TempDir()}}},
	} {
		r := e.do(http.MethodPatch, acct, acctKey, body).must(t, http.StatusForbidden)
		if p := r.problem(t); p.Code != admin.CodeForbiddenField || len(p.Errors) != 1 {
			t.Fatalf("%v: %+v", body, p)
		}
		e.do(http.MethodPost, acct+"/test", acctKey, body).must(t, http.StatusForbidden)
		e.do(http.MethodPatch, acct, e.admin, body).must(t, http.StatusOK)
	}
}

// TestPrivilegeMatrix: for every entity of seed 002 and every action, a key
// granting exactly that privilege (Admin scope, so reach is no question) is
// allowed on the routes that need it and refused (403) on every other
// route. Entities the admin API does not use (interaction, usage, billing,
// language, template) open nothing.
func TestPrivilegeMatrix(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	ctx := context.Background()
	app, _ := e.tenants.CreateApplication(ctx, &tenancy.Application{Account: w.a1.SID, Name: "app"})
	a1 := string(w.a1.SID)
	keyID := func() string {
		ck, err := e.keys.Create(ctx, rbac.NewAPIKey{Name: "victim " + randomSuffix(), ServiceType: "none", Account: a1, CreatorEmail: "ops@example.com"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ck.ID
	}
	role, err := e.members.CreateRole(ctx, &rbac.Role{Account: a1, Name: "r"})
	if err != nil {
		t.Fatal(err)
	}
	member, err := e.members.CreateMember(ctx, &rbac.Member{Email: "m@example.com", Scope: rbac.ScopeAccount, Account: a1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tenants.UpdateAccount(ctx, func() *tenancy.Account {
		a, _ := e.tenants.Account(ctx, w.a1.SID)
		a.SIP.Users = []tenancy.SIPUser{{Username: "bob", Password: "bob-Passw0rd"}}
		return a
	}()); err != nil {
		t.Fatal(err)
	}
	// A request per route that passes authorization when allowed; the body
	// of a write changes nothing that another check would refuse.
	type call struct {
		path string
		body any
	}
	calls := map[string]func() call{
		"GET /me":                     func() call { return call{"/me", nil} },
		"GET /api-key-service-types":  func() call { return call{"/api-key-service-types", nil} },
		"GET /service-providers":      func() call { return call{"/service-providers", nil} },
		"POST /service-providers":     func() call { return call{"/service-providers", map[string]any{"name": "New " + randomSuffix()}} },
		"GET /service-providers/{id}": func() call { return call{"/service-providers/sp1", nil} },
		"PATCH /service-providers/{id}": func() call {
			return call{"/service-providers/sp1", map[string]any{"description": "d" + randomSuffix()}}
		},
		"DELETE /service-providers/{id}": func() call {
			id := "gone" + randomSuffix()
			_, _ = e.store.CreateProvider(ctx, &admin.ServiceProvider{ID: id, Name: id})
			return call{"/service-providers/" + id, nil}
		},
		"GET /accounts":       func() call { return call{"/accounts", nil} },
		"POST /accounts":      func() call { return call{"/accounts", map[string]any{"name": "N" + randomSuffix()}} },
		"GET /accounts/{sid}": func() call { return call{"/accounts/" + a1, nil} },
		"PATCH /accounts/{sid}": func() call {
			return call{"/accounts/" + a1, map[string]any{"queue_event_webhook": "https://q.example.com/" + randomSuffix()}}
		},
		"DELETE /accounts/{sid}": func() call {
			a, _ := e.tenants.CreateAccount(ctx, &tenancy.Account{Name: "Doomed " + randomSuffix(), ServiceProvider: "sp1"})
			return call{"/accounts/" + string(a.SID), nil}
		},
		"POST /accounts/{sid}/webhook-secret/rotate": func() call { return call{"/accounts/" + a1 + "/webhook-secret/rotate", nil} },
		"GET /accounts/{sid}/recording":              func() call { return call{"/accounts/" + a1 + "/recording", nil} },
		"PATCH /accounts/{sid}/recording": func() call {
			return call{"/accounts/" + a1 + "/recording", map[string]any{"format": []string{"wav", "mp3"}[len(randomSuffix())%2]}}
		},
		"POST /accounts/{sid}/recording/test": func() call {
			return call{"/accounts/" + a1 + "/recording/test", map[string]any{"bucket": map[string]any{"vendor": "memory"}}}
		},
		"GET /accounts/{sid}/sip": func() call { return call{"/accounts/" + a1 + "/sip", nil} },
		"PATCH /accounts/{sid}/sip": func() call {
			return call{"/accounts/" + a1 + "/sip", map[string]any{"allowlist": []string{"203.0.113." + randomSuffix()}}}
		},
		"POST /accounts/{sid}/sip/users": func() call {
			return call{"/accounts/" + a1 + "/sip/users", map[string]any{"username": "u" + randomSuffix(), "password": "a-Passw0rd-1"}}
		},
		"PUT /accounts/{sid}/sip/users/{username}": func() call {
			return call{"/accounts/" + a1 + "/sip/users/bob", map[string]any{"password": "bob-Passw0rd-" + randomSuffix()}}
		},
		"DELETE /accounts/{sid}/sip/users/{username}": func() call {
			u := "del" + randomSuffix()
			a, _ := e.tenants.Account(ctx, w.a1.SID)
			a.SIP.Users = append(a.SIP.Users, tenancy.SIPUser{Username: u, Password: "del-Passw0rd"})
			if _, err := e.tenants.UpdateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
			return call{"/accounts/" + a1 + "/sip/users/" + u, nil}
		},
		"GET /accounts/{sid}/call-attached-data": func() call { return call{"/accounts/" + a1 + "/call-attached-data", nil} },
		"PUT /accounts/{sid}/call-attached-data": func() call {
			return call{"/accounts/" + a1 + "/call-attached-data", map[string]any{"fields": []any{map[string]any{"name": "f" + randomSuffix(), "value": "Interaction.status"}}}}
		},
		"GET /accounts/{sid}/applications": func() call { return call{"/accounts/" + a1 + "/applications", nil} },
		"POST /accounts/{sid}/applications": func() call {
			return call{"/accounts/" + a1 + "/applications", map[string]any{"name": "a" + randomSuffix()}}
		},
		"GET /accounts/{sid}/applications/{app}": func() call { return call{"/accounts/" + a1 + "/applications/" + string(app.SID), nil} },
		"PATCH /accounts/{sid}/applications/{app}": func() call {
			return call{"/accounts/" + a1 + "/applications/" + string(app.SID), map[string]any{"name": "app" + randomSuffix()}}
		},
		"DELETE /accounts/{sid}/applications/{app}": func() call {
			x, _ := e.tenants.CreateApplication(ctx, &tenancy.Application{Account: w.a1.SID, Name: "x" + randomSuffix()})
			return call{"/accounts/" + a1 + "/applications/" + string(x.SID), nil}
		},
		"GET /api-keys": func() call { return call{"/api-keys?account_sid=" + a1, nil} },
		"POST /api-keys": func() call {
			return call{"/api-keys", map[string]any{"name": "k" + randomSuffix(), "service_type": "none", "account_sid": a1}}
		},
		"GET /api-keys/{id}":         func() call { return call{"/api-keys/" + keyID(), nil} },
		"DELETE /api-keys/{id}":      func() call { return call{"/api-keys/" + keyID(), nil} },
		"POST /api-keys/{id}/revoke": func() call { return call{"/api-keys/" + keyID() + "/revoke", nil} },
		"GET /roles":                 func() call { return call{"/roles?account_sid=" + a1, nil} },
		"POST /roles":                func() call { return call{"/roles", map[string]any{"name": "r" + randomSuffix(), "account_sid": a1}} },
		"GET /roles/{id}":            func() call { return call{"/roles/" + role.ID, nil} },
		"PATCH /roles/{id}":          func() call { return call{"/roles/" + role.ID, map[string]any{"name": "r" + randomSuffix()}} },
		"DELETE /roles/{id}": func() call {
			r, _ := e.members.CreateRole(ctx, &rbac.Role{Account: a1, Name: "d" + randomSuffix()})
			return call{"/roles/" + r.ID, nil}
		},
		"GET /members": func() call { return call{"/members?account_sid=" + a1, nil} },
		"POST /members": func() call {
			return call{"/members", map[string]any{"email": "n" + randomSuffix() + "@example.com", "account_sid": a1}}
		},
		"GET /members/{id}":   func() call { return call{"/members/" + member.ID, nil} },
		"PATCH /members/{id}": func() call { return call{"/members/" + member.ID, map[string]any{"first_name": "F" + randomSuffix()}} },
		"DELETE /members/{id}": func() call {
			m, _ := e.members.CreateMember(ctx, &rbac.Member{Email: "d" + randomSuffix() + "@example.com", Scope: rbac.ScopeAccount, Account: a1})
			return call{"/members/" + m.ID, nil}
		},
		"PUT /members/{id}/password": func() call {
			return call{"/members/" + member.ID + "/password", map[string]any{"password": "correct horse battery " + randomSuffix()}}
		},
		"GET /smtp": func() call { return call{"/smtp", nil} },
		"PUT /smtp": func() call {
			return call{"/smtp", map[string]any{"host": "smtp" + randomSuffix() + ".example.com", "mail_from": "noreply@example.com"}}
		},
		"POST /smtp/test": func() call {
			return call{"/smtp/test", map[string]any{"settings": map[string]any{"host": "127.0.0.1", "port": 1, "mail_from": "a@example.com"}}}
		},
		"GET /audit": func() call { return call{"/audit", nil} },
	}
	var tested int
	for _, e2 := range rbac.Entities() {
		for _, a := range []rbac.Action{rbac.ActionRead, rbac.ActionUpdate, rbac.ActionDelete, rbac.ActionCreate} {
			key := e.key(rbac.ScopeAdmin, "", "", e2.String()+"."+a.String())
			for _, rt := range admin.Routes() {
				if rt.Public {
					continue
				}
				name := rt.Method + " " + strings.TrimPrefix(rt.Path, admin.BasePath)
				mk, ok := calls[name]
				if !ok {
					t.Fatalf("no test call for route %s", name)
				}
				c := mk()
				r := e.do(rt.Method, c.path, key, c.body)
				want := rt.Action == 0 || (rt.Entity == e2 && rt.Action == a)
				tested++
				if want && (r.status == http.StatusForbidden || r.status >= 300 && r.status != http.StatusNotModified) {
					t.Errorf("%s.%s on %s: %d %s, want success", e2, a, name, r.status, r.body)
				}
				if !want && r.status != http.StatusForbidden {
					t.Errorf("%s.%s on %s: %d %s, want 403", e2, a, name, r.status, r.body)
				}
			}
		}
	}
	if tested < 36*45 {
		t.Fatalf("only %d requests tested", tested)
	}
	fmt.Fprintf(testWriter{t}, "privilege matrix: %d requests\n", tested)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
