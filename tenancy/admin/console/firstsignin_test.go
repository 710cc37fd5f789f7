package console_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	rbacmem "github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/tenancy/admin/console"
)

// FirstSignIn creates the member once, with a role holding everything and a
// strong generated password that signs in; later calls change nothing.
func TestFirstSignIn(t *testing.T) {
	ctx := context.Background()
	members := rbacmem.NewMemberStore(&rbac.StoreOptions{Passwords: rbac.PasswordParams{Memory: 64, Time: 1}})
	seen := map[string]bool{}
	for i, m := range []console.FirstMember{
		{Email: "admin@demo.voicegw.test", Account: "acct-demo"},
		{Email: "ops@voicegw.test"},
		{Email: "sp@voicegw.test", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp1", RoleName: "Provider admin"},
	} {
		pw, created, err := console.FirstSignIn(ctx, members, m)
		if err != nil || !created {
			t.Fatalf("%d: %v, %v", i, created, err)
		}
		if err := rbac.CheckPassword(pw); err != nil || len(pw.Reveal()) != 23 || strings.Count(pw.Reveal(), "-") != 3 || seen[pw.Reveal()] {
			t.Fatalf("%d: generated password of shape %d chars: %v", i, len(pw.Reveal()), err)
		}
		seen[pw.Reveal()] = true
		mem, err := members.VerifyPassword(ctx, m.Email, pw)
		if err != nil {
			t.Fatal(err)
		}
		p, err := members.Principal(ctx, mem.ID)
		if err != nil || p.Privileges != rbac.AllPrivileges() {
			t.Fatalf("%d: principal %+v, %v", i, p, err)
		}
		if _, again, err := console.FirstSignIn(ctx, members, m); again || err != nil {
			t.Fatalf("%d: second call created=%v, %v", i, again, err)
		}
		if _, err := members.VerifyPassword(ctx, m.Email, pw); err != nil {
			t.Fatalf("%d: the second call changed the password: %v", i, err)
		}
	}
	if m, _ := members.MemberByEmail(ctx, "admin@demo.voicegw.test"); m.Scope != rbac.ScopeAccount || m.Account != "acct-demo" {
		t.Fatalf("demo member %+v", m)
	}
	if _, _, err := console.FirstSignIn(ctx, members, console.FirstMember{}); !errors.Is(err, console.ErrFirstMember) {
		t.Fatalf("no email: %v", err)
	}
	// A second account member reuses the account's role.
	if _, _, err := console.FirstSignIn(ctx, members, console.FirstMember{Email: "second@demo.voicegw.test", Account: "acct-demo"}); err != nil {
		t.Fatal(err)
	}
	if roles, _ := members.Roles(ctx, "acct-demo"); len(roles) != 3 { // the account's one, the two platform ones
		t.Fatalf("roles: %d", len(roles))
	}
}
