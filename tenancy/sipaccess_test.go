package tenancy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/tenancy"
)

func TestSIPAccessStoredForm(t *testing.T) {
	in := tenancy.SIPAccess{
		Users:      []tenancy.SIPUser{{Username: "alice", Password: "alice-secret-password"}},
		Allowlist:  []string{"203.0.113.0/24", "2001:db8::1"},
		RequireTLS: true, RequireSRTP: true,
	}
	if _, err := in.MarshalStored(); !errors.Is(err, tenancy.ErrClearPassword) {
		t.Fatalf("MarshalStored with a clear password = %v, want ErrClearPassword", err)
	}
	hashed := in
	hashed.Users = slices.Clone(in.Users)
	hashed.HashPasswords("sip.example.com")
	b, err := hashed.MarshalStored()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "alice-secret-password") || strings.Contains(string(b), `"password"`) || !strings.Contains(string(b), `"stored_format":2`) {
		t.Fatalf("stored form holds a password, or lacks the marker: %s", b)
	}
	var out tenancy.SIPAccess
	if err := out.UnmarshalStored(b); err != nil {
		t.Fatal(err)
	}
	want := tenancy.NewDigestHA1("alice", "sip.example.com", "alice-secret-password")
	if u, ok := out.User("alice"); !ok || u.Password != "" || !u.HA1.Equal(want) || len(out.Allowlist) != 2 || !out.RequireTLS || !out.RequireSRTP {
		t.Fatalf("round trip: %+v", out)
	}

	shown, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(shown), "alice-secret-password") {
		t.Fatalf("JSON (show-back) form holds the plain password: %s", shown)
	}
	if err := out.UnmarshalStored(shown); !errors.Is(err, tenancy.ErrNotStoredForm) {
		t.Fatalf("UnmarshalStored(show-back JSON) = %v, want ErrNotStoredForm", err)
	}
	if err := out.UnmarshalStored([]byte(`{"stored_format":7}`)); err == nil {
		t.Fatal("unknown stored format accepted")
	}
	if err := out.UnmarshalStored([]byte(`{"stored_format":2,"users":[{"username":"bob"}]}`)); err == nil {
		t.Fatal("a stored user without digests accepted")
	}
	// The first format held passwords in clear: read for migration.
	if err := out.UnmarshalStored([]byte(`{"stored_format":1,"users":[{"username":"bob","password":"bob-old-password"}]}`)); err != nil {
		t.Fatal(err)
	}
	if u, _ := out.User("bob"); u.Password.Reveal() != "bob-old-password" {
		t.Fatalf("format 1: %+v", u)
	}
}

// TestDigestHA1 checks the digests against Python's hashlib (an independent
// implementation), for RFC 7616 §3.9.1's user.
func TestDigestHA1(t *testing.T) {
	h := tenancy.NewDigestHA1("Mufasa", "http-auth@example.org", "Circle of Life")
	for _, tc := range []struct{ alg, want string }{
		{"MD5", "3d78807defe7de2157e2b0b6573a855f"},
		{"sha-256", "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"},
		{"SHA-512-256", "fb174f5c3c7802721517cae13b98e2b8dae2e0118cb705d94ee29946319204ce"},
	} {
		if got, ok := h.For(tc.alg); !ok || got.Reveal() != tc.want {
			t.Errorf("HA1 %s = %q, %v; want %s", tc.alg, got.Reveal(), ok, tc.want)
		}
	}
	if _, ok := h.For("SHA-1"); ok {
		t.Error("For accepted an algorithm it does not hold")
	}
	if h.Realm != "http-auth@example.org" || h.Equal(tenancy.NewDigestHA1("Mufasa", "other.example.org", "Circle of Life")) {
		t.Error("digests of another realm compare equal")
	}
}

func TestSIPAccessValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sip    tenancy.SIPAccess
		fields []string // empty: valid
	}{
		{"empty", tenancy.SIPAccess{}, nil},
		{"valid", tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "sbc-1.eu_west", Password: "12345678"}},
			Allowlist: []string{"203.0.113.7", "10.1.*.*", "192.0.2.0/24", "10.0.0.1-10.0.0.9", "2001:DB8::/32"}}, nil},
		{"user chars", tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "a@b", Password: "12345678"}}}, []string{"sip.users[0].username"}},
		{"long user", tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: strings.Repeat("u", 65), Password: "12345678"}}}, []string{"sip.users[0].username"}},
		{"password control", tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "u", Password: "1234\n5678"}}}, []string{"sip.users[0].password"}},
		{"password short", tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "u", Password: "1234567"}}}, []string{"sip.users[0].password"}},
		{"several", tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "", Password: ""}}, Allowlist: []string{"ok.not"}},
			[]string{"sip.users[0].username", "sip.users[0].password", "sip.allowlist[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &tenancy.Account{Name: "x", SIP: tc.sip}
			a.Normalize()
			fes := tenancy.FieldErrors(a.Validate())
			var got []string
			for _, fe := range fes {
				got = append(got, fe.Field)
				if strings.HasSuffix(fe.Field, ".password") && fe.Value != "" {
					t.Errorf("%s: the error quotes the password", fe.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("fields at fault %q, want %q", got, tc.fields)
			}
		})
	}
}

func TestBucketURLValidation(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"s3://recordings?region=eu-west-1", true},
		{"gs://recordings", true},
		{"azblob://container", true},
		{"file:///var/lib/voicegw/bucket", true},
		{"mem://", true},
		{"s3://", false},
		{"file://relative", false},
		{"file:///", false},
		{"https://bucket.example.com", false},
		{"s3://key:secret@bucket", false},
		{"::", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			a := &tenancy.Account{Name: "x", Recording: tenancy.RecordingConfig{Enabled: true, BucketURL: tc.url}}
			a.Normalize()
			err := a.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if fes := tenancy.FieldErrors(err); len(fes) != 1 || fes[0].Field != "recording.bucket_url" || strings.Contains(err.Error(), "secret") {
					t.Fatalf("error %v", err)
				}
			}
		})
	}
}

// The digests a store keeps of a SIP password, for a digest server (package
// sip's Credential.HA1 takes them by algorithm).
func ExampleNewDigestHA1() {
	acct := &tenancy.Account{Name: "Acme", SIPRealm: "sip.acme.example"}
	h := tenancy.NewDigestHA1("alice", acct.DigestRealm(), "alice-secret-password")
	md5, _ := h.For(tenancy.DigestMD5)
	fmt.Println(h.Realm, len(md5.Reveal()), md5) // printed, a digest is redacted
	// Output:
	// sip.acme.example 32 [REDACTED]
}
