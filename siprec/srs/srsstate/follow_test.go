package srsstate_test

import (
	"path/filepath"
	"testing"

	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// TestAdminNotifier: an account changed in the store behind a Server's
// back stays cached as it was; the notifier's account change drops it, so
// the next read sees the change. Other resources (API keys) and changes
// without an account drop nothing.
func TestAdminNotifier(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st := open(t, srsstate.Options{DataDir: dir})
	applied, err := st.Apply(ctx, declaration(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := srs.New(ctx, srs.Config{Tenants: st.Tenants, RecordingDir: filepath.Join(dir, "recordings"), SpoolDir: filepath.Join(dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sid := applied[0].Account.SID
	realm := func() string {
		t.Helper()
		a, err := srv.TenantCache().Account(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		return a.SIPRealm
	}
	if got := realm(); got != "acme.test" {
		t.Fatalf("realm %q", got)
	}
	a := *applied[0].Account
	a.SIPRealm = "acme2.test"
	if _, err := st.Tenants.UpdateAccount(ctx, &a); err != nil {
		t.Fatal(err)
	}
	n := srsstate.AdminNotifier(srv, nil)
	n.Notify(ctx, admin.Change{Resource: admin.ResourceAPIKey, Op: admin.OpCreate, Account: string(sid)})
	n.Notify(ctx, admin.Change{Resource: admin.ResourceAccount, Op: admin.OpUpdate})
	if got := realm(); got != "acme.test" {
		t.Fatalf("after changes that concern no account: realm %q, want the cached acme.test", got)
	}
	n.Notify(ctx, admin.Change{Resource: admin.ResourceAccount, Op: admin.OpUpdate, ID: string(sid), Account: string(sid)})
	if got := realm(); got != "acme2.test" {
		t.Fatalf("after the account's change: realm %q, want acme2.test", got)
	}
	// On SQLite there is no one else to follow.
	if err := st.Follow(ctx, srv); err != nil {
		t.Fatalf("Follow on SQLite: %v", err)
	}
}
