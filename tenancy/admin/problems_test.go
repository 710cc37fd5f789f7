package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// TestETags: an update with a stale If-Match is refused 412 and changes
// nothing; the current one passes; two operators who read the same
// revision cannot both write; If-None-Match gives 304.
func TestETags(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	path := "/accounts/" + string(w.a1.SID)
	r := e.do(http.MethodGet, path, e.admin, nil).must(t, http.StatusOK)
	tag := r.header.Get("ETag")
	if tag != `"1"` {
		t.Fatalf("ETag %q", tag)
	}
	e.do(http.MethodGet, path, e.admin, nil, "If-None-Match", tag).must(t, http.StatusNotModified)
	e.do(http.MethodPatch, path, e.admin, map[string]any{"name": "first"}, "If-Match", tag).must(t, http.StatusOK)
	// The second operator read the same revision.
	r = e.do(http.MethodPatch, path, e.admin, map[string]any{"name": "second"}, "If-Match", tag).must(t, http.StatusPreconditionFailed)
	if p := r.problem(t); p.Code != admin.CodePreconditionFailed || r.header.Get("ETag") != `"2"` {
		t.Fatalf("412: %+v, ETag %q", p, r.header.Get("ETag"))
	}
	for _, sub := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPatch, path + "/recording", map[string]any{"format": "mp3"}},
		{http.MethodPatch, path + "/sip", map[string]any{"allowlist": []string{"192.0.2.1"}}},
		{http.MethodPut, path + "/call-attached-data", map[string]any{"fields": []any{}}},
		{http.MethodPost, path + "/webhook-secret/rotate", nil},
		{http.MethodDelete, path, nil},
	} {
		e.do(sub.method, sub.path, e.admin, sub.body, "If-Match", tag).must(t, http.StatusPreconditionFailed)
	}
	a, _ := e.tenants.Account(context.Background(), w.a1.SID)
	if a.Name != "first" || a.Revision != 2 {
		t.Fatalf("after refused writes: %q revision %d", a.Name, a.Revision)
	}
	e.do(http.MethodPatch, path, e.admin, map[string]any{"name": "third"}, "If-Match", `"2"`).must(t, http.StatusOK)
	e.do(http.MethodPatch, path, e.admin, map[string]any{"name": "fourth"}, "If-Match", `*`).must(t, http.StatusOK)

	// Through the client: the revision read is the precondition.
	c := e.client(e.admin)
	ctx := context.Background()
	cur, _ := c.Account(ctx, w.a2.SID)
	if _, err := c.UpdateAccount(ctx, w.a2.SID, admin.AccountPatch{Name: ptr("A2 one")}, cur.Revision); err != nil {
		t.Fatal(err)
	}
	_, err := c.UpdateAccount(ctx, w.a2.SID, admin.AccountPatch{Name: ptr("A2 two")}, cur.Revision)
	if !errors.Is(err, admin.ErrPreconditionFailed) {
		t.Fatalf("stale revision through the client: %v", err)
	}

	// Concurrent writers with the same If-Match: exactly one wins.
	cur, _ = c.Account(ctx, w.a2.SID)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, refused := 0, 0
	for i := range 8 {
		wg.Go(func() {
			_, err := c.UpdateAccount(ctx, w.a2.SID, admin.AccountPatch{QueueEventWebhook: ptr("https://q.example.com/" + itoa(i))}, cur.Revision)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, admin.ErrPreconditionFailed):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || refused != 7 {
		t.Fatalf("%d writers won, %d refused; want 1 and 7", wins, refused)
	}
}

// TestRequireIfMatch: configured so, updates without If-Match get 428.
func TestRequireIfMatch(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.RequireIfMatch = true })
	w := e.world()
	path := "/accounts/" + string(w.a1.SID)
	r := e.do(http.MethodPatch, path, e.admin, map[string]any{"name": "x"}).must(t, http.StatusPreconditionRequired)
	if r.problem(t).Code != admin.CodePreconditionRequired {
		t.Fatal(string(r.body))
	}
	e.do(http.MethodDelete, path, e.admin, nil).must(t, http.StatusPreconditionRequired)
	e.do(http.MethodPatch, path, e.admin, map[string]any{"name": "x"}, "If-Match", `"1"`).must(t, http.StatusOK)
}

// TestProblemDocuments: each kind of bad request gets its status and a
// problem document naming the field.
func TestProblemDocuments(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.MaxBodyBytes = 4096 })
	w := e.world()
	acct := "/accounts/" + string(w.a1.SID)
	app, _ := e.tenants.CreateApplication(context.Background(), &tenancy.Application{Account: w.a1.SID, Name: "busy"})
	e.do(http.MethodPatch, acct, e.admin, map[string]any{"siprec_application": string(app.SID)}).must(t, http.StatusOK)
	for _, tc := range []struct {
		name, method, path string
		body               any
		header             []string
		status             int
		code, field        string
	}{
		{"not JSON", "PATCH", acct, "{name:", nil, 400, admin.CodeBadRequest, ""},
		{"merge patch not an object", "PATCH", acct, `["a"]`, nil, 400, admin.CodeBadRequest, ""},
		{"wrong type", "PATCH", acct, `{"licensed_sessions": "many"}`, nil, 400, admin.CodeBadRequest, "licensed_sessions"},
		{"wrong nested type", "PATCH", acct, `{"recording": {"enabled": "yes"}}`, nil, 400, admin.CodeBadRequest, "recording.enabled"},
		{"unknown field", "POST", "/accounts", `{"name": "x", "colour": "red"}`, nil, 400, admin.CodeBadRequest, "colour"},
		{"trailing data", "POST", "/accounts", `{"name": "x"} {}`, nil, 400, admin.CodeBadRequest, ""},
		{"bad page size", "GET", "/accounts?page_size=0", nil, nil, 400, admin.CodeBadRequest, "page_size"},
		{"bad page token", "GET", "/accounts?page_token=!!!", nil, nil, 400, admin.CodeBadRequest, "page_token"},
		{"bad since", "GET", "/audit?since=yesterday", nil, nil, 400, admin.CodeBadRequest, "since"},
		{"not JSON media type", "POST", "/accounts", `{"name": "x"}`, []string{"Content-Type", "text/plain"}, 415, admin.CodeUnsupportedMedia, ""},
		{"too large", "POST", "/accounts", `{"name": "` + strings.Repeat("x", 5000) + `"}`, nil, 413, admin.CodeTooLarge, ""},
		{"invalid realm", "PATCH", acct, `{"sip_realm": "not a domain"}`, nil, 422, admin.CodeInvalid, "sip_realm"},
		{"invalid nested", "PATCH", acct + "/recording", `{"enabled": true, "bucket": {"vendor": "s3", "s3": {"bucket": "b"}}}`, nil, 422, admin.CodeInvalid, "bucket.s3.region"},
		{"invalid SIP password", "POST", acct + "/sip/users", `{"username": "carol", "password": "short"}`, nil, 422, admin.CodeInvalid, "password"},
		{"invalid allowlist entry", "PATCH", acct + "/sip", `{"allowlist": ["203.0.113.0/24", "evil.example.com"]}`, nil, 422, admin.CodeInvalid, "allowlist[1]"},
		{"invalid CAD", "PUT", acct + "/call-attached-data", `{"fields": [{"name": "1bad", "value": "Interaction.status"}]}`, nil, 422, admin.CodeInvalid, "fields[0].name"},
		{"unknown application", "PATCH", acct, `{"device_calls_application": "00000000-0000-4000-8000-000000000000"}`, nil, 422, admin.CodeInvalid, "device_calls_application"},
		{"name taken", "PATCH", acct, `{"name": "B1"}`, nil, 409, admin.CodeExists, "name"},
		{"realm taken", "POST", "/accounts", `{"name": "new", "sip_realm": "b1.example.com"}`, nil, 409, admin.CodeExists, "sip_realm"},
		{"application in use", "DELETE", acct + "/applications/" + string(app.SID), nil, nil, 409, admin.CodeInUse, ""},
		{"provider with accounts", "DELETE", "/service-providers/sp1", nil, nil, 409, admin.CodeInUse, ""},
		{"SIP user exists", "POST", acct + "/sip/users", `{"username": "dup", "password": "dup-Passw0rd"}`, nil, 201, "", ""},
		{"SIP user exists again", "POST", acct + "/sip/users", `{"username": "dup", "password": "dup-Passw0rd"}`, nil, 409, admin.CodeExists, "username"},
		{"no such SIP user", "DELETE", acct + "/sip/users/nobody", nil, nil, 404, admin.CodeNotFound, ""},
		{"bad scope param", "GET", "/api-keys?scope=king", nil, nil, 400, admin.CodeBadRequest, "scope"},
		{"unknown privilege name", "POST", "/roles", `{"name": "r", "privileges": {"entities": {"kitchen": ["read"]}}}`, nil, 400, admin.CodeBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, e.admin, tc.body, tc.header...).must(t, tc.status)
			if tc.code == "" {
				return
			}
			p := r.problem(t)
			if p.Code != tc.code || p.Instance == "" {
				t.Fatalf("problem %+v, want code %s", p, tc.code)
			}
			if tc.field != "" {
				if _, ok := p.Field(tc.field); !ok {
					t.Fatalf("problem does not name %q: %s", tc.field, r.body)
				}
			}
		})
	}
	// Secrets never appear in problems.
	r := e.do(http.MethodPost, acct+"/sip/users", e.admin, `{"username": "x y", "password": "Sup3r-Secret-Value"}`).must(t, http.StatusUnprocessableEntity)
	if strings.Contains(string(r.body), "Sup3r-Secret-Value") {
		t.Fatalf("problem echoes the password: %s", r.body)
	}
}

// TestPagination walks a list page by page.
func TestPagination(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 7 {
		if _, err := e.tenants.CreateAccount(ctx, &tenancy.Account{Name: "acct-" + itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client(e.admin)
	var names []string
	opts := &admin.AccountListOptions{ListOptions: admin.ListOptions{PageSize: 3}}
	pages := 0
	for {
		l, err := c.Accounts(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range l.Items {
			names = append(names, a.Name)
		}
		if l.NextPageToken == "" {
			break
		}
		opts.PageToken = l.NextPageToken
	}
	if pages != 3 || strings.Join(names, ",") != "acct-0,acct-1,acct-2,acct-3,acct-4,acct-5,acct-6" {
		t.Fatalf("%d pages: %v", pages, names)
	}
	// The audit log pages too.
	for i := range 5 {
		if _, err := c.CreateServiceProvider(ctx, admin.ServiceProvider{Name: "P" + itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := c.Audit(ctx, &admin.AuditListOptions{ListOptions: admin.ListOptions{PageSize: 2}})
	if err != nil || len(first.Items) != 2 || first.NextPageToken == "" {
		t.Fatalf("audit page 1: %+v, %v", first, err)
	}
	second, err := c.Audit(ctx, &admin.AuditListOptions{ListOptions: admin.ListOptions{PageSize: 2, PageToken: first.NextPageToken}})
	if err != nil || len(second.Items) != 2 || second.Items[0].ID >= first.Items[1].ID {
		t.Fatalf("audit page 2: %+v, %v", second, err)
	}
}
