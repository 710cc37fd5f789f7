package tenancy_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/tenancy"
)

func TestSIPAccessStoredForm(t *testing.T) {
	in := tenancy.SIPAccess{
		Users:     []tenancy.SIPUser{{Username: "alice", Password: "alice-secret-password"}},
		Allowlist: []string{"203.0.113.0/24", "2001:db8::1"},
	}
	b, err := in.MarshalStored()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "alice-secret-password") || !strings.Contains(string(b), `"stored_format":1`) {
		t.Fatalf("stored form lacks the plain password or the marker: %s", b)
	}
	var out tenancy.SIPAccess
	if err := out.UnmarshalStored(b); err != nil {
		t.Fatal(err)
	}
	if u, ok := out.User("alice"); !ok || u.Password.Reveal() != "alice-secret-password" || len(out.Allowlist) != 2 {
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
