package rbac_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/rbac/secret"
)

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"correct horse battery", true},
		{"ünïcødé-pässwörd", true},
		{"eleven-char", false},          // 11 characters
		{"aaaaaaaaaaaaaaaaaaaa", false}, // 1 distinct character
		{"abababcdabababcd", false},     // 4 distinct characters
		{"tab\tinside-a-password", false},
		{strings.Repeat("abcdefgh", 33), false}, // 264 bytes
		{"\xff\xfe invalid utf-8 bytes", false},
	} {
		err := rbac.CheckPassword(secret.String(tc.pw))
		if (err == nil) != tc.ok {
			t.Errorf("CheckPassword(%q) = %v, want ok=%v", tc.pw, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, rbac.ErrWeakPassword) || !errors.Is(err, rbac.ErrInvalid) || strings.Contains(err.Error(), tc.pw)) {
			t.Errorf("CheckPassword(%q) = %v: want ErrWeakPassword and ErrInvalid without the password", tc.pw, err)
		}
	}
}

func TestHashPasswordDefaults(t *testing.T) {
	h := rbac.HashPassword("correct horse battery", rbac.PasswordParams{})
	s := h.String()
	if !strings.HasPrefix(s, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: want OWASP's argon2id parameters m=19456,t=2,p=1", s)
	}
	back, err := rbac.ParsePasswordHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Verify("correct horse battery") || back.Verify("correct horse batterY") {
		t.Fatal("Verify does not tell the password from another")
	}
	if h2 := rbac.HashPassword("correct horse battery", rbac.PasswordParams{}); bytes.Equal(h2.Salt, h.Salt) {
		t.Fatal("two hashes share a salt")
	}
}

func TestParsePasswordHashRefuses(t *testing.T) {
	good := rbac.HashPassword("correct horse battery", rbac.PasswordParams{Memory: 64, Time: 1}).String()
	parts := strings.Split(good, "$")
	for name, s := range map[string]string{
		"empty":             "",
		"argon2i":           strings.Replace(good, "argon2id", "argon2i", 1),
		"version":           strings.Replace(good, "v=19", "v=16", 1),
		"1 TiB of memory":   strings.Replace(good, "m=64", "m=1073741824", 1),
		"a thousand passes": strings.Replace(good, "t=1,", "t=1000,", 1),
		"no lanes":          strings.Replace(good, "p=1", "p=0", 1),
		"leading zero":      strings.Replace(good, "m=64", "m=064", 1),
		"params reordered":  strings.Replace(good, "m=64,t=1", "t=1,m=64", 1),
		"padded salt":       strings.Join(append(parts[:4:4], parts[4]+"==", parts[5]), "$"),
		"short hash":        strings.Join(append(parts[:5:5], "AAAA"), "$"),
		"extra field":       good + "$x",
		"bcrypt":            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
	} {
		_, err := rbac.ParsePasswordHash(s)
		if !errors.Is(err, rbac.ErrInvalidHash) {
			t.Errorf("%s: ParsePasswordHash(%q) = %v, want ErrInvalidHash", name, s, err)
		}
		if err != nil && len(s) > 20 && strings.Contains(err.Error(), s[len(s)-20:]) {
			t.Errorf("%s: the error %q quotes the hash", name, err)
		}
	}
}

// FuzzParsePasswordHash: what parses prints back as the same string (the
// form is canonical) and parses again to the same value.
func FuzzParsePasswordHash(f *testing.F) {
	f.Add(rbac.HashPassword("correct horse battery", rbac.PasswordParams{Memory: 64, Time: 1}).String())
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=10,t=1,p=1$00000000000$0000000000\r0000000000000") // the decoder skips CR
	f.Add("$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := rbac.ParsePasswordHash(s)
		if err != nil {
			if !errors.Is(err, rbac.ErrInvalidHash) {
				t.Fatalf("ParsePasswordHash(%q) = %v, not ErrInvalidHash", s, err)
			}
			return
		}
		if got := h.String(); got != s {
			t.Fatalf("ParsePasswordHash(%q).String() = %q", s, got)
		}
		again, err := rbac.ParsePasswordHash(h.String())
		if err != nil || again.Memory != h.Memory || again.Time != h.Time || again.Threads != h.Threads ||
			!bytes.Equal(again.Salt, h.Salt) || !bytes.Equal(again.Key, h.Key) {
			t.Fatalf("round trip of %q: %+v, %v", s, again, err)
		}
	})
}

// A store whose driver keeps no passwords says so instead of refusing
// every password as wrong.
func TestPasswordsNeedAPasswordDriver(t *testing.T) {
	s := rbac.NewMemberStore(membersOnly{memstore.NewDriver()}, nil)
	defer s.Close()
	ctx := context.Background()
	m, err := s.CreateMember(ctx, &rbac.Member{Email: "ann@example.com", Scope: rbac.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, m.ID, "correct horse battery"); !errors.Is(err, rbac.ErrNoPasswords) {
		t.Fatalf("SetPassword = %v, want ErrNoPasswords", err)
	}
	if _, err := s.VerifyPassword(ctx, m.Email, "correct horse battery"); !errors.Is(err, rbac.ErrNoPasswords) {
		t.Fatalf("VerifyPassword = %v, want ErrNoPasswords", err)
	}
}

// membersOnly hides the driver's PasswordDriver methods.
type membersOnly struct{ rbac.MemberDriver }
