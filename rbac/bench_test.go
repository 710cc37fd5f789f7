package rbac_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/rbac/sqlitestore"
)

var sinkDecision rbac.Decision

// BenchmarkDecide measures one authorization check through the Authorizer
// interface (the way callers hold it).
func BenchmarkDecide(b *testing.B) {
	var privs rbac.Privileges
	privs.Grant(rbac.EntityInteraction, rbac.ActionRead).Grant(rbac.EntityUsage, rbac.ActionRead)
	p := &rbac.Principal{Subject: "key:1", Scope: rbac.ScopeAccount, ServiceProvider: "sp-1",
		Account: "2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4", Privileges: privs}
	var az rbac.Authorizer = rbac.Policy{}
	for _, bc := range []struct {
		name string
		r    rbac.Request
		want rbac.Decision
	}{
		{"allow", rbac.Request{Target: rbac.Target{ServiceProvider: "sp-1", Account: "2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4"}, Entity: rbac.EntityInteraction, Action: rbac.ActionRead}, rbac.Allow},
		{"deny-scope", rbac.Request{Target: rbac.Target{ServiceProvider: "sp-1", Account: "2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c5"}, Entity: rbac.EntityInteraction, Action: rbac.ActionRead}, rbac.DenyScope},
		{"deny-privilege", rbac.Request{Target: rbac.Target{ServiceProvider: "sp-1", Account: "2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4"}, Entity: rbac.EntityBilling, Action: rbac.ActionUpdate}, rbac.DenyPrivilege},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkDecision = az.Decide(p, bc.r)
			}
			if sinkDecision != bc.want {
				b.Fatalf("Decide = %v, want %v", sinkDecision, bc.want)
			}
		})
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	p := &rbac.Principal{Scope: rbac.ScopeAccount, Account: "acct-a", Privileges: rbac.AllPrivileges()}
	var az rbac.Authorizer = rbac.Policy{}
	r := rbac.Request{Target: rbac.Target{Account: "acct-a"}, Entity: rbac.EntityPhone, Action: rbac.ActionCreate}
	if n := testing.AllocsPerRun(1000, func() { sinkDecision = az.Decide(p, r) }); n != 0 {
		t.Fatalf("Decide allocates %v times per call", n)
	}
}

// BenchmarkKeyLookup measures KeyStore.VerifyKey of a valid key among
// 1,000 (the check of every request of the Insights API), in memory and in
// SQLite (a file in WAL mode).
func BenchmarkKeyLookup(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		open func(b *testing.B) rbac.KeyDriver
	}{
		{"memory", func(*testing.B) rbac.KeyDriver { return memstore.NewDriver() }},
		{"sqlite", func(b *testing.B) rbac.KeyDriver {
			d, err := sqlitestore.OpenDriver(ctx, filepath.Join(b.TempDir(), "rbac.db"))
			if err != nil {
				b.Fatal(err)
			}
			return d
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := rbac.NewKeyStore(bc.open(b), nil)
			defer s.Close()
			var secret secret.String
			for i := range 1000 {
				ck, err := s.Create(ctx, rbac.NewAPIKey{Name: "k" + string(rune('a'+i%26)) + itoa(i), ServiceType: "insights",
					Account: "acct-" + itoa(i%50), CreatorEmail: "ann@example.com"}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if i == 500 {
					secret = ck.Secret
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.VerifyKey(ctx, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// BenchmarkVerifyPassword: one sign-in check with the default Argon2id
// parameters (19 MiB, 2 passes, 1 lane): what a member's sign-in costs the
// gateway, and a guesser per attempt.
func BenchmarkVerifyPassword(b *testing.B) {
	ctx := context.Background()
	s := memstore.NewMemberStore(nil)
	defer s.Close()
	m, err := s.CreateMember(ctx, &rbac.Member{Email: "ann@example.com", Scope: rbac.ScopeAdmin})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SetPassword(ctx, m.ID, "correct horse battery"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.VerifyPassword(ctx, "ann@example.com", "correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}
