package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
)

// testPasswords checks a driver's rbac.PasswordDriver through MemberStore:
// hashes kept per member, never in a Member, gone with the member. A driver
// that does not implement it is skipped with a message (its members cannot
// sign in with a password).
func testPasswords(t *testing.T, nd func(t *testing.T) rbac.MemberDriver) {
	ctx := context.Background()
	d := nd(t)
	pd, ok := d.(rbac.PasswordDriver)
	if !ok {
		_ = d.Close()
		t.Skipf("%T does not implement rbac.PasswordDriver: its members cannot sign in with a password", d)
	}
	// Cheap parameters: the suite checks the driver, not Argon2id's cost.
	s := rbac.NewMemberStore(d, &rbac.StoreOptions{Passwords: rbac.PasswordParams{Memory: 64, Time: 1}})
	t.Cleanup(func() { _ = s.Close() })
	ann, err := s.CreateMember(ctx, &rbac.Member{Email: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a"})
	if err != nil {
		t.Fatal(err)
	}
	const pw = secret.String("correct horse battery")

	if _, err := s.VerifyPassword(ctx, ann.Email, pw); !errors.Is(err, rbac.ErrWrongPassword) {
		t.Fatalf("VerifyPassword before any password = %v, want ErrWrongPassword", err)
	}
	if has, err := s.HasPassword(ctx, ann.ID); err != nil || has {
		t.Fatalf("HasPassword before = %v, %v", has, err)
	}
	if err := s.SetPassword(ctx, "no-such-member", pw); !errors.Is(err, rbac.ErrNotFound) {
		t.Fatalf("SetPassword of a missing member = %v, want ErrNotFound", err)
	}
	if _, err := pd.PasswordHash(ctx, "no-such-member"); !errors.Is(err, rbac.ErrNotFound) {
		t.Fatalf("PasswordHash of a missing member = %v, want ErrNotFound", err)
	}
	err = s.SetPassword(ctx, ann.ID, "short1")
	wantField(t, err, rbac.ErrWeakPassword, "password")
	if strings.Contains(err.Error(), "short1") {
		t.Fatalf("the refusal %q holds the password", err)
	}
	if err := s.SetPassword(ctx, ann.ID, pw); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	stored, err := pd.PasswordHash(ctx, ann.ID)
	if err != nil || !strings.HasPrefix(stored, "$argon2id$v=19$") || strings.Contains(stored, pw.Reveal()) {
		t.Fatalf("stored hash = %q, %v; want an argon2id PHC string", stored, err)
	}
	if _, err := rbac.ParsePasswordHash(stored); err != nil {
		t.Fatalf("stored hash does not parse: %v", err)
	}
	got, err := s.VerifyPassword(ctx, "  ANN@example.com ", pw)
	if err != nil || got.ID != ann.ID {
		t.Fatalf("VerifyPassword = %v, %v; want Ann", got, err)
	}
	for _, tc := range []struct{ email, pw string }{
		{ann.Email, "correct horse battery "},
		{ann.Email, ""},
		{"bob@example.com", pw.Reveal()},
	} {
		if m, err := s.VerifyPassword(ctx, tc.email, secret.String(tc.pw)); !errors.Is(err, rbac.ErrWrongPassword) || m != nil {
			t.Fatalf("VerifyPassword(%q, wrong) = %v, %v; want ErrWrongPassword", tc.email, m, err)
		}
	}
	// The member as read carries no hash, in Go or JSON.
	m, _ := s.Member(ctx, ann.ID)
	b, _ := json.Marshal(m)
	if strings.Contains(string(b), "argon2") || strings.Contains(string(b), "password") {
		t.Fatalf("member JSON %s carries the password", b)
	}
	// An update of the member keeps the password.
	m.FirstName = "Ann"
	m.Email = "ann.b@example.com"
	if _, err := s.UpdateMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyPassword(ctx, "ann.b@example.com", pw); err != nil {
		t.Fatalf("after an update of the member: %v", err)
	}
	// A new password replaces the old one.
	if err := s.SetPassword(ctx, ann.ID, "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyPassword(ctx, "ann.b@example.com", pw); !errors.Is(err, rbac.ErrWrongPassword) {
		t.Fatalf("old password after a change = %v", err)
	}
	// A hash made with other parameters still verifies.
	if err := pd.SetPasswordHash(ctx, ann.ID, rbac.HashPassword("params changed since", rbac.PasswordParams{Memory: 32, Time: 3}).String()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyPassword(ctx, "ann.b@example.com", "params changed since"); err != nil {
		t.Fatalf("hash of other parameters: %v", err)
	}
	// Removed: no sign-in.
	if err := s.RemovePassword(ctx, ann.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyPassword(ctx, "ann.b@example.com", "params changed since"); !errors.Is(err, rbac.ErrWrongPassword) {
		t.Fatalf("after RemovePassword = %v", err)
	}
	// Deleted with the member: a new member with the same email has none.
	if err := s.SetPassword(ctx, ann.ID, pw); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMember(ctx, ann.ID); err != nil {
		t.Fatal(err)
	}
	again, err := s.CreateMember(ctx, &rbac.Member{Email: "ann.b@example.com", Scope: rbac.ScopeAccount, Account: "acct-a"})
	if err != nil {
		t.Fatal(err)
	}
	if has, err := s.HasPassword(ctx, again.ID); err != nil || has {
		t.Fatalf("a new member with a deleted member's email has a password: %v, %v", has, err)
	}
	if _, err := s.VerifyPassword(ctx, "ann.b@example.com", pw); !errors.Is(err, rbac.ErrWrongPassword) {
		t.Fatalf("deleted member's password = %v", err)
	}
}
