package srsstate_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"github.com/voicegw/voicegw/tenancy"
)

// file is a configuration file's shape for the tests.
type file struct {
	Timeout  time.Duration `yaml:"timeout"`
	Workers  int           `yaml:"workers"`
	Accounts []struct {
		Name     string            `yaml:"name"`
		Password secret.String     `yaml:"password"`
		SIP      tenancy.SIPAccess `yaml:"sip"`
		Limits   struct {
			Sessions int `yaml:"sessions"`
		} `yaml:"limits"`
	} `yaml:"accounts"`
}

// TestDecodeYAMLProblems: every problem at once, each named by its key's
// path and line, in words; a secret's value never quoted.
func TestDecodeYAMLProblems(t *testing.T) {
	var f file
	_, err := srsstate.DecodeYAML([]byte(`timeout: soon
workers: many
accounts:
  - name: a
    password: [hunter2-the-secret]
    sip:
      users: 3
      require_tls: perhaps
    limits: {sessions: 2, sesions: 3}
`), &f)
	got := map[string]string{}
	for _, e := range srsstate.YAMLErrors(err) {
		got[e.Path] = e.Reason
	}
	want := map[string]string{
		"timeout":                     `"soon" is not a valid duration (like 30s or 5m) (line 1)`,
		"workers":                     `"many" is not a valid whole number (line 2)`,
		"accounts[0].sip.require_tls": `"perhaps" is not a valid boolean (true or false) (line 8)`,
		"accounts[0].sip.users":       `"3" is not a valid list (line 7)`,
		"accounts[0].limits.sesions":  "unknown key (line 9)",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	if r, ok := got["accounts[0].password[0]"]; !ok || strings.Contains(r, "hunter2") {
		t.Errorf("the secret's problem %q (given %v), want one without its value: %v", r, ok, err)
	}
	if _, err := srsstate.DecodeYAML([]byte("a: [\n"), &f); len(srsstate.YAMLErrors(err)) != 1 || srsstate.YAMLErrors(err)[0].Path != "(file)" {
		t.Errorf("a document that does not parse: %v", err)
	}
}

// TestGiven: the keys each item of a list gives, merge keys followed,
// lists' items named by index.
func TestGiven(t *testing.T) {
	doc, err := srsstate.DecodeYAML([]byte(`base: &b {limits: {sessions: 2}}
accounts:
  - <<: *b
    name: a
    sip: {users: [{username: u, password: pw-0123456789}]}
  - name: b
`), &struct {
		Base     any `yaml:"base"`
		Accounts any `yaml:"accounts"`
	}{})
	if err != nil {
		t.Fatal(err)
	}
	got := doc.Given("accounts")
	want := [][]string{
		{"limits", "limits.sessions", "name", "sip", "sip.users", "sip.users[0].username", "sip.users[0].password"},
		{"name"},
	}
	if len(got) != 2 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
		t.Fatalf("Given = %q, want %q", got, want)
	}
	if doc.Given("nothing") != nil {
		t.Fatal("Given of a missing key")
	}
}

// plain is a file without secrets (which are written back redacted).
type plain struct {
	Timeout time.Duration `yaml:"timeout"`
	Workers int           `yaml:"workers"`
	Names   []string      `yaml:"names"`
	Nested  struct {
		A int
		B bool
	} `yaml:"nested"`
	Apps []tenancy.DeclaredApplication `yaml:"applications"`
}

// FuzzDecodeYAML: no input panics; every failure is YAMLErrors each naming
// a path; a document that decodes, written back (yaml.Marshal), decodes
// again to what writes back the same.
func FuzzDecodeYAML(f *testing.F) {
	for _, s := range []string{"timeout: 5s\nworkers: 3\n", "applications: [{name: a, record_all_calls: true}]\nnames: [x, y]",
		"nested: {a: x}", "a: &a [*a]", "{\"workers\": 1}", "workers: 1\nworkers: 2\n", "nested: {a: 1, c: 2}\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v plain
		_, err := srsstate.DecodeYAML([]byte(s), &v)
		if err != nil {
			es := srsstate.YAMLErrors(err)
			if len(es) == 0 {
				t.Fatalf("error %v holds no YAMLError", err)
			}
			for _, e := range es {
				if e.Path == "" || e.Reason == "" {
					t.Fatalf("problem %+v without a path or reason", e)
				}
			}
			return
		}
		out, err := yaml.Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		var w plain
		if _, err := srsstate.DecodeYAML(out, &w); err != nil {
			t.Fatalf("%q written back as %q does not decode: %v", s, out, err)
		}
		if out2, _ := yaml.Marshal(&w); string(out2) != string(out) || w.Timeout != v.Timeout || w.Workers != v.Workers || len(w.Apps) != len(v.Apps) {
			t.Fatalf("%q written back as %q decodes to %+v, was %+v", s, out, w, v)
		}
	})
}
