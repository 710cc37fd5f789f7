// Package storetest holds the conformance suites every rbac.MemberDriver and
// rbac.KeyDriver must pass (gocloud's drivertest shape).
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newClock() *clock { return &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func wantField(t *testing.T, err, sentinel error, field string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	for _, fe := range rbac.FieldErrors(err) {
		if fe.Field == field {
			return
		}
	}
	t.Fatalf("err = %v, want a FieldError naming %q", err, field)
}

// race runs f(0..n-1) at once; it returns the successes and fails the test
// on any error not wrapping loser.
func race(t *testing.T, n int, f func(i int) error, loser error) int {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Errorf("unexpected error: %v", err)
		}
	}
	return wins
}

// RunMemberTests runs the member and role suite against drivers made by nd
// (each fresh and empty; the suite closes them).
func RunMemberTests(t *testing.T, nd func(t *testing.T) rbac.MemberDriver) {
	open := func(t *testing.T) (*rbac.MemberStore, *clock) {
		c := newClock()
		s := rbac.NewMemberStore(nd(t), &rbac.StoreOptions{Clock: c.Now})
		t.Cleanup(func() { _ = s.Close() })
		return s, c
	}
	ctx := context.Background()
	var viewer rbac.Privileges
	viewer.Grant(rbac.EntityInteraction, rbac.ActionRead)

	t.Run("Roles", func(t *testing.T) {
		s, c := open(t)
		r, err := s.CreateRole(ctx, &rbac.Role{Account: "acct-a", Name: " Viewer ", Privileges: viewer})
		if err != nil {
			t.Fatal(err)
		}
		if r.ID == "" || r.Name != "Viewer" || r.Revision != 1 || !r.CreatedAt.Equal(c.Now()) {
			t.Fatalf("CreateRole = %+v", r)
		}
		got, err := s.Role(ctx, r.ID)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("Role = %+v, %v", got, err)
		}
		_, err = s.CreateRole(ctx, &rbac.Role{Account: "acct-a", Name: "Viewer"})
		wantField(t, err, rbac.ErrExists, "name")
		if _, err := s.CreateRole(ctx, &rbac.Role{Account: "acct-b", Name: "Viewer"}); err != nil {
			t.Fatalf("same role name in another account: %v", err)
		}
		platform, err := s.CreateRole(ctx, &rbac.Role{Name: "Auditor", Privileges: rbac.AllPrivileges()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.CreateRole(ctx, &rbac.Role{Name: "Auditor"})
		wantField(t, err, rbac.ErrExists, "name")
		list, err := s.Roles(ctx, "acct-a")
		if err != nil || len(list) != 2 || list[0].ID != r.ID || list[1].ID != platform.ID {
			t.Fatalf("Roles(acct-a) = %d roles, %v; want Viewer then the platform's Auditor", len(list), err)
		}
		_, err = s.CreateRole(ctx, &rbac.Role{Account: "acct-a", Name: ""})
		wantField(t, err, rbac.ErrInvalid, "name")

		c.Add(time.Minute)
		upd := *got
		upd.Privileges.Grant(rbac.EntityInteraction, rbac.ActionUpdate)
		u, err := s.UpdateRole(ctx, &upd)
		if err != nil || u.Revision != 2 || !u.Privileges.Allows(rbac.EntityInteraction, rbac.ActionUpdate) || !u.UpdatedAt.Equal(c.Now()) {
			t.Fatalf("UpdateRole = %+v, %v", u, err)
		}
		if _, err := s.UpdateRole(ctx, &upd); !errors.Is(err, rbac.ErrConflict) {
			t.Fatalf("stale UpdateRole: %v", err)
		}
		moved := *u
		moved.Account = "acct-b"
		_, err = s.UpdateRole(ctx, &moved)
		wantField(t, err, rbac.ErrInvalid, "account_sid")
		if err := s.DeleteRole(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Role(ctx, r.ID); !errors.Is(err, rbac.ErrNotFound) {
			t.Fatalf("deleted role: %v", err)
		}
		if err := s.DeleteRole(ctx, r.ID); !errors.Is(err, rbac.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})

	t.Run("MemberValidation", func(t *testing.T) {
		s, _ := open(t)
		for _, tc := range []struct {
			name  string
			m     rbac.Member
			field string
		}{
			{"no email", rbac.Member{Scope: rbac.ScopeAdmin}, "email"},
			{"bad email", rbac.Member{Email: "not-an-email", Scope: rbac.ScopeAdmin}, "email"},
			{"display name in email", rbac.Member{Email: "Ann <ann@example.com>", Scope: rbac.ScopeAdmin}, "email"},
			{"no scope", rbac.Member{Email: "a@example.com"}, "scope"},
			{"account scope without account", rbac.Member{Email: "a@example.com", Scope: rbac.ScopeAccount}, "account_sid"},
			{"service provider scope without provider", rbac.Member{Email: "a@example.com", Scope: rbac.ScopeServiceProvider}, "service_provider"},
			{"service provider scope with account", rbac.Member{Email: "a@example.com", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp", Account: "x"}, "account_sid"},
			{"admin with account", rbac.Member{Email: "a@example.com", Scope: rbac.ScopeAdmin, Account: "x"}, "scope"},
			{"control character in name", rbac.Member{Email: "a@example.com", Scope: rbac.ScopeAdmin, FirstName: "A\x00"}, "first_name"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.CreateMember(ctx, &tc.m)
				wantField(t, err, rbac.ErrInvalid, tc.field)
			})
		}
	})

	t.Run("Members", func(t *testing.T) {
		s, _ := open(t)
		ra, _ := s.CreateRole(ctx, &rbac.Role{Account: "acct-a", Name: "Viewer", Privileges: viewer})
		rb, _ := s.CreateRole(ctx, &rbac.Role{Account: "acct-b", Name: "Viewer", Privileges: rbac.AllPrivileges()})
		rp, _ := s.CreateRole(ctx, &rbac.Role{Name: "Platform", Privileges: rbac.AllPrivileges()})
		m, err := s.CreateMember(ctx, &rbac.Member{Email: " Ann@Example.COM ", FirstName: "Ann", Scope: rbac.ScopeAccount, Account: "acct-a", RoleID: ra.ID})
		if err != nil {
			t.Fatal(err)
		}
		if m.Email != "ann@example.com" || m.ID == "" || m.Revision != 1 {
			t.Fatalf("CreateMember = %+v", m)
		}
		_, err = s.CreateMember(ctx, &rbac.Member{Email: "ANN@example.com", Scope: rbac.ScopeAdmin})
		wantField(t, err, rbac.ErrExists, "email")
		// Cross-account role: a member of acct-a may not hold acct-b's role.
		_, err = s.CreateMember(ctx, &rbac.Member{Email: "bob@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", RoleID: rb.ID})
		wantField(t, err, rbac.ErrInvalid, "role_id")
		_, err = s.CreateMember(ctx, &rbac.Member{Email: "bob@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", RoleID: "no-such-role"})
		wantField(t, err, rbac.ErrInvalid, "role_id")
		bob, err := s.CreateMember(ctx, &rbac.Member{Email: "bob@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", RoleID: rp.ID})
		if err != nil {
			t.Fatalf("platform role: %v", err)
		}
		sp, err := s.CreateMember(ctx, &rbac.Member{Email: "sp@example.com", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp-1", RoleID: rp.ID})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.MemberByEmail(ctx, "BOB@example.com")
		if err != nil || !reflect.DeepEqual(got, bob) {
			t.Fatalf("MemberByEmail = %+v, %v", got, err)
		}
		list, err := s.Members(ctx, "acct-a")
		if err != nil || len(list) != 2 || list[0].ID != m.ID || list[1].ID != bob.ID {
			t.Fatalf("Members(acct-a) = %d, %v", len(list), err)
		}
		if list, _ := s.Members(ctx, ""); len(list) != 1 || list[0].ID != sp.ID {
			t.Fatalf("Members(\"\") = %v", list)
		}
		if err := s.DeleteRole(ctx, ra.ID); !errors.Is(err, rbac.ErrInUse) {
			t.Fatalf("delete held role: %v, want ErrInUse", err)
		}
		// Update: email clash, role switch, stale revision.
		upd := *m
		upd.Email = "bob@example.com"
		_, err = s.UpdateMember(ctx, &upd)
		wantField(t, err, rbac.ErrExists, "email")
		upd.Email = "ann.new@example.com"
		upd.RoleID = rb.ID
		_, err = s.UpdateMember(ctx, &upd)
		wantField(t, err, rbac.ErrInvalid, "role_id")
		upd.RoleID = ""
		u, err := s.UpdateMember(ctx, &upd)
		if err != nil || u.Revision != 2 || u.Email != "ann.new@example.com" {
			t.Fatalf("UpdateMember = %+v, %v", u, err)
		}
		if _, err := s.MemberByEmail(ctx, "ann@example.com"); !errors.Is(err, rbac.ErrNotFound) {
			t.Fatalf("old email still found: %v", err)
		}
		if _, err := s.UpdateMember(ctx, &upd); !errors.Is(err, rbac.ErrConflict) {
			t.Fatalf("stale UpdateMember: %v", err)
		}
		if err := s.DeleteRole(ctx, ra.ID); err != nil {
			t.Fatalf("delete role no longer held: %v", err)
		}
		if err := s.DeleteMember(ctx, bob.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Member(ctx, bob.ID); !errors.Is(err, rbac.ErrNotFound) {
			t.Fatalf("deleted member: %v", err)
		}
		if _, err := s.CreateMember(ctx, &rbac.Member{Email: "bob@example.com", Scope: rbac.ScopeAdmin}); err != nil {
			t.Fatalf("email free again: %v", err)
		}
	})

	t.Run("Principal", func(t *testing.T) {
		s, _ := open(t)
		r, _ := s.CreateRole(ctx, &rbac.Role{Account: "acct-a", Name: "Viewer", Privileges: viewer})
		m, _ := s.CreateMember(ctx, &rbac.Member{Email: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", RoleID: r.ID})
		p, err := s.Principal(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Subject != "ann@example.com" || p.Scope != rbac.ScopeAccount || p.Account != "acct-a" || p.Privileges != viewer {
			t.Fatalf("Principal = %+v", p)
		}
		read := rbac.Request{Target: rbac.Target{Account: "acct-a"}, Entity: rbac.EntityInteraction, Action: rbac.ActionRead}
		if d := (rbac.Policy{}).Decide(p, read); d != rbac.Allow {
			t.Fatalf("read own interactions: %v", d)
		}
		other := read
		other.Account = "acct-b"
		if d := (rbac.Policy{}).Decide(p, other); d != rbac.DenyScope {
			t.Fatalf("read another account's interactions: %v", d)
		}
		// A role change applies to the next Principal.
		r.Privileges = rbac.Privileges{}
		if _, err := s.UpdateRole(ctx, r); err != nil {
			t.Fatal(err)
		}
		p, _ = s.Principal(ctx, m.ID)
		if d := (rbac.Policy{}).Decide(p, read); d != rbac.DenyPrivilege {
			t.Fatalf("after the role lost read: %v", d)
		}
		bare, _ := s.CreateMember(ctx, &rbac.Member{Email: "norole@example.com", Scope: rbac.ScopeAdmin})
		if p, _ := s.Principal(ctx, bare.ID); p.Privileges != (rbac.Privileges{}) {
			t.Fatalf("member without role has privileges: %+v", p.Privileges)
		}
	})

	t.Run("ConcurrentUniqueness", func(t *testing.T) {
		s, _ := open(t)
		if n := race(t, 16, func(int) error {
			_, err := s.CreateRole(ctx, &rbac.Role{Account: "acct-a", Name: "Same"})
			return err
		}, rbac.ErrExists); n != 1 {
			t.Fatalf("%d concurrent creations of one role name succeeded", n)
		}
		if n := race(t, 16, func(i int) error {
			_, err := s.CreateMember(ctx, &rbac.Member{Email: fmt.Sprintf("Same@Example.com%s", strings.Repeat(" ", i%3)), Scope: rbac.ScopeAdmin})
			return err
		}, rbac.ErrExists); n != 1 {
			t.Fatalf("%d concurrent creations of one email succeeded", n)
		}
		m, _ := s.MemberByEmail(ctx, "same@example.com")
		if n := race(t, 8, func(i int) error {
			u := *m
			u.FirstName = fmt.Sprint("n", i)
			_, err := s.UpdateMember(ctx, &u)
			return err
		}, rbac.ErrConflict); n != 1 {
			t.Fatalf("%d updates from one revision succeeded", n)
		}
	})

	t.Run("DeleteRoleRacesAssignment", func(t *testing.T) {
		s, _ := open(t)
		for i := range 10 {
			r, _ := s.CreateRole(ctx, &rbac.Role{Account: "acct-a", Name: fmt.Sprint("r", i)})
			var wg sync.WaitGroup
			var delErr, createErr error
			wg.Add(2)
			go func() { defer wg.Done(); delErr = s.DeleteRole(ctx, r.ID) }()
			go func() {
				defer wg.Done()
				_, createErr = s.CreateMember(ctx, &rbac.Member{Email: fmt.Sprintf("m%d@example.com", i), Scope: rbac.ScopeAccount, Account: "acct-a", RoleID: r.ID})
			}()
			wg.Wait()
			if delErr == nil && createErr == nil {
				t.Fatal("a role was deleted while a member was given it")
			}
			if delErr != nil && !errors.Is(delErr, rbac.ErrInUse) {
				t.Fatalf("DeleteRole: %v", delErr)
			}
			if createErr != nil && !errors.Is(createErr, rbac.ErrInvalid) {
				t.Fatalf("CreateMember: %v", createErr)
			}
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s, _ := open(t)
		_ = s.Close()
		if _, err := s.Members(ctx, "x"); !errors.Is(err, rbac.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	})

	t.Run("Passwords", func(t *testing.T) { testPasswords(t, nd) })
}

// RunKeyTests runs the API key suite against drivers made by nd (each fresh
// and empty; the suite closes them).
func RunKeyTests(t *testing.T, nd func(t *testing.T) rbac.KeyDriver) {
	ctx := context.Background()
	open := func(t *testing.T, o *rbac.KeyStoreOptions) (*rbac.KeyStore, *clock) {
		c := newClock()
		var opts rbac.KeyStoreOptions
		if o != nil {
			opts = *o
		}
		opts.Clock = c.Now
		s := rbac.NewKeyStore(nd(t), &opts)
		t.Cleanup(func() { _ = s.Close() })
		return s, c
	}
	acctKey := rbac.NewAPIKey{Name: "CRM sync", ServiceType: "insights", Account: "acct-a", ServiceProvider: "sp-1", CreatorEmail: "Ann@example.com"}

	t.Run("CreateShownOnceVerify", func(t *testing.T) {
		s, c := open(t, nil)
		ck, err := s.Create(ctx, acctKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		plain := ck.Secret.Reveal()
		if !strings.HasPrefix(plain, rbac.KeyPrefix) || len(plain) < 40 {
			t.Fatalf("generated secret has %d characters", len(plain))
		}
		if ck.Scope != rbac.ScopeAccount || ck.CreatorEmail != "ann@example.com" || !ck.CreatedAt.Equal(c.Now()) || !ck.ValidUntil.IsZero() {
			t.Fatalf("created key %+v", ck.APIKey)
		}
		if ck.Masked != plain[:4]+"XXXXXXXX"+plain[len(plain)-4:] {
			t.Fatalf("masked %q", ck.Masked)
		}
		// Afterwards the secret is nowhere: not in the stored key, not in
		// its JSON, not in a listing.
		stored, err := s.Key(ctx, ck.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*stored, ck.APIKey) {
			t.Fatalf("stored %+v\nwant   %+v", stored, ck.APIKey)
		}
		j, _ := json.Marshal(stored)
		if strings.Contains(string(j), plain) || strings.Contains(string(j), plain[4:len(plain)-4]) {
			t.Fatalf("stored key shows the secret: %s", j)
		}
		if sj, _ := json.Marshal(ck); strings.Contains(string(sj), plain) {
			t.Fatalf("CreatedKey JSON shows the secret in clear: %s", sj)
		}
		if fmt.Sprint(ck) == "" || strings.Contains(fmt.Sprintf("%v %+v", ck, ck), plain) {
			t.Fatal("printing a CreatedKey reveals the secret")
		}
		p, err := s.VerifyKey(ctx, ck.Secret)
		if err != nil || p.Subject != "key:"+ck.ID || p.Account != "acct-a" || p.ServiceProvider != "sp-1" ||
			p.Scope != rbac.ScopeAccount || p.Privileges != rbac.DefaultServiceTypes()["insights"] {
			t.Fatalf("VerifyKey = %+v, %v", p, err)
		}
		for _, bad := range []string{"", plain + "x", plain[:len(plain)-1], strings.ToUpper(plain), strings.Repeat("a", 300)} {
			if _, err := s.VerifyKey(ctx, secret.String(bad)); !errors.Is(err, rbac.ErrUnknownKey) || !errors.Is(err, rbac.ErrInvalidKey) {
				t.Fatalf("VerifyKey(wrong secret) = %v", err)
			}
		}
	})

	t.Run("Validation", func(t *testing.T) {
		s, c := open(t, nil)
		for _, tc := range []struct {
			name  string
			edit  func(*rbac.NewAPIKey)
			field string
		}{
			{"no name", func(k *rbac.NewAPIKey) { k.Name = " " }, "name"},
			{"unknown service type", func(k *rbac.NewAPIKey) { k.ServiceType = "telepathy" }, "service_type"},
			{"no service type", func(k *rbac.NewAPIKey) { k.ServiceType = "" }, "service_type"},
			{"account key without account", func(k *rbac.NewAPIKey) { k.Account = "" }, "account_sid"},
			{"admin key with account", func(k *rbac.NewAPIKey) { k.Scope = rbac.ScopeAdmin }, "scope"},
			{"no creator", func(k *rbac.NewAPIKey) { k.CreatorEmail = "" }, "creator_email"},
			{"bad creator", func(k *rbac.NewAPIKey) { k.CreatorEmail = "ann" }, "creator_email"},
			{"already expired", func(k *rbac.NewAPIKey) { k.ValidUntil = c.Now().Add(-time.Second) }, "valid_until"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				nk := acctKey
				tc.edit(&nk)
				_, err := s.Create(ctx, nk, nil)
				wantField(t, err, rbac.ErrInvalid, tc.field)
			})
		}
	})

	t.Run("Bootstrap", func(t *testing.T) { testBootstrap(t, open) })

	t.Run("UniqueNamePerOwner", func(t *testing.T) {
		s, _ := open(t, nil)
		if _, err := s.Create(ctx, acctKey, nil); err != nil {
			t.Fatal(err)
		}
		_, err := s.Create(ctx, acctKey, nil)
		wantField(t, err, rbac.ErrExists, "name")
		other := acctKey
		other.Account = "acct-b"
		if _, err := s.Create(ctx, other, nil); err != nil {
			t.Fatalf("same name, other account: %v", err)
		}
		if n := race(t, 16, func(int) error {
			nk := acctKey
			nk.Name = "raced"
			_, err := s.Create(ctx, nk, nil)
			return err
		}, rbac.ErrExists); n != 1 {
			t.Fatalf("%d concurrent creations of one key name succeeded", n)
		}
		list, err := s.Keys(ctx, rbac.Owner{Scope: rbac.ScopeAccount, ServiceProvider: "sp-1", Account: "acct-a"})
		if err != nil || len(list) != 2 || list[0].Name != "CRM sync" || list[1].Name != "raced" {
			t.Fatalf("Keys = %d, %v", len(list), err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		s, c := open(t, nil)
		nk := acctKey
		nk.ValidUntil = c.Now().Add(time.Hour)
		ck, err := s.Create(ctx, nk, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			after time.Duration
			want  error
		}{
			{0, nil},
			{59*time.Minute + 59*time.Second, nil},
			{time.Second, rbac.ErrKeyExpired}, // exactly at ValidUntil
			{24 * time.Hour, rbac.ErrKeyExpired},
		} {
			c.Add(tc.after)
			_, err := s.VerifyKey(ctx, ck.Secret)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("at %v: VerifyKey = %v, want %v", c.Now(), err, tc.want)
			}
			if err != nil && !errors.Is(err, rbac.ErrInvalidKey) {
				t.Fatalf("expiry does not wrap ErrInvalidKey: %v", err)
			}
		}
		d, dc := open(t, &rbac.KeyStoreOptions{DefaultValidity: 90 * 24 * time.Hour})
		dk, err := d.Create(ctx, acctKey, nil)
		if err != nil || !dk.ValidUntil.Equal(dc.Now().Add(90*24*time.Hour)) {
			t.Fatalf("default validity: %v, %v", dk.ValidUntil, err)
		}
	})

	t.Run("RevokeAndDelete", func(t *testing.T) {
		s, c := open(t, nil)
		a, _ := s.Create(ctx, acctKey, nil)
		nk := acctKey
		nk.Name = "second"
		b, _ := s.Create(ctx, nk, nil)
		c.Add(time.Minute)
		if err := s.Revoke(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyKey(ctx, a.Secret); !errors.Is(err, rbac.ErrKeyRevoked) {
			t.Fatalf("VerifyKey after Revoke = %v", err)
		}
		k, err := s.Key(ctx, a.ID)
		if err != nil || !k.RevokedAt.Equal(c.Now()) {
			t.Fatalf("revoked key %+v, %v", k, err)
		}
		c.Add(time.Minute)
		_ = s.Revoke(ctx, a.ID) // again: keeps the first time
		if k, _ := s.Key(ctx, a.ID); !k.RevokedAt.Equal(c.Now().Add(-time.Minute)) {
			t.Fatalf("second Revoke moved RevokedAt to %v", k.RevokedAt)
		}
		if _, err := s.VerifyKey(ctx, b.Secret); err != nil {
			t.Fatalf("revoking one key broke another: %v", err)
		}
		if err := s.Delete(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyKey(ctx, b.Secret); !errors.Is(err, rbac.ErrUnknownKey) {
			t.Fatalf("the next request after Delete: %v, want ErrUnknownKey", err)
		}
		if _, err := s.Key(ctx, b.ID); !errors.Is(err, rbac.ErrNotFound) {
			t.Fatalf("deleted key: %v", err)
		}
		if err := s.Delete(ctx, b.ID); !errors.Is(err, rbac.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		if err := s.Revoke(ctx, "nope"); !errors.Is(err, rbac.ErrNotFound) {
			t.Fatalf("revoke unknown: %v", err)
		}
	})

	t.Run("Creator", func(t *testing.T) {
		s, _ := open(t, nil)
		all := rbac.AllPrivileges()
		var readInteractions rbac.Privileges
		readInteractions.Grant(rbac.EntityInteraction, rbac.ActionRead)
		// every entity action, none of the advanced privileges: exactly
		// what the "api" service type grants
		noAdvanced := all
		noAdvanced.Advanced = 0
		acctA := &rbac.Principal{Subject: "ann@example.com", Scope: rbac.ScopeAccount, ServiceProvider: "sp-1", Account: "acct-a", Privileges: all}
		acctExact := &rbac.Principal{Subject: "eve@example.com", Scope: rbac.ScopeAccount, ServiceProvider: "sp-1", Account: "acct-a", Privileges: noAdvanced}
		acctReader := &rbac.Principal{Subject: "rita@example.com", Scope: rbac.ScopeAccount, ServiceProvider: "sp-1", Account: "acct-a", Privileges: readInteractions}
		acctNone := &rbac.Principal{Subject: "nick@example.com", Scope: rbac.ScopeAccount, ServiceProvider: "sp-1", Account: "acct-a"}
		sp1 := &rbac.Principal{Subject: "sp@example.com", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp-1", Privileges: all}
		spReader := &rbac.Principal{Subject: "spr@example.com", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp-1", Privileges: readInteractions}
		admin := &rbac.Principal{Subject: "root@example.com", Scope: rbac.ScopeAdmin, Privileges: all}
		adminNone := &rbac.Principal{Subject: "noroot@example.com", Scope: rbac.ScopeAdmin}
		for i, tc := range []struct {
			name    string
			creator *rbac.Principal
			key     rbac.NewAPIKey
			want    error
		}{
			{"account member, own account", acctA, rbac.NewAPIKey{ServiceType: "api", Account: "acct-a", ServiceProvider: "sp-1"}, nil},
			{"account member, other account", acctA, rbac.NewAPIKey{ServiceType: "api", Account: "acct-b", ServiceProvider: "sp-1"}, rbac.ErrForbidden},
			{"account member, provider key", acctA, rbac.NewAPIKey{ServiceType: "api", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp-1"}, rbac.ErrForbidden},
			{"account member, admin key", acctA, rbac.NewAPIKey{ServiceType: "api", Scope: rbac.ScopeAdmin}, rbac.ErrForbidden},
			{"provider, its account", sp1, rbac.NewAPIKey{ServiceType: "api", Account: "acct-b", ServiceProvider: "sp-1"}, nil},
			{"provider, other provider's account", sp1, rbac.NewAPIKey{ServiceType: "api", Account: "acct-c", ServiceProvider: "sp-2"}, rbac.ErrForbidden},
			{"provider, own provider key", sp1, rbac.NewAPIKey{ServiceType: "api", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp-1"}, nil},
			{"provider, admin key", sp1, rbac.NewAPIKey{ServiceType: "api", Scope: rbac.ScopeAdmin}, rbac.ErrForbidden},
			{"admin, any account", admin, rbac.NewAPIKey{ServiceType: "api", Account: "acct-z"}, nil},
			{"admin, admin key", admin, rbac.NewAPIKey{ServiceType: "api", Scope: rbac.ScopeAdmin}, nil},
			// The service type's privileges must be within the creator's.
			{"member holding exactly the api privileges", acctExact, rbac.NewAPIKey{ServiceType: "api", Account: "acct-a", ServiceProvider: "sp-1"}, nil},
			{"member without insights metrics, insights key", acctExact, rbac.NewAPIKey{ServiceType: "insights", Account: "acct-a", ServiceProvider: "sp-1"}, rbac.ErrForbidden},
			{"read-only member, api key", acctReader, rbac.NewAPIKey{ServiceType: "api", Account: "acct-a", ServiceProvider: "sp-1"}, rbac.ErrForbidden},
			{"read-only member, webhook key", acctReader, rbac.NewAPIKey{ServiceType: "webhook", Account: "acct-a", ServiceProvider: "sp-1"}, nil},
			{"read-only member, sip key", acctReader, rbac.NewAPIKey{ServiceType: "sip", Account: "acct-a", ServiceProvider: "sp-1"}, rbac.ErrForbidden},
			{"member without privileges, webhook key", acctNone, rbac.NewAPIKey{ServiceType: "webhook", Account: "acct-a", ServiceProvider: "sp-1"}, rbac.ErrForbidden},
			{"read-only provider, api key for its account", spReader, rbac.NewAPIKey{ServiceType: "api", Account: "acct-b", ServiceProvider: "sp-1"}, rbac.ErrForbidden},
			{"admin without privileges, api key", adminNone, rbac.NewAPIKey{ServiceType: "api", Account: "acct-z"}, rbac.ErrForbidden},
			{"admin, insights key", admin, rbac.NewAPIKey{ServiceType: "insights", Account: "acct-z"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.key.Name = fmt.Sprint("key ", i)
				ck, err := s.Create(ctx, tc.key, tc.creator)
				if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Fatalf("Create = %v, want %v", err, tc.want)
				}
				if err == nil && ck.CreatorEmail != tc.creator.Subject {
					t.Fatalf("creator email %q, want %q", ck.CreatorEmail, tc.creator.Subject)
				}
			})
		}
		t.Run("refusal names the service type and the lacking privilege", func(t *testing.T) {
			var billing rbac.Privileges
			billing.Grant(rbac.EntityBilling, rbac.ActionRead)
			s, _ := open(t, &rbac.KeyStoreOptions{ServiceTypes: map[string]rbac.Privileges{"billing-admin": *billing.Grant(rbac.EntityBilling, rbac.ActionDelete)}})
			reader := *acctReader
			reader.Privileges.Grant(rbac.EntityBilling, rbac.ActionRead)
			_, err := s.Create(ctx, rbac.NewAPIKey{Name: "b", ServiceType: "billing-admin", Account: "acct-a"}, &reader)
			if !errors.Is(err, rbac.ErrForbidden) || !strings.Contains(err.Error(), `"billing-admin"`) || !strings.Contains(err.Error(), "delete billing") {
				t.Fatalf("Create = %v, want ErrForbidden naming \"billing-admin\" and delete billing", err)
			}
			if keys, _ := s.Keys(ctx, rbac.Owner{Scope: rbac.ScopeAccount, Account: "acct-a"}); len(keys) != 0 {
				t.Fatalf("a refused key was stored: %+v", keys)
			}
		})
	})

	t.Run("CrossAccount", func(t *testing.T) {
		s, _ := open(t, nil)
		ck, _ := s.Create(ctx, acctKey, nil)
		p, err := s.VerifyKey(ctx, ck.Secret)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			target rbac.Target
			want   rbac.Decision
		}{
			{"own account", rbac.Target{Account: "acct-a", ServiceProvider: "sp-1"}, rbac.Allow},
			{"other account", rbac.Target{Account: "acct-b", ServiceProvider: "sp-1"}, rbac.DenyScope},
			{"its service provider as a whole", rbac.Target{ServiceProvider: "sp-1"}, rbac.DenyScope},
			{"the platform", rbac.Target{}, rbac.DenyScope},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := rbac.Request{Target: tc.target, Entity: rbac.EntityInteraction, Action: rbac.ActionRead}
				if d := (rbac.Policy{}).Decide(p, r); d != tc.want {
					t.Fatalf("Decide = %v, want %v", d, tc.want)
				}
			})
		}
	})

	t.Run("Pepper", func(t *testing.T) {
		d := nd(t)
		a := rbac.NewKeyStore(d, &rbac.KeyStoreOptions{Pepper: "pepper-one-0123456789"})
		b := rbac.NewKeyStore(d, &rbac.KeyStoreOptions{Pepper: "pepper-two-0123456789"})
		t.Cleanup(func() { _ = a.Close() })
		ck, err := a.Create(ctx, acctKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.VerifyKey(ctx, ck.Secret); !errors.Is(err, rbac.ErrUnknownKey) {
			t.Fatalf("a key hashed with another pepper was found: %v", err)
		}
		if ck.Hash == rbac.NewKeyStore(d, nil).HashSecret(ck.Secret.Reveal()) {
			t.Fatal("the pepper does not change the hash")
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s, _ := open(t, nil)
		_ = s.Close()
		if _, err := s.VerifyKey(ctx, "anything-at-all-12345"); !errors.Is(err, rbac.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	})
}
