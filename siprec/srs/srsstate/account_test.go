package srsstate_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"github.com/voicegw/voicegw/tenancy"
)

// TestAccountConfigDeclared: an account read from a file declares its
// values (the format lowercased), its API keys, the application "siprec"
// when it names none, and as Set exactly the settings the file gives but
// the applications, API keys and *_application keys; an account with
// applications keeps them.
func TestAccountConfigDeclared(t *testing.T) {
	var f struct {
		Accounts []srsstate.AccountConfig `yaml:"accounts"`
	}
	doc, err := srsstate.DecodeYAML([]byte(`accounts:
  - name: acme
    sip_realm: acme.test
    licensed_sessions: 2
    recording: {enabled: true, format: MP3, bucket: {url: "mem://"}}
    api_keys: [{name: reports, secret: vgw_reports_0123456789abcdefABCDEF}]
  - name: bolt
    applications: [{name: calls}]
    siprec_application: calls
`), &f)
	if err != nil {
		t.Fatal(err)
	}
	for i, given := range doc.Given("accounts") {
		f.Accounts[i].Given = given
	}
	acme := f.Accounts[0].Declared("accounts[0]")
	a := acme.Account
	if acme.Path != "accounts[0]" || a.Name != "acme" || a.SIPRealm != "acme.test" || a.LicensedSessions != 2 ||
		a.Recording.Format != tenancy.FormatMP3 || !a.Recording.Enabled || a.Recording.BucketURL != "mem://" {
		t.Fatalf("declared %+v", acme.DeclaredAccount)
	}
	if len(acme.APIKeys) != 1 || acme.APIKeys[0].Name != "reports" {
		t.Fatalf("API keys %+v", acme.APIKeys)
	}
	if len(acme.Applications) != 1 || acme.Applications[0].Name != "siprec" {
		t.Fatalf("applications %+v, want the default siprec", acme.Applications)
	}
	want := []string{"name", "sip_realm", "licensed_sessions", "recording", "recording.enabled", "recording.format", "recording.bucket", "recording.bucket.url"}
	if !slices.Equal(acme.Set, want) {
		t.Fatalf("Set %v, want %v", acme.Set, want)
	}
	bolt := f.Accounts[1].Declared("accounts[1]")
	if len(bolt.Applications) != 1 || bolt.Applications[0].Name != "calls" || bolt.SIPRECApplication != "calls" || !slices.Equal(bolt.Set, []string{"name"}) {
		t.Fatalf("bolt: applications %+v, Set %v", bolt.Applications, bolt.Set)
	}
	if err := srsstate.Validate(srsstate.Declaration{Accounts: []srsstate.DeclaredAccount{acme, bolt}}, nil); err != nil {
		t.Fatalf("the declarations do not validate: %v", err)
	}
}

// TestFileErrors: the problems of declarations read from a file are named
// by the file's keys, "missing" for a required one, the value quoted but
// never a secret's.
func TestFileErrors(t *testing.T) {
	a := srsstate.AccountConfig{Name: "acme", Recording: srsstate.RecordingConfig{Enabled: true, Bucket: srsstate.BucketConfig{URL: "nope://x"}},
		APIKeys: []srsstate.DeclaredKey{{Name: "k", Secret: "short-secret-value"}}}
	err := srsstate.Validate(srsstate.Declaration{Accounts: []srsstate.DeclaredAccount{a.Declared("accounts[0]"), {}}}, nil)
	got := map[string]string{}
	for _, e := range srsstate.FileErrors(err) {
		got[e.Path] = e.Reason
	}
	if r := got["accounts[0].recording.bucket.url"]; !strings.HasPrefix(r, `"nope://x": `) {
		t.Errorf("bucket url: %q (all: %v)", r, got)
	}
	if r := got["accounts[1].name"]; !strings.HasPrefix(r, "missing") {
		t.Errorf("name: %q (all: %v)", r, got)
	}
	if _, ok := got["accounts[0].api_keys[0].secret"]; !ok {
		t.Errorf("no problem for the weak key secret: %v", got)
	}
	for k, r := range got {
		if strings.Contains(r, "short-secret-value") {
			t.Errorf("%s quotes the secret: %q", k, r)
		}
	}
}
