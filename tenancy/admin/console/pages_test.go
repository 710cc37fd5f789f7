package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/storagetest"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/console"
)

// post sends a form of the page at from with the page's CSRF token.
func (b *browser) post(from, to string, form url.Values) page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.get(from).csrf(b.t))
	return b.do(http.MethodPost, to, form)
}

func mustRedirect(t *testing.T, p page, what string) {
	t.Helper()
	if p.status != http.StatusSeeOther {
		body := p.body
		if i := strings.Index(body, `id="problem"`); i >= 0 {
			body = body[i:]
		}
		t.Fatalf("%s: %d, want a redirect; %.1500s", what, p.status, body)
	}
}

// Each form of the account pages changes what the admin API holds, and a
// value the API refuses comes back on the page with the API's words.
func TestAccountForms(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	b := w.browser()
	b.mustSignIn(w.ann.Email)

	// Applications.
	mustRedirect(t, b.post("/console/applications", "/console/applications", url.Values{"name": {"IVR"}, "record_all_calls": {"1"}}), "create application")
	apps, _ := w.tenants.Applications(ctx, w.a.SID)
	if len(apps) != 1 || apps[0].Name != "IVR" || !apps[0].RecordAllCalls {
		t.Fatalf("applications %+v", apps)
	}
	mustRedirect(t, b.post("/console/applications", "/console/applications/"+string(apps[0].SID), url.Values{"name": {"Main IVR"}, "revision": {"1"}}), "update application")
	if a, _ := w.tenants.Application(ctx, apps[0].SID); a.Name != "Main IVR" || a.RecordAllCalls {
		t.Fatalf("application after update %+v", a)
	}
	if p := b.post("/console/applications", "/console/applications", url.Values{"name": {"Main IVR"}}); p.status != http.StatusConflict || !strings.Contains(p.body, "already") {
		t.Fatalf("duplicate application name: %d", p.status)
	}
	mustRedirect(t, b.post("/console/applications", "/console/applications/"+string(apps[0].SID)+"/delete", nil), "delete application")
	if apps, _ := w.tenants.Applications(ctx, w.a.SID); len(apps) != 0 {
		t.Fatal("application not deleted")
	}

	// SIP users and allowlist.
	mustRedirect(t, b.post("/console/sip", "/console/sip/users", url.Values{"username": {"alice"}, "password": {"alice-Passw0rd"}}), "add SIP user")
	a, _ := w.tenants.Account(ctx, w.a.SID)
	if len(a.SIP.Users) != 1 || a.SIP.Users[0].HA1.IsZero() {
		t.Fatalf("SIP users %+v", a.SIP.Users)
	}
	if p := b.get("/console/sip"); strings.Contains(p.body, "alice-Passw0rd") || !strings.Contains(p.body, "alice") {
		t.Fatal("the SIP page shows the password, or not the user")
	}
	mustRedirect(t, b.post("/console/sip", "/console/sip/allowlist", url.Values{"allowlist": {"203.0.113.0/24\r\n\r\n198.51.100.7\r\n"}}), "allowlist")
	a, _ = w.tenants.Account(ctx, w.a.SID)
	if strings.Join(a.SIP.Allowlist, ",") != "203.0.113.0/24,198.51.100.7" {
		t.Fatalf("allowlist %v", a.SIP.Allowlist)
	}
	if p := b.post("/console/sip", "/console/sip/allowlist", url.Values{"allowlist": {"203.0.113.0/24\nnot an address"}}); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "not an address") {
		t.Fatalf("a bad allowlist entry: %d %.800s", p.status, p.body)
	}
	mustRedirect(t, b.post("/console/sip", "/console/sip/users/alice/delete", nil), "delete SIP user")

	// Call attached data.
	mustRedirect(t, b.post("/console/cad", "/console/cad", url.Values{"name": {"tenant_field_status", "", "org"}, "value": {"Interaction.status", "", "Interaction.organizationId"}}), "CAD")
	a, _ = w.tenants.Account(ctx, w.a.SID)
	if len(a.CallAttachedData) != 2 || a.CallAttachedData[1].Name != "org" {
		t.Fatalf("CAD %+v", a.CallAttachedData)
	}
	if p := b.post("/console/cad", "/console/cad", url.Values{"name": {"bad name!"}, "value": {"Interaction.status"}}); p.status != http.StatusUnprocessableEntity {
		t.Fatalf("a bad CAD name: %d", p.status)
	}

	// Recording: a memory bucket, saved; the account member is not offered
	// a directory of the gateway, and the API refuses it anyway.
	mustRedirect(t, b.post("/console/recording", "/console/recording", url.Values{"enabled": {"1"}, "format": {"mp3"}, "vendor": {"memory"}, "memory.tags": {"team=ops"}}), "recording")
	a, _ = w.tenants.Account(ctx, w.a.SID)
	if !a.Recording.Enabled || a.Recording.Format != tenancy.FormatMP3 || a.Recording.Bucket.Memory == nil || a.Recording.Bucket.Memory.Tags[0].Value != "ops" {
		t.Fatalf("recording %+v", a.Recording)
	}
	if p := b.get("/console/recording"); strings.Contains(p.body, `<option value="file"`) {
		t.Fatal("an account member is offered the gateway's directory")
	}
	if p := b.post("/console/recording", "/console/recording", url.Values{"vendor": {"file"}, "file.dir": {"/etc"}}); p.status != http.StatusForbidden || !strings.Contains(p.body, "only admin scope may store recordings in a directory") {
		t.Fatalf("a file bucket from an account member: %d", p.status)
	}
	// Test against an S3 test server, saved secret kept.
	s3 := storagetest.NewS3Server(t)
	s3.CreateBucket("rec")
	cfg := url.Values{"vendor": {"s3-compatible"}, "s3c.endpoint": {s3.Endpoint()}, "s3c.path_style": {"1"}, "s3c.bucket": {"rec"},
		"s3c.region": {s3.Region}, "s3c.access_key_id": {s3.KeyID}, "s3c.secret_access_key": {s3.SecretKey.Reveal()}}
	mustRedirect(t, b.post("/console/recording", "/console/recording", cfg), "save S3")
	p := b.post("/console/recording", "/console/recording/test", url.Values{"vendor": {"s3-compatible"}, "s3c.endpoint": {s3.Endpoint()}, "s3c.path_style": {"1"},
		"s3c.bucket": {"rec"}, "s3c.region": {s3.Region}, "s3c.access_key_id": {s3.KeyID}})
	if !strings.Contains(p.body, "Test passed") {
		t.Fatalf("test with the saved secret (left empty): %.1500s", p.body)
	}
	if strings.Contains(p.body, s3.SecretKey.Reveal()) {
		t.Fatal("the recording page shows the secret")
	}
	// Every change went through the admin API as Ann: its audit log says so.
	recs, err := w.audit.Audit(ctx, admin.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Actor != w.ann.Email || r.ActorEmail != w.ann.Email {
			t.Errorf("audit record %s by %q (%q), want Ann", r.Action, r.Actor, r.ActorEmail)
		}
		seen[r.Action] = true
	}
	for _, a := range []string{"application.create", "application.update", "application.delete", "account.recording.update"} {
		if !seen[a] {
			t.Errorf("no audit record %s; have %v", a, seen)
		}
	}
}

// Members and roles: a member added with a password signs in; the role
// grid sets the privileges; deleting a member ends its sessions.
func TestMembersAndRoles(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ann := w.browser()
	ann.mustSignIn(w.ann.Email)

	p := ann.post("/console/members", "/console/roles", url.Values{"name": {"Support"}, "priv": {"interaction.read", "interaction.delete", "phone.read"}, "adv": {"read_interaction_metrics"}})
	mustRedirect(t, p, "create role")
	roles, _ := w.members.Roles(ctx, string(w.a.SID))
	var support *rbac.Role
	for _, r := range roles {
		if r.Name == "Support" {
			support = r
		}
	}
	if support == nil || !support.Privileges.Allows(rbac.EntityInteraction, rbac.ActionDelete) || support.Privileges.Allows(rbac.EntityPhone, rbac.ActionUpdate) ||
		!support.Privileges.Advanced.Has(rbac.ReadInteractionMetrics) {
		t.Fatalf("role %+v", support)
	}
	page := ann.get("/console/roles/" + support.ID)
	if !strings.Contains(page.body, `id="p-interaction.delete" name="priv" value="interaction.delete" aria-label="Can Delete Interaction" checked`) ||
		strings.Contains(page.body, `value="phone.update" aria-label="Can Update Phone" checked`) {
		t.Fatalf("the grid does not show the role: %.3000s", page.body)
	}
	mustRedirect(t, ann.post("/console/roles/"+support.ID, "/console/roles/"+support.ID, url.Values{"name": {"Support"}, "priv": {"interaction.read"}}), "update role")
	if r, _ := w.members.Role(ctx, support.ID); r.Privileges.Allows(rbac.EntityInteraction, rbac.ActionDelete) || r.Privileges.Advanced != 0 {
		t.Fatalf("role after update %+v", r)
	}

	mustRedirect(t, ann.post("/console/members", "/console/members", url.Values{"email": {"carl@acme.example.com"}, "first_name": {"Carl"}, "role_id": {support.ID}, "password": {"carl's long password"}}), "add member")
	if m, err := w.members.MemberByEmail(ctx, "carl@acme.example.com"); err != nil {
		t.Fatal(err)
	} else if has, _ := w.members.HasPassword(ctx, m.ID); !has {
		t.Fatalf("Carl has no password: %s", w.logs.String())
	}
	carl := w.browser()
	mustRedirect(t, carl.signIn("carl@acme.example.com", "carl's long password"), "Carl signs in")
	if p := carl.get("/console/calls"); p.status != http.StatusOK || !strings.Contains(p.body, "15550001111") {
		t.Fatalf("Carl's calls: %d", p.status)
	}
	// Carl reads calls only: no keys page in his menu, and the API refuses
	// his forms.
	if p := carl.get("/console/"); strings.Contains(p.body, `href="/console/keys"`) {
		t.Fatal("the menu offers Carl the API keys")
	}
	if p := carl.post("/console/", "/console/keys", url.Values{"name": {"x"}, "service_type": {"insights"}}); p.status != http.StatusForbidden {
		t.Fatalf("Carl creating a key: %d", p.status)
	}
	m, _ := w.members.MemberByEmail(ctx, "carl@acme.example.com")
	// Ann sets Carl's password: Carl's sessions end.
	mustRedirect(t, ann.post("/console/members", "/console/members/"+m.ID+"/password", url.Values{"password": {"a brand new password"}}), "set password")
	if p := carl.get("/console/calls"); p.status != http.StatusSeeOther {
		t.Fatalf("Carl's session after his password changed: %d", p.status)
	}
	if p := carl.signIn("carl@acme.example.com", "a brand new password"); p.status != http.StatusSeeOther {
		t.Fatalf("Carl with his new password: %d", p.status)
	}
	// Ann may not give a member a role beyond her own privileges... she
	// holds everything; the viewer Vera may not set passwords at all.
	vera := w.browser()
	vera.mustSignIn(w.viewer.Email)
	if p := vera.post("/console/", "/console/members/"+w.ann.ID+"/password", url.Values{"password": {"taking over ann's account"}}); p.status != http.StatusForbidden {
		t.Fatalf("Vera setting Ann's password: %d", p.status)
	}
	mustRedirect(t, ann.post("/console/members", "/console/members/"+m.ID, url.Values{"role_id": {""}, "revision": {"0"}}), "change role")
	if got, _ := w.members.Member(ctx, m.ID); got.RoleID != "" {
		t.Fatalf("role after change: %q", got.RoleID)
	}
	mustRedirect(t, ann.post("/console/members", "/console/members/"+m.ID+"/delete", nil), "delete member")
	if p := carl.get("/console/calls"); p.status != http.StatusSeeOther {
		t.Fatalf("a deleted member's session: %d", p.status)
	}
	if p := ann.post("/console/members", "/console/roles/"+support.ID+"/delete", nil); p.status != http.StatusSeeOther {
		t.Fatalf("delete role: %d", p.status)
	}
}

// The admin's pages: accounts (a new one's webhook secret shown once),
// SMTP with its Test, the calls of every account or of the one chosen.
func TestAdminPages(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	root := w.browser()
	root.mustSignIn(w.root.Email)
	mustRedirect(t, root.post("/console/accounts", "/console/accounts", url.Values{"name": {"Cobalt"}, "sip_realm": {"cobalt.example.com"}}), "create account")
	p := root.get("/console/accounts")
	shown := secretOf(t, root.get("/console/accounts").body+p.body)
	list, _ := w.tenants.Accounts(ctx, "")
	var cobalt *tenancy.Account
	for _, a := range list {
		if a.Name == "Cobalt" {
			cobalt = a
		}
	}
	if cobalt == nil || !cobalt.WebhookSecret.Equal(secret.String(shown)) {
		t.Fatalf("the secret shown is not Cobalt's webhook secret")
	}
	if again := root.get("/console/accounts"); strings.Contains(again.body, shown) {
		t.Fatal("the webhook secret is shown twice")
	}
	// SMTP: saved; Test against a closed port shows the API's failure.
	closed := strings.TrimPrefix(storagetest.UnreachableEndpoint(t), "http://")
	host, port, _ := strings.Cut(closed, ":")
	mustRedirect(t, root.post("/console/smtp", "/console/smtp", url.Values{"host": {host}, "port": {port}, "mail_from": {"noreply@voicegw.example"}, "username": {"mailer"}, "password": {"smtp-secret-1"}}), "save SMTP")
	p = root.post("/console/smtp", "/console/smtp/test", url.Values{"host": {host}, "port": {port}, "mail_from": {"noreply@voicegw.example"}, "username": {"mailer"}})
	if !strings.Contains(p.body, "Test failed") || !strings.Contains(p.body, "(dial)") {
		t.Fatalf("SMTP test on a closed port: %.2000s", p.body)
	}
	if strings.Contains(p.body, "smtp-secret-1") || strings.Contains(root.get("/console/smtp").body, "smtp-secret-1") {
		t.Fatal("the SMTP page shows the password")
	}
	// An account member cannot read the platform's SMTP settings.
	ann := w.browser()
	ann.mustSignIn(w.ann.Email)
	if p := ann.get("/console/smtp"); p.status == http.StatusOK || strings.Contains(p.body, host) {
		t.Fatalf("Ann reading SMTP: %d", p.status)
	}
	// Calls: every account, or the chosen one.
	if p := root.get("/console/calls?account="); !strings.Contains(p.body, "15550001111") || !strings.Contains(p.body, "15559990000") {
		t.Fatal("the admin's calls of every account")
	}
	if p := root.get("/console/calls?account=" + string(w.b.SID)); strings.Contains(p.body, "15550001111") || !strings.Contains(p.body, "15559990000") {
		t.Fatal("the admin's calls of B")
	}
	// The choice stays for the next pages.
	if p := root.get("/console/sip"); !strings.Contains(p.body, `value="`+string(w.b.SID)+`" selected`) {
		t.Fatal("the chosen account is not kept")
	}
}

// Searching: by status, destination and dates; a query the API refuses
// (more than 60 days) shows its reason.
func TestCallsSearch(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	live := insights.NewCallSession(insights.CallRecord{SessionID: "c0000000-0000-4000-8000-00000000000c", AccountID: string(w.a.SID),
		Source: "+15550003333", Destination: "+15550004444", Start: w.now.Add(-time.Minute)})
	if err := w.idx.Put(ctx, live); err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	b.mustSignIn(w.ann.Email)
	for q, want := range map[string][]string{
		"status=in_progress":         {"15550003333"},
		"status=ended":               {"15550001111"},
		"destination=%2B15550002222": {"15550001111"},
		"":                           {"15550001111", "15550003333"},
	} {
		p := b.get("/console/calls?" + q)
		for _, s := range []string{"15550001111", "15550003333"} {
			if strings.Contains(p.body, s) != contains(want, s) {
				t.Errorf("calls?%s: shows %s = %v", q, s, !contains(want, s))
			}
		}
	}
	if p := b.get("/console/calls?from=2020-01-01&to=2020-06-01"); !strings.Contains(p.body, "60 days") {
		t.Fatalf("a 150-day search: %d %.1500s", p.status, p.body)
	}
	if p := b.get("/console/calls?from=yesterday"); p.status != http.StatusBadRequest {
		t.Fatalf("a bad date: %d", p.status)
	}
	p := b.get("/console/calls/" + w.callA.ID + "?start=" + w.callA.SessionStartTime.Format("2006-01-02"))
	for _, s := range []string{"rec-a", "call-a@pbx", "AP-A", "0:03", "channel_data.sip_call_id"} {
		if !strings.Contains(p.body, s) {
			t.Errorf("call details lack %q", s)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// LinkPlayback: a document whose playable link is a path of the gateway is
// served in-process with the player's Range header; one without a link
// answers 404.
func TestLinkPlaybackPath(t *testing.T) {
	var gotRange string
	var wav []byte
	w := newWorld(t, worldOptions{edit: func(c *console.Config) {
		c.Playback = console.LinkPlayback{Fields: []string{"playback_url"}, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			gotRange = r.Header.Get("Range")
			if r.URL.Path != "/recordings/a.wav" {
				http.NotFound(rw, r)
				return
			}
			rw.Header().Set("Content-Type", "audio/wav")
			http.ServeContent(rw, r, "a.wav", time.Time{}, bytes.NewReader(wav))
		})}
	}})
	wav = w.wav
	doc := *w.callA
	doc.Extra = map[string]json.RawMessage{"playback_url": json.RawMessage(`"/recordings/a.wav"`)}
	if err := w.idx.Put(context.Background(), &doc); err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	b.mustSignIn(w.ann.Email)
	p := b.do(http.MethodGet, "/console/calls/"+w.callA.ID+"/recording", nil, "Range", "bytes=4-7")
	if p.status != http.StatusPartialContent || p.body != string(w.wav[4:8]) || gotRange != "bytes=4-7" {
		t.Fatalf("in-process playback: %d %q, range %q", p.status, p.body, gotRange)
	}
	bob := w.browser()
	bob.mustSignIn(w.bob.Email)
	if p := bob.get("/console/calls/" + w.callB.ID + "/recording"); p.status != http.StatusNotFound {
		t.Fatalf("a document without a link: %d", p.status)
	}
}
