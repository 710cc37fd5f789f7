package tenancy_test

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/voicegw/voicegw/tenancy"
)

// TestDeclarationYAML: the SIP access, its users and the declared
// applications read from YAML under their JSON names (what a configuration
// file writes), and a user's digests (HA1) cannot be given that way.
func TestDeclarationYAML(t *testing.T) {
	var v struct {
		SIP  tenancy.SIPAccess             `yaml:"sip"`
		Apps []tenancy.DeclaredApplication `yaml:"applications"`
	}
	dec := yaml.NewDecoder(strings.NewReader(`
sip:
  users: [{username: alice, password: alice-password-1}]
  allowlist: [192.0.2.0/24]
  require_tls: true
  require_srtp: true
applications: [{name: siprec, record_all_calls: false}]
`))
	dec.KnownFields(true)
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	s := v.SIP
	if len(s.Users) != 1 || s.Users[0].Username != "alice" || s.Users[0].Password.Reveal() != "alice-password-1" ||
		len(s.Allowlist) != 1 || !s.RequireTLS || !s.RequireSRTP {
		t.Fatalf("SIP access %+v", s)
	}
	if len(v.Apps) != 1 || v.Apps[0].Name != "siprec" || v.Apps[0].RecordAllCalls == nil || *v.Apps[0].RecordAllCalls {
		t.Fatalf("applications %+v", v.Apps)
	}
	dec = yaml.NewDecoder(strings.NewReader("users: [{username: bob, ha1: {md5: 0123}}]\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&tenancy.SIPAccess{}); err == nil || !strings.Contains(err.Error(), "ha1") {
		t.Fatalf("a user's HA1 given in YAML: %v, want it refused", err)
	}
}
