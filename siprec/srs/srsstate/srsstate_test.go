package srsstate_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

const (
	keptKey    = "kept-reporting-key-0123456789"
	removedKey = "removed-reporting-key-0123456789"
	adminKey   = "admin-bootstrap-key-0123456789"
)

// declaration declares account acme with the given keys and one admin key.
func declaration(bucket string, keys ...srsstate.DeclaredKey) srsstate.Declaration {
	return srsstate.Declaration{
		AdminKeys: []srsstate.DeclaredKey{{Name: "ops", Secret: adminKey}},
		Accounts: []srsstate.DeclaredAccount{{
			DeclaredAccount: tenancy.DeclaredAccount{
				Set: []string{"sip_realm", "recording"},
				Account: tenancy.Account{Name: "acme", SIPRealm: "acme.test", Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatWAV,
					Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: bucket}}}},
				Applications: []tenancy.DeclaredApplication{{Name: "siprec"}},
			},
			APIKeys: keys,
		}},
	}
}

func open(t *testing.T, opts srsstate.Options) *srsstate.State {
	t.Helper()
	st, err := srsstate.Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestOpenSQLite: on SQLite every store is open in the data directory, its
// files private (0600), the journal and the index usable; the declared
// accounts and keys are applied (a local bucket's directory made), and a
// key removed from the declaration stops working at the next Apply while
// the one kept keeps its secret, across a reopen.
func TestOpenSQLite(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	bucket := filepath.Join(t.TempDir(), "not", "yet")
	st := open(t, srsstate.Options{DataDir: dir})
	if st.Shared() || st.Pool() != nil || st.DB() == nil || st.IndexDB() == nil {
		t.Fatalf("SQLite state: shared %v, pool %v, db %v, index db %v", st.Shared(), st.Pool(), st.DB(), st.IndexDB())
	}
	applied, err := st.Apply(ctx, declaration(bucket, srsstate.DeclaredKey{Name: "kept", Secret: keptKey}, srsstate.DeclaredKey{Name: "removed", Secret: removedKey}))
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 1 || applied[0].Account.Name != "acme" {
		t.Fatalf("applied %+v", applied)
	}
	if fi, err := os.Stat(bucket); err != nil || !fi.IsDir() {
		t.Fatalf("the local bucket's directory was not made: %v", err)
	}
	for _, k := range []string{keptKey, removedKey, adminKey} {
		if _, err := st.Keys.VerifyKey(ctx, secret.String(k)); err != nil {
			t.Fatalf("declared key: %v", err)
		}
	}
	p, err := st.Keys.VerifyKey(ctx, secret.String(adminKey))
	if err != nil || p.Scope != rbac.ScopeAdmin || p.Privileges != rbac.AllPrivileges() {
		t.Fatalf("the admin key: %+v, %v; want every privilege of the admin scope", p, err)
	}
	if err := st.Limiter.Acquire(ctx, applied[0].Account.SID, "s1", 1); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open(t, srsstate.Options{DataDir: dir})
	if _, err := st.Apply(ctx, declaration(bucket, srsstate.DeclaredKey{Name: "kept", Secret: keptKey})); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Keys.VerifyKey(ctx, secret.String(keptKey)); err != nil {
		t.Fatalf("the key still declared: %v", err)
	}
	if _, err := st.Keys.VerifyKey(ctx, secret.String(removedKey)); !errors.Is(err, rbac.ErrUnknownKey) {
		t.Fatalf("the key removed from the declaration: %v, want ErrUnknownKey", err)
	}
	for _, f := range []string{srsstate.StateDB, srsstate.StateDB + ".key", srsstate.IndexDB, srsstate.PepperFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if err := st.Watch(ctx, func(srsstate.Change) { t.Error("a change reported on SQLite") }); err != nil {
		t.Fatalf("Watch on SQLite: %v", err)
	}
	_ = st.Close()
	if err := st.Watch(ctx, func(srsstate.Change) {}); !errors.Is(err, srsstate.ErrClosed) {
		t.Fatalf("Watch after Close: %v, want ErrClosed", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestOpenRefused: no data directory, a data directory that cannot be made.
func TestOpenRefused(t *testing.T) {
	if _, err := srsstate.Open(t.Context(), srsstate.Options{}); !errors.Is(err, srsstate.ErrNoDataDir) {
		t.Fatalf("no data dir: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := srsstate.Open(t.Context(), srsstate.Options{DataDir: filepath.Join(file, "sub")}); err == nil {
		t.Fatal("a data directory under a file opened")
	}
}

// TestApplyProblems: what only the store can refuse is named by the
// declaration's paths: a realm already another (undeclared) account's, a
// key secret already another key's — and the message never holds the
// secret.
func TestApplyProblems(t *testing.T) {
	ctx := t.Context()
	st := open(t, srsstate.Options{DataDir: t.TempDir()})
	if _, err := st.Tenants.CreateAccount(ctx, &tenancy.Account{Name: "other", SIPRealm: "acme.test"}); err != nil {
		t.Fatal(err)
	}
	_, err := st.Apply(ctx, declaration(t.TempDir()))
	if fes := tenancy.FieldErrors(err); len(fes) != 1 || fes[0].Field != "accounts[0].sip_realm" || !errors.Is(err, tenancy.ErrExists) {
		t.Fatalf("a taken realm: %v, want one problem of accounts[0].sip_realm", err)
	}

	st = open(t, srsstate.Options{DataDir: t.TempDir()})
	made, err := st.Keys.Create(ctx, rbac.NewAPIKey{Name: "made", ServiceType: srsstate.ServiceTypeAdmin, Scope: rbac.ScopeAdmin, CreatorEmail: "ops@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	taken := made.Secret.Reveal()
	_, err = st.Apply(ctx, declaration(t.TempDir(), srsstate.DeclaredKey{Name: "reports", Secret: secret.String(taken)}))
	fes := tenancy.FieldErrors(err)
	if len(fes) != 1 || fes[0].Field != "accounts[0].api_keys[0].secret" || fes[0].Reason != "already the secret of another API key" || !errors.Is(err, rbac.ErrExists) {
		t.Fatalf("a secret used twice: %v, want one problem of accounts[0].api_keys[0].secret", err)
	}
	if strings.Contains(err.Error(), taken) {
		t.Fatalf("the error %q holds the secret", err)
	}
}

// TestValidate: every problem of a declaration at once, named by its path,
// without a store; secrets never quoted.
func TestValidate(t *testing.T) {
	d := declaration(t.TempDir(),
		srsstate.DeclaredKey{Name: "a", Secret: keptKey},
		srsstate.DeclaredKey{Name: "a", Secret: "short"},
		srsstate.DeclaredKey{Secret: removedKey, ServiceType: "root"})
	d.AdminKeys = append(d.AdminKeys, srsstate.DeclaredKey{Name: "no secret"})
	d.Accounts[0].Account.SIPRealm = "bad realm"
	got := map[string]string{}
	err := srsstate.Validate(d, nil)
	for _, fe := range tenancy.FieldErrors(err) {
		got[fe.Field] = fe.Reason
	}
	for _, f := range []string{"accounts[0].sip_realm", "accounts[0].api_keys[1].name", "accounts[0].api_keys[1].secret",
		"accounts[0].api_keys[2].name", "accounts[0].api_keys[2].service_type", "admin.api_keys[1].secret"} {
		if _, ok := got[f]; !ok {
			t.Errorf("no problem of %s in %v", f, err)
		}
	}
	if len(got) != 6 {
		t.Errorf("problems %v, want 6", got)
	}
	if got["admin.api_keys[1].secret"] != "required" || !strings.HasPrefix(got["accounts[0].api_keys[1].name"], "also the name of accounts[0].api_keys[0]") {
		t.Errorf("reasons %v", got)
	}
	if strings.Contains(err.Error(), "short") {
		t.Errorf("the error %q quotes a secret", err)
	}
	if err := srsstate.Validate(declaration(t.TempDir(), srsstate.DeclaredKey{Name: "ok", Secret: keptKey}), nil); err != nil {
		t.Fatalf("a good declaration: %v", err)
	}
}

// TestEnsureDemo: an empty store gets the demo account, whose SIP user,
// keys and bucket work; a store with an account gets nothing.
func TestEnsureDemo(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st := open(t, srsstate.Options{DataDir: dir})
	d, err := st.EnsureDemo(ctx, srsstate.DemoOptions{})
	if err != nil || d == nil {
		t.Fatalf("demo: %+v, %v", d, err)
	}
	if d.Account.SIPRealm != srsstate.DemoRealm || d.Account.Recording.Bucket.File.Dir != filepath.Join(dir, "bucket") {
		t.Fatalf("demo account %+v", d.Account)
	}
	if fi, err := os.Stat(d.Account.Recording.Bucket.File.Dir); err != nil || !fi.IsDir() {
		t.Fatalf("the demo bucket: %v", err)
	}
	if p, err := st.Keys.VerifyKey(ctx, d.APIKey); err != nil || p.Account != string(d.Account.SID) {
		t.Fatalf("demo API key: %+v, %v", p, err)
	}
	if p, err := st.Keys.VerifyKey(ctx, d.AdminKey); err != nil || p.Scope != rbac.ScopeAdmin {
		t.Fatalf("demo admin key: %+v, %v", p, err)
	}
	a, err := st.Tenants.Account(ctx, d.Account.SID)
	if err != nil || len(a.SIP.Users) != 1 || a.SIP.Users[0].Username != d.User || len(d.Password.Reveal()) < 20 {
		t.Fatalf("demo SIP user: %+v, %v", a, err)
	}
	if again, err := st.EnsureDemo(ctx, srsstate.DemoOptions{}); err != nil || again != nil {
		t.Fatalf("second EnsureDemo: %+v, %v; want nothing made", again, err)
	}
}

// TestReadyChecks: the state's checks pass on a fresh state and name the
// database whose file was replaced under the running state.
func TestReadyChecks(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st := open(t, srsstate.Options{DataDir: dir})
	checks := st.ReadyChecks()
	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
		if err := c.Check(ctx); err != nil {
			t.Fatalf("%s on a fresh state: %v", c.Name, err)
		}
	}
	if strings.Join(names, ",") != "state_db,session_index" {
		t.Fatalf("checks %v, want state_db,session_index", names)
	}
	idx := filepath.Join(dir, srsstate.IndexDB)
	if err := os.Rename(idx, idx+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idx, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checks[1].Check(ctx); err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("session_index after its file was replaced: %v, want replaced", err)
	}
	if err := checks[0].Check(ctx); err != nil {
		t.Fatalf("state_db untouched: %v", err)
	}
}

// TestDefaultAccount: a name is the stored account's SID, a name no
// account has is ErrNoSuchAccount quoting it; without a name the demo
// account serves only when demo is asked and the store holds it.
func TestDefaultAccount(t *testing.T) {
	ctx := t.Context()
	st := open(t, srsstate.Options{DataDir: t.TempDir()})
	applied, err := st.Apply(ctx, declaration(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	acme := applied[0].Account.SID
	for _, tc := range []struct {
		name string
		demo bool
		want tenancy.SID
	}{
		{"acme", false, acme},
		{"acme", true, acme},
		{"", false, ""},
		{"", true, ""}, // no demo account stored
	} {
		if got, err := st.DefaultAccount(ctx, tc.name, tc.demo); err != nil || got != tc.want {
			t.Errorf("DefaultAccount(%q, %v) = %q, %v; want %q", tc.name, tc.demo, got, err, tc.want)
		}
	}
	if _, err := st.DefaultAccount(ctx, "nobody", false); !errors.Is(err, srsstate.ErrNoSuchAccount) || !strings.Contains(err.Error(), `"nobody"`) {
		t.Errorf("an unknown name: %v, want ErrNoSuchAccount quoting it", err)
	}

	st2 := open(t, srsstate.Options{DataDir: t.TempDir()})
	d, err := st2.EnsureDemo(ctx, srsstate.DemoOptions{BucketDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := st2.DefaultAccount(ctx, "", true); err != nil || got != d.Account.SID {
		t.Errorf("the demo: %q, %v; want %q", got, err, d.Account.SID)
	}
	if got, err := st2.DefaultAccount(ctx, "", false); err != nil || got != "" {
		t.Errorf("the demo not asked for: %q, %v; want none", got, err)
	}
}

// TestEnsureDemoConsoleMember: the demo comes with a console member of
// its account whose printed password signs in (only its hash is kept); a
// second EnsureDemo makes nothing.
func TestEnsureDemoConsoleMember(t *testing.T) {
	ctx := t.Context()
	st := open(t, srsstate.Options{DataDir: t.TempDir()})
	d, err := st.EnsureDemo(ctx, srsstate.DemoOptions{BucketDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if d.ConsoleEmail != srsstate.DemoConsoleEmail || d.ConsolePassword.IsZero() {
		t.Fatalf("console member %q, password set %v", d.ConsoleEmail, !d.ConsolePassword.IsZero())
	}
	m, err := st.Members.VerifyPassword(ctx, d.ConsoleEmail, d.ConsolePassword)
	if err != nil || m.Account != string(d.Account.SID) {
		t.Fatalf("sign-in with the demo's password: %v, %+v; want a member of %s", err, m, d.Account.SID)
	}
	if _, err := st.Members.VerifyPassword(ctx, d.ConsoleEmail, "not-the-password-1234"); err == nil {
		t.Fatal("another password signs in")
	}
	if again, err := st.EnsureDemo(ctx, srsstate.DemoOptions{}); again != nil || err != nil {
		t.Fatalf("second EnsureDemo: %+v, %v; want nil, nil", again, err)
	}
}
