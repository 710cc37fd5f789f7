package rbac_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/voicegw/voicegw/rbac"
)

// FuzzPrivilegesJSON: whatever a role's privileges JSON decodes to encodes
// to one canonical form, which decodes to the same value; what does not
// decode is either not JSON of that shape or an ErrInvalid naming the
// unknown name.
func FuzzPrivilegesJSON(f *testing.F) {
	for _, s := range []string{
		`{"entities":{"organization":["read","update"],"template":["create"]},"advanced":["publish_to_production","change_stt_processor"]}`,
		`{"entities":{"Sub Organization":["READ"," delete "]},"advanced":[]}`,
		`{"entities":{},"advanced":["change_llm","change_llm"]}`,
		`{"entities":{"usage":["fly"]}}`,
		`{"advanced":["teleport"]}`,
		`{}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p rbac.Privileges
		err := json.Unmarshal(b, &p)
		if err != nil {
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			if !errors.Is(err, rbac.ErrInvalid) && !errors.As(err, &se) && !errors.As(err, &te) {
				t.Fatalf("Unmarshal(%q) = %v: neither ErrInvalid nor a JSON error", b, err)
			}
			return
		}
		enc, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", p, err)
		}
		var back rbac.Privileges
		if err := json.Unmarshal(enc, &back); err != nil || back != p {
			t.Fatalf("round trip of %s = %+v, %v; want %+v", enc, back, err, p)
		}
		if again, _ := json.Marshal(back); string(again) != string(enc) {
			t.Fatalf("encoding not canonical: %s then %s", enc, again)
		}
	})
}

// FuzzParseNames: a name that parses parses again from its canonical
// String, to the same value; one that does not is an ErrInvalid.
func FuzzParseNames(f *testing.F) {
	for _, s := range []string{"admin", "Service Provider", "account", "sub_organization", "Sub Organization",
		"read", " CREATE ", "publish_to_production", "teleport", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check := func(what string, parsed any, err error, again func() (any, error)) {
			if err != nil {
				if !errors.Is(err, rbac.ErrInvalid) {
					t.Fatalf("%s %q: %v is not ErrInvalid", what, s, err)
				}
				return
			}
			if v, err := again(); err != nil || v != parsed {
				t.Fatalf("%s %q = %v; from its String: %v, %v", what, s, parsed, v, err)
			}
		}
		sc, err := rbac.ParseScope(s)
		check("scope", sc, err, func() (any, error) { return rbac.ParseScope(sc.String()) })
		en, err := rbac.ParseEntity(s)
		check("entity", en, err, func() (any, error) { return rbac.ParseEntity(en.String()) })
		ac, err := rbac.ParseAction(s)
		check("action", ac, err, func() (any, error) { return rbac.ParseAction(ac.String()) })
		ad, err := rbac.ParseAdvanced(s)
		check("advanced", ad, err, func() (any, error) { return rbac.ParseAdvanced(ad.String()) })
	})
}
