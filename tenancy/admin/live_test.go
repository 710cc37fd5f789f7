package admin_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/rbac"
	rbacsqlite "github.com/voicegw/voicegw/rbac/sqlitestore"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	adminsqlite "github.com/voicegw/voicegw/tenancy/admin/sqlitestore"
	tenancysqlite "github.com/voicegw/voicegw/tenancy/sqlitestore"
)

// TestNotifierSeesEachChange: every change reaches the Notifier before the
// response, with what a gateway's caches are keyed by (account, realms
// before and after, fields, key IDs); a deleted account's keys stop working
// and are notified too.
func TestNotifierSeesEachChange(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	ctx := context.Background()
	c := e.client(e.admin)
	acctKey := e.key(rbac.ScopeAccount, "", string(w.a2.SID), "insights")
	e.takeChanges()

	if _, err := c.UpdateAccount(ctx, w.a1.SID, admin.AccountPatch{SIPRealm: ptr("new.a1.example.com"), LicensedSessions: ptr(3)}, 0); err != nil {
		t.Fatal(err)
	}
	ch := e.takeChanges()
	if len(ch) != 1 || ch[0].Resource != admin.ResourceAccount || ch[0].Account != string(w.a1.SID) ||
		!slices.Equal(ch[0].Realms, []string{"a1.example.com", "new.a1.example.com"}) ||
		!slices.Equal(ch[0].Fields, []string{"licensed_sessions", "sip_realm"}) || ch[0].Revision != 2 {
		t.Fatalf("realm change: %+v", ch)
	}
	if _, err := c.UpdateSIP(ctx, w.a1.SID, admin.SIPPatch{Allowlist: &[]string{"203.0.113.0/24"}}, 0); err != nil {
		t.Fatal(err)
	}
	if ch := e.takeChanges(); len(ch) != 1 || !slices.Equal(ch[0].Fields, []string{"sip"}) {
		t.Fatalf("allowlist change: %+v", ch)
	}
	// A no-op write is no change.
	if _, err := c.UpdateSIP(ctx, w.a1.SID, admin.SIPPatch{Allowlist: &[]string{"203.0.113.0/24"}}, 0); err != nil {
		t.Fatal(err)
	}
	if ch := e.takeChanges(); len(ch) != 0 {
		t.Fatalf("a write that changed nothing was notified: %+v", ch)
	}
	if _, err := c.RotateWebhookSecret(ctx, w.a1.SID, 0); err != nil {
		t.Fatal(err)
	}
	if ch := e.takeChanges(); len(ch) != 1 || ch[0].Op != admin.OpRotate {
		t.Fatalf("rotation: %+v", ch)
	}
	// Deleting an account deletes its keys: the next request fails.
	e.do(http.MethodGet, "/me", acctKey, nil).must(t, http.StatusOK)
	if err := c.DeleteAccount(ctx, w.a2.SID, 0); err != nil {
		t.Fatal(err)
	}
	e.do(http.MethodGet, "/me", acctKey, nil).must(t, http.StatusUnauthorized)
	var ops []string
	for _, x := range e.takeChanges() {
		ops = append(ops, x.Resource+"."+x.Op)
	}
	if !slices.Equal(ops, []string{"api_key.delete", "account.delete"}) {
		t.Fatalf("account deletion notified %v", ops)
	}
}

// TestAuditVisibility: each caller lists only the records of its reach.
func TestAuditVisibility(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	ctx := context.Background()
	c := e.client(e.admin)
	for _, a := range []*tenancy.Account{w.a1, w.b1} {
		if _, err := c.UpdateAccount(ctx, a.SID, admin.AccountPatch{QueueEventWebhook: ptr("https://q.example.com/" + a.Name)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SetSMTP(ctx, tenancy.SMTPSettings{Host: "smtp.example.com", Username: "u", Password: "smtp-Passw0rd", MailFrom: "a@example.com"}, 0); err != nil {
		t.Fatal(err)
	}
	list := func(key string) []string {
		var l admin.List[admin.AuditRecord]
		e.do(http.MethodGet, "/audit", key, nil).must(t, http.StatusOK).decode(t, &l)
		var out []string
		for _, r := range l.Items {
			out = append(out, r.Action+":"+r.Account)
			if strings.Contains(string(r.After), "smtp-Passw0rd") {
				t.Fatalf("audit holds the SMTP password: %s", r.After)
			}
		}
		return out
	}
	a1, b1 := string(w.a1.SID), string(w.b1.SID)
	if got := list(e.admin); !slices.Equal(got, []string{"smtp.update:", "account.update:" + b1, "account.update:" + a1}) {
		t.Fatalf("admin sees %v", got)
	}
	if got := list(e.key(rbac.ScopeServiceProvider, "sp1", "", "organization.read")); !slices.Equal(got, []string{"account.update:" + a1}) {
		t.Fatalf("sp1 sees %v", got)
	}
	if got := list(e.key(rbac.ScopeAccount, "", b1, "organization.read")); !slices.Equal(got, []string{"account.update:" + b1}) {
		t.Fatalf("b1 sees %v", got)
	}
	e.do(http.MethodGet, "/audit", e.key(rbac.ScopeAccount, "", b1, "insights"), nil).must(t, http.StatusForbidden)
}

// TestOnSQLite runs the handler over the SQLite drivers of tenancy, rbac and
// the admin store sharing one database file, and checks a change made
// through the API is there after a reopen.
func TestOnSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	open := func() (*tenancy.Store, *rbac.KeyStore, *rbac.MemberStore, *admin.Store, func()) {
		db, err := sqlitedb.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		td, err := tenancysqlite.NewDriver(ctx, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := rbacsqlite.NewDriver(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		ad, err := adminsqlite.NewDriver(ctx, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tenancy.NewStore(td, nil), rbac.NewKeyStore(rd, &rbac.KeyStoreOptions{ServiceTypes: serviceTypes()}),
			rbac.NewMemberStore(rd, nil), admin.NewStore(ad, nil), func() { _ = db.Close() }
	}
	tenants, keys, members, store, closeDB := open()
	h, err := admin.NewHandler(admin.Config{Tenants: tenants, Keys: keys, Members: members, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	root, err := keys.Create(ctx, rbac.NewAPIKey{Name: "root", ServiceType: "all", Scope: rbac.ScopeAdmin, CreatorEmail: "ops@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, h)
	c := admin.NewClient(srv.URL, root.Secret)
	sp, err := c.CreateServiceProvider(ctx, admin.ServiceProvider{ID: "sp", Name: "SP"})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := c.CreateAccount(ctx, tenancy.Account{Name: "Acme", ServiceProvider: sp.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddSIPUser(ctx, acct.SID, "alice", "alice-Passw0rd"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	closeDB()

	tenants, _, _, store, closeDB = open()
	defer closeDB()
	a, err := tenants.Account(ctx, acct.SID)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := a.SIP.User("alice"); !ok || !u.HA1.Equal(tenancy.NewDigestHA1("alice", a.DigestRealm(), "alice-Passw0rd")) {
		t.Fatalf("after reopen: %+v", a.SIP)
	}
	recs, err := store.Audit(ctx, admin.AuditQuery{})
	if err != nil || len(recs) != 3 {
		t.Fatalf("audit after reopen: %d records, %v", len(recs), err)
	}
}
