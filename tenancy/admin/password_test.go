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

// PUT /members/{id}/password: the member then signs in with it; nobody sets
// the password of a member beyond their reach or broader than themselves,
// and the password appears in no answer, problem or audit record.
func TestSetMemberPassword(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	ctx := context.Background()
	var viewer rbac.Privileges
	viewer.Grant(rbac.EntityInteraction, rbac.ActionRead)
	viewerRole, err := e.members.CreateRole(ctx, &rbac.Role{Account: string(w.a1.SID), Name: "Viewer", Privileges: viewer})
	if err != nil {
		t.Fatal(err)
	}
	allRole, err := e.members.CreateRole(ctx, &rbac.Role{Account: string(w.a1.SID), Name: "Everything", Privileges: rbac.AllPrivileges()})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(email string, scope rbac.Scope, acct tenancy.SID, role string) *rbac.Member {
		m, err := e.members.CreateMember(ctx, &rbac.Member{Email: email, Scope: scope, Account: string(acct), RoleID: role})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ann := mk("ann@a1.example.com", rbac.ScopeAccount, w.a1.SID, viewerRole.ID)
	boss := mk("boss@a1.example.com", rbac.ScopeAccount, w.a1.SID, allRole.ID)
	bob := mk("bob@b1.example.com", rbac.ScopeAccount, w.b1.SID, "")
	root := mk("root@example.com", rbac.ScopeAdmin, "", "")

	// An account key of A1 with every privilege but the advanced ones
	// (the "api" type), which the boss's role has.
	a1Org := e.key(rbac.ScopeAccount, "sp1", string(w.a1.SID), "api")
	a1Read := e.key(rbac.ScopeAccount, "sp1", string(w.a1.SID), "organization.read")
	const pw = "correct horse battery"

	e.takeChanges()
	e.do(http.MethodPut, "/members/"+ann.ID+"/password", a1Org, map[string]string{"password": pw}).must(t, http.StatusNoContent)
	if m, err := e.members.VerifyPassword(ctx, ann.Email, pw); err != nil || m.ID != ann.ID {
		t.Fatalf("Ann signs in: %v, %v", m, err)
	}
	ch := e.takeChanges()
	if len(ch) != 1 || ch[0].Resource != admin.ResourceMember || ch[0].ID != ann.ID || !slices.Equal(ch[0].Fields, []string{"password"}) {
		t.Fatalf("changes = %+v, want one member change of field password", ch)
	}

	for _, tc := range []struct {
		name, key, id string
		body          any
		status        int
	}{
		{"weak password", a1Org, ann.ID, map[string]string{"password": "hunter2"}, http.StatusUnprocessableEntity},
		{"unknown field", a1Org, ann.ID, map[string]string{"password": pw, "email": "x@example.com"}, http.StatusBadRequest},
		{"without organization update", a1Read, ann.ID, map[string]string{"password": pw}, http.StatusForbidden},
		{"a member whose role grants more", a1Org, boss.ID, map[string]string{"password": pw}, http.StatusForbidden},
		{"another account's member", a1Org, bob.ID, map[string]string{"password": pw}, http.StatusNotFound},
		{"an admin member", a1Org, root.ID, map[string]string{"password": pw}, http.StatusNotFound},
		{"no such member", a1Org, "nobody", map[string]string{"password": pw}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPut, "/members/"+tc.id+"/password", tc.key, tc.body).must(t, tc.status)
			p := r.problem(t)
			if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), pw) {
				t.Fatalf("the problem %s holds the password", r.body)
			}
			if tc.status == http.StatusUnprocessableEntity {
				if _, ok := p.Field("password"); !ok {
					t.Fatalf("problem %+v does not name the field password", p)
				}
			}
		})
	}
	if _, err := e.members.VerifyPassword(ctx, boss.Email, pw); !errors.Is(err, rbac.ErrWrongPassword) {
		t.Fatalf("the refused change set the boss's password: %v", err)
	}

	// The platform admin sets anyone's, through the typed client.
	if err := e.client(e.admin).SetMemberPassword(ctx, root.ID, "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.members.VerifyPassword(ctx, root.Email, "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	recs, err := e.store.Audit(ctx, admin.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Action == "member.password" {
			n++
		}
		for _, b := range [][]byte{r.Before, r.After} {
			if strings.Contains(string(b), "argon2") || strings.Contains(string(b), "passphrase") || strings.Contains(string(b), pw) {
				t.Fatalf("audit record %+v holds the password or its hash", r)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d member.password audit records, want 2", n)
	}
}
