package admin

import (
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/voicegw/voicegw/rbac"
)

// TestOpenAPIFieldScopes: the Account schema marks with x-voicegw-scope
// exactly the fields accountFieldRules reserves, with the same scope, so a
// form reading the document (the console) shows them read-only to others.
func TestOpenAPIFieldScopes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Scope string `yaml:"x-voicegw-scope"`
				} `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(OpenAPIYAML, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name, p := range doc.Components.Schemas["Account"].Properties {
		if p.Scope != "" {
			got[name] = p.Scope
		}
	}
	want := map[string]string{}
	for f, s := range accountFieldRules() {
		want[f] = s.String()
	}
	if len(got) != len(want) {
		t.Fatalf("x-voicegw-scope on Account: %v, want %v", got, want)
	}
	for f, s := range want {
		if got[f] != s {
			t.Fatalf("x-voicegw-scope of Account.%s = %q, want %q (all: %v)", f, got[f], s, got)
		}
	}
	if s := doc.Components.Schemas["RecordingConfig"].Properties["bucket_url"].Scope; s != rbac.ScopeAdmin.String() {
		t.Fatalf("RecordingConfig.bucket_url x-voicegw-scope = %q, want admin", s)
	}
	if s := doc.Components.Schemas["BucketConfig"].Properties["file"].Scope; s != rbac.ScopeAdmin.String() {
		t.Fatalf("BucketConfig.file x-voicegw-scope = %q, want admin", s)
	}
}
