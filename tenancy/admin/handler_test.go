package admin_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// The walkthrough of issue 16 through the typed client over real HTTP: a
// service provider, an account, a SIP user, a bucket, a key; each change
// notified and audited.
func TestWalkthrough(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)

	sp, err := c.CreateServiceProvider(ctx, admin.ServiceProvider{ID: "acme-sp", Name: "Acme SP"})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := c.CreateAccount(ctx, tenancy.Account{Name: "Acme", ServiceProvider: sp.ID, SIPRealm: "sip.acme.example", LicensedSessions: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acct.WebhookSecret, "whsec_") || len(acct.WebhookSecret) < 40 {
		t.Fatalf("created account's webhook secret %q is not the plain secret", acct.WebhookSecret)
	}
	got, err := c.Account(ctx, acct.SID)
	if err != nil {
		t.Fatal(err)
	}
	if got.WebhookSecret.Reveal() == acct.WebhookSecret || !strings.Contains(got.WebhookSecret.Reveal(), "XXXX") {
		t.Fatalf("a read shows the webhook secret %q, want it masked", got.WebhookSecret.Reveal())
	}
	user, err := c.AddSIPUser(ctx, acct.SID, "alice", "alice-Passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	if user.Username != "alice" || user.Password.Reveal() == "alice-Passw0rd" {
		t.Fatalf("added user %+v (password must come back masked)", user)
	}
	stored, _ := e.tenants.Account(ctx, acct.SID)
	if u, ok := stored.SIP.User("alice"); !ok || !u.HA1.Equal(tenancy.NewDigestHA1("alice", stored.DigestRealm(), "alice-Passw0rd")) {
		t.Fatalf("stored SIP users %+v: the password's digests did not reach the store", stored.SIP.Users)
	}
	// The account's SIPREC policy: SIP over TLS and SRTP required.
	sipSet, err := c.UpdateSIP(ctx, acct.SID, admin.SIPPatch{RequireTLS: ptr(true), RequireSRTP: ptr(true)}, 0)
	if err != nil || !sipSet.RequireTLS || !sipSet.RequireSRTP {
		t.Fatalf("UpdateSIP(require_tls, require_srtp) = %+v, %v", sipSet, err)
	}
	if stored, _ := e.tenants.Account(ctx, acct.SID); !stored.SIP.RequireTLS || !stored.SIP.RequireSRTP || len(stored.SIP.Users) != 1 {
		t.Fatalf("stored SIP access %+v: the requirements (and the user) must be kept", stored.SIP)
	}
	rec, err := c.UpdateRecording(ctx, acct.SID, admin.RecordingPatch{Enabled: ptr(true), BucketURL: ptr("mem://")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Enabled || rec.BucketURL != "mem://" {
		t.Fatalf("recording %+v", rec)
	}
	res, err := c.TestRecording(ctx, acct.SID, nil)
	if err != nil || !res.OK {
		t.Fatalf("TestRecording = %+v, %v", res, err)
	}
	ck, err := c.CreateAPIKey(ctx, admin.CreateAPIKeyRequest{Name: "crm", ServiceType: "insights", AccountSID: string(acct.SID)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ck.Secret, rbac.KeyPrefix) || ck.CreatorEmail != "ops@example.com" || ck.Account != string(acct.SID) {
		t.Fatalf("created key %+v", ck)
	}
	// The new key works at once (here: on /me), and stops at once when deleted.
	me, err := e.client(ck.Secret).Me(ctx)
	if err != nil || me.Scope != rbac.ScopeAccount || me.AccountSID != string(acct.SID) {
		t.Fatalf("Me with the new key = %+v, %v", me, err)
	}
	if err := c.DeleteAPIKey(ctx, ck.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client(ck.Secret).Me(ctx); !errors.Is(err, admin.ErrUnauthorized) {
		t.Fatalf("deleted key: %v, want ErrUnauthorized", err)
	}

	var ops []string
	for _, ch := range e.takeChanges() {
		ops = append(ops, ch.Resource+"."+ch.Op+strings.Join(ch.Fields, "+"))
	}
	want := []string{"service_provider.create", "account.create", "account.updatesip", "account.updatesip", "account.updaterecording", "api_key.create", "api_key.delete"}
	if !slices.Equal(ops, want) {
		t.Fatalf("changes notified %v, want %v", ops, want)
	}
	audit, err := c.Audit(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range audit.Items {
		actions = append(actions, r.Action)
		if strings.Contains(string(r.After)+string(r.Before), "alice-Passw0rd") || strings.Contains(string(r.After), acct.WebhookSecret) {
			t.Fatalf("audit record %s holds a secret: %s %s", r.Action, r.Before, r.After)
		}
		if r.Actor == "" || r.ActorEmail != "ops@example.com" || r.Time.IsZero() {
			t.Fatalf("audit record without who/when: %+v", r)
		}
	}
	wantActions := []string{"api_key.delete", "api_key.create", "account.recording.update", "account.sip.update", "account.sip.user.create", "account.create", "service_provider.create"}
	if !slices.Equal(actions, wantActions) {
		t.Fatalf("audit %v, want %v", actions, wantActions)
	}
}

func ptr[T any](v T) *T { return &v }

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"no key", nil},
		{"unknown key", []string{"X-Vgai-Key", "vgk_unknown_unknown_unknown_unknown"}},
		{"basic auth", []string{"Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}},
		{"two different keys", []string{"Authorization", "Bearer " + e.admin, "X-Vgai-Key", "vgk_other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, "/accounts", "", nil, tc.header...).must(t, http.StatusUnauthorized)
			r.problem(t)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	// Both headers accepted.
	e.do(http.MethodGet, "/me", "", nil, "X-Vgai-Key", e.admin).must(t, http.StatusOK)
	e.do(http.MethodGet, "/me", e.admin, nil).must(t, http.StatusOK)
	e.do(http.MethodGet, "/me", e.admin, nil, "X-Vgai-Key", e.admin).must(t, http.StatusOK)
	// A revoked key fails on the next request.
	k := e.key(rbac.ScopeAdmin, "", "", "all")
	e.do(http.MethodGet, "/me", k, nil).must(t, http.StatusOK)
	var me admin.Me
	e.do(http.MethodGet, "/me", k, nil).decode(t, &me)
	e.do(http.MethodPost, "/api-keys/"+me.KeyID+"/revoke", e.admin, nil).must(t, http.StatusOK)
	e.do(http.MethodGet, "/me", k, nil).must(t, http.StatusUnauthorized)
}
