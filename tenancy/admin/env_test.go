package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	rbacmem "github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/egress"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/memstore"
	tenancymem "github.com/voicegw/voicegw/tenancy/memstore"
)

// env is one admin API on a real HTTP server (httptest), over in-memory
// stores, with a recorder of the changes it notifies.
type env struct {
	t       *testing.T
	srv     *httptest.Server
	h       *admin.Handler
	tenants *tenancy.Store
	keys    *rbac.KeyStore
	members *rbac.MemberStore
	store   *admin.Store

	mu      sync.Mutex
	changes []admin.Change

	admin string // an Admin key with every privilege
}

// serviceTypes are the key service types of the tests: the defaults, "all"
// (every privilege), and one per entity and action ("phone.create") for the
// privilege matrix.
func serviceTypes() map[string]rbac.Privileges {
	st := rbac.DefaultServiceTypes()
	st["all"] = rbac.AllPrivileges()
	for _, e := range rbac.Entities() {
		for _, a := range []rbac.Action{rbac.ActionRead, rbac.ActionUpdate, rbac.ActionDelete, rbac.ActionCreate} {
			var p rbac.Privileges
			p.Grant(e, a)
			st[e.String()+"."+a.String()] = p
		}
	}
	st["none"] = rbac.Privileges{}
	return st
}

func newEnv(t *testing.T, edit ...func(*admin.Config)) *env {
	t.Helper()
	rd := rbacmem.NewDriver()
	e := &env{
		t:       t,
		tenants: tenancymem.NewStore(nil),
		keys:    rbac.NewKeyStore(rd, &rbac.KeyStoreOptions{ServiceTypes: serviceTypes()}),
		members: rbac.NewMemberStore(rd, nil),
		store:   memstore.NewStore(nil),
	}
	cfg := admin.Config{
		Tenants: e.tenants, Keys: e.keys, Members: e.members, Store: e.store,
		// The test buckets listen on loopback, which the default egress
		// policy refuses (TestRecordingBucketEgressRefused).
		Egress: &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
		Notifier: admin.NotifierFunc(func(_ context.Context, c admin.Change) {
			e.mu.Lock()
			e.changes = append(e.changes, c)
			e.mu.Unlock()
		}),
	}
	for _, f := range edit {
		f(&cfg)
	}
	h, err := admin.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	mux := http.NewServeMux()
	mux.Handle("/admin/", h)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.admin = e.key(rbac.ScopeAdmin, "", "", "all")
	return e
}

// key creates an API key (as the trusted bootstrap does) and returns its
// secret.
func (e *env) key(scope rbac.Scope, sp, account, serviceType string) string {
	e.t.Helper()
	ck, err := e.keys.Create(context.Background(), rbac.NewAPIKey{
		Name: "k-" + serviceType + "-" + randomSuffix(), ServiceType: serviceType, Scope: scope,
		ServiceProvider: sp, Account: account, CreatorEmail: "ops@example.com",
	}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return ck.Secret.Reveal()
}

var suffixMu sync.Mutex
var suffixN int

func randomSuffix() string {
	suffixMu.Lock()
	defer suffixMu.Unlock()
	suffixN++
	return strings.Repeat("x", 0) + itoa(suffixN)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func (e *env) client(key string) *admin.Client {
	return admin.NewClient(e.srv.URL, secret.String(key))
}

// response is one answer of the server.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) problem(t *testing.T) admin.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != admin.ProblemContentType {
		t.Fatalf("status %d with Content-Type %q, want a problem document; body %s", r.status, ct, r.body)
	}
	var p admin.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem document: %v: %s", err, r.body)
	}
	if p.Status != r.status || !strings.HasPrefix(p.Type, admin.ProblemTypePrefix) || p.Title == "" {
		t.Fatalf("problem document %+v does not match status %d", p, r.status)
	}
	return p
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request with key (Bearer) and a JSON body (a string is sent as
// is); header pairs follow.
func (e *env) do(method, path, key string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+admin.BasePath+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must fails the test unless the answer has status want.
func (r response) must(t *testing.T, want int) response {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
	return r
}

func (e *env) takeChanges() []admin.Change {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.changes
	e.changes = nil
	return out
}

// world is a small platform: two service providers, each with accounts.
type world struct {
	sp1, sp2     string
	a1, a2, b1   *tenancy.Account // a1, a2 of sp1; b1 of sp2
	platformAcct *tenancy.Account // no service provider
}

func (e *env) world() world {
	e.t.Helper()
	ctx := context.Background()
	for _, id := range []string{"sp1", "sp2"} {
		if _, err := e.store.CreateProvider(ctx, &admin.ServiceProvider{ID: id, Name: strings.ToUpper(id)}); err != nil {
			e.t.Fatal(err)
		}
	}
	mk := func(name, sp, realm string) *tenancy.Account {
		a, err := e.tenants.CreateAccount(ctx, &tenancy.Account{Name: name, ServiceProvider: sp, SIPRealm: realm})
		if err != nil {
			e.t.Fatal(err)
		}
		return a
	}
	return world{sp1: "sp1", sp2: "sp2",
		a1: mk("A1", "sp1", "a1.example.com"), a2: mk("A2", "sp1", "a2.example.com"), b1: mk("B1", "sp2", "b1.example.com"),
		platformAcct: mk("P", "", "p.example.com")}
}

func errorsAs[T error](err error, target *T) bool { return errors.As(err, target) }

func httptestServer(t *testing.T, h http.Handler) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("/admin/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
