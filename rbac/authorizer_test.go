package rbac_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac"
)

var (
	acctA = rbac.Target{ServiceProvider: "sp-1", Account: "acct-a"}
	acctB = rbac.Target{ServiceProvider: "sp-1", Account: "acct-b"}
	acctC = rbac.Target{ServiceProvider: "sp-2", Account: "acct-c"}
	sp1   = rbac.Target{ServiceProvider: "sp-1"}
)

func principal(scope rbac.Scope, sp, acct string, p rbac.Privileges) *rbac.Principal {
	return &rbac.Principal{Subject: "test", Scope: scope, ServiceProvider: sp, Account: acct, Privileges: p}
}

func TestPolicyContainment(t *testing.T) {
	all := rbac.AllPrivileges()
	admin := principal(rbac.ScopeAdmin, "", "", all)
	prov := principal(rbac.ScopeServiceProvider, "sp-1", "", all)
	acct := principal(rbac.ScopeAccount, "sp-1", "acct-a", all)
	noSP := principal(rbac.ScopeServiceProvider, "", "", all)
	noAcct := principal(rbac.ScopeAccount, "sp-1", "", all)
	for _, tc := range []struct {
		name   string
		p      *rbac.Principal
		target rbac.Target
		want   rbac.Decision
	}{
		{"admin, any account", admin, acctC, rbac.Allow},
		{"admin, a provider", admin, sp1, rbac.Allow},
		{"admin, the platform", admin, rbac.Target{}, rbac.Allow},
		{"provider, its account", prov, acctA, rbac.Allow},
		{"provider, its other account", prov, acctB, rbac.Allow},
		{"provider, itself", prov, sp1, rbac.Allow},
		{"provider, another provider's account", prov, acctC, rbac.DenyScope},
		{"provider, the platform", prov, rbac.Target{}, rbac.DenyScope},
		{"provider without provider ID, the platform", noSP, rbac.Target{}, rbac.DenyScope},
		{"account, itself", acct, acctA, rbac.Allow},
		{"account, itself without provider in target", acct, rbac.Target{Account: "acct-a"}, rbac.Allow},
		{"account, sibling account", acct, acctB, rbac.DenyScope},
		{"account, other provider's account", acct, acctC, rbac.DenyScope},
		{"account, its provider", acct, sp1, rbac.DenyScope},
		{"account, the platform", acct, rbac.Target{}, rbac.DenyScope},
		{"account without account ID, empty target", noAcct, rbac.Target{ServiceProvider: "sp-1"}, rbac.DenyScope},
		{"no scope", principal(0, "sp-1", "acct-a", all), acctA, rbac.DenyInvalid},
		{"nil principal", nil, acctA, rbac.DenyInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rbac.Request{Target: tc.target, Entity: rbac.EntityInteraction, Action: rbac.ActionRead}
			if got := (rbac.Policy{}).Decide(tc.p, r); got != tc.want {
				t.Fatalf("Decide = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyPrivileges(t *testing.T) {
	var p rbac.Privileges
	p.Grant(rbac.EntityInteraction, rbac.ActionRead).
		Grant(rbac.EntityAgent, rbac.ActionRead|rbac.ActionUpdate).
		Grant(rbac.EntityPhone, rbac.ActionAll)
	p.Advanced = rbac.ChangeLLM | rbac.ReadInteractionMetrics
	who := principal(rbac.ScopeAccount, "sp-1", "acct-a", p)
	for _, tc := range []struct {
		name     string
		entity   rbac.Entity
		action   rbac.Action
		advanced rbac.Advanced
		want     rbac.Decision
	}{
		{"read granted", rbac.EntityInteraction, rbac.ActionRead, 0, rbac.Allow},
		{"update not granted", rbac.EntityInteraction, rbac.ActionUpdate, 0, rbac.DenyPrivilege},
		{"delete not granted", rbac.EntityInteraction, rbac.ActionDelete, 0, rbac.DenyPrivilege},
		{"create not granted", rbac.EntityInteraction, rbac.ActionCreate, 0, rbac.DenyPrivilege},
		{"two actions, both granted", rbac.EntityAgent, rbac.ActionRead | rbac.ActionUpdate, 0, rbac.Allow},
		{"two actions, one granted", rbac.EntityAgent, rbac.ActionRead | rbac.ActionDelete, 0, rbac.DenyPrivilege},
		{"all actions", rbac.EntityPhone, rbac.ActionAll, 0, rbac.Allow},
		{"entity without privileges", rbac.EntityBilling, rbac.ActionRead, 0, rbac.DenyPrivilege},
		{"every entity listed is checked: template", rbac.EntityTemplate, rbac.ActionRead, 0, rbac.DenyPrivilege},
		{"sub organization", rbac.EntitySubOrganization, rbac.ActionCreate, 0, rbac.DenyPrivilege},
		{"advanced granted", rbac.EntityAgent, rbac.ActionUpdate, rbac.ChangeLLM, rbac.Allow},
		{"advanced only", rbac.EntityInteraction, 0, rbac.ReadInteractionMetrics, rbac.Allow},
		{"advanced not granted", rbac.EntityAgent, rbac.ActionUpdate, rbac.PublishToProduction, rbac.DenyPrivilege},
		{"voice processor not granted", rbac.EntityAgent, 0, rbac.ChangeVoiceProcessor, rbac.DenyPrivilege},
		{"stt not granted", rbac.EntityAgent, 0, rbac.ChangeSTTProcessor, rbac.DenyPrivilege},
		{"integrations not granted", rbac.EntityOrganization, 0, rbac.FullAccessIntegrations, rbac.DenyPrivilege},
		{"two advanced, one granted", rbac.EntityAgent, 0, rbac.ChangeLLM | rbac.PublishToProduction, rbac.DenyPrivilege},
		{"unknown entity", rbac.NumEntities, rbac.ActionRead, 0, rbac.DenyInvalid},
		{"no action, no advanced", rbac.EntityPhone, 0, 0, rbac.DenyInvalid},
		{"unknown action bits", rbac.EntityPhone, 1 << 6, 0, rbac.DenyInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rbac.Request{Target: acctA, Entity: tc.entity, Action: tc.action, Advanced: tc.advanced}
			if got := (rbac.Policy{}).Decide(who, r); got != tc.want {
				t.Fatalf("Decide = %v, want %v", got, tc.want)
			}
		})
	}
	// Privileges do not cross accounts: full privileges, other account.
	if got := (rbac.Policy{}).Decide(principal(rbac.ScopeAccount, "sp-1", "acct-a", rbac.AllPrivileges()),
		rbac.Request{Target: acctB, Entity: rbac.EntityInteraction, Action: rbac.ActionRead}); got != rbac.DenyScope {
		t.Fatalf("all privileges on another account: %v", got)
	}
}

func TestAuthorize(t *testing.T) {
	who := principal(rbac.ScopeAccount, "sp-1", "acct-a", rbac.Privileges{})
	err := rbac.Authorize(nil, who, rbac.Request{Target: acctB, Entity: rbac.EntityBilling, Action: rbac.ActionRead})
	var de *rbac.DeniedError
	if !errors.Is(err, rbac.ErrForbidden) || !errors.As(err, &de) || de.Decision != rbac.DenyScope {
		t.Fatalf("Authorize = %v", err)
	}
	for _, want := range []string{"read billing", "acct-b", "out of scope"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := rbac.Authorize(rbac.Policy{}, principal(rbac.ScopeAdmin, "", "", rbac.AllPrivileges()), rbac.Request{Target: acctB, Entity: rbac.EntityBilling, Action: rbac.ActionRead}); err != nil {
		t.Fatalf("admin: %v", err)
	}
	// A plugged-in authorizer decides instead of Policy.
	deny := denyAll{}
	if err := rbac.Authorize(deny, principal(rbac.ScopeAdmin, "", "", rbac.AllPrivileges()), rbac.Request{Entity: rbac.EntityUsage, Action: rbac.ActionRead}); !errors.Is(err, rbac.ErrForbidden) {
		t.Fatalf("custom authorizer ignored: %v", err)
	}
}

type denyAll struct{}

func (denyAll) Decide(*rbac.Principal, rbac.Request) rbac.Decision { return rbac.DenyPrivilege }

func TestCheckFields(t *testing.T) {
	rules := rbac.AccountFieldRules()
	for _, tc := range []struct {
		name    string
		scope   rbac.Scope
		changed []string
		refused []string
	}{
		{"admin changes everything", rbac.ScopeAdmin, []string{"name", "unit", "max_units", "licensed_sessions"}, nil},
		{"provider: name is fine", rbac.ScopeServiceProvider, []string{"name", "sip_realm"}, nil},
		{"provider: licensed sessions refused", rbac.ScopeServiceProvider, []string{"name", "licensed_sessions"}, []string{"licensed_sessions"}},
		{"account: unit and max refused, realm fine", rbac.ScopeAccount, []string{"unit", "sip_realm", "max_units"}, []string{"unit", "max_units"}},
		{"account: all three refused", rbac.ScopeAccount, []string{"licensed_sessions", "unit", "max_units"}, []string{"licensed_sessions", "unit", "max_units"}},
		{"nothing changed", rbac.ScopeAccount, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rbac.CheckFields(principal(tc.scope, "sp-1", "acct-a", rbac.AllPrivileges()), rules, tc.changed)
			var got []string
			for _, fe := range rbac.FieldErrors(err) {
				if !errors.Is(fe, rbac.ErrForbidden) {
					t.Fatalf("field error %v does not wrap ErrForbidden", fe)
				}
				got = append(got, fe.Field)
			}
			if !reflect.DeepEqual(got, tc.refused) {
				t.Fatalf("refused %v, want %v (err %v)", got, tc.refused, err)
			}
			if (err == nil) != (len(tc.refused) == 0) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if err := rbac.CheckFields(nil, rules, []string{"unit"}); !errors.Is(err, rbac.ErrForbidden) {
		t.Fatalf("nil principal: %v", err)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]rbac.Scope{"admin": rbac.ScopeAdmin, "Service Provider": rbac.ScopeServiceProvider, "service-provider": rbac.ScopeServiceProvider, " ACCOUNT ": rbac.ScopeAccount} {
		if got, err := rbac.ParseScope(in); err != nil || got != want {
			t.Errorf("ParseScope(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := rbac.ParseScope("root"); !errors.Is(err, rbac.ErrInvalid) || !strings.Contains(err.Error(), `"root"`) {
		t.Errorf("ParseScope(root) = %v", err)
	}
	for _, e := range rbac.Entities() {
		got, err := rbac.ParseEntity(e.String())
		if err != nil || got != e {
			t.Errorf("ParseEntity(%q) = %v, %v", e, got, err)
		}
	}
	if got, _ := rbac.ParseEntity("Sub Organization"); got != rbac.EntitySubOrganization {
		t.Errorf("ParseEntity(Sub Organization) = %v", got)
	}
	if _, err := rbac.ParseEntity("spaceship"); !errors.Is(err, rbac.ErrInvalid) {
		t.Errorf("ParseEntity(spaceship) = %v", err)
	}
	var s rbac.Scope
	if err := json.Unmarshal([]byte(`"service_provider"`), &s); err != nil || s != rbac.ScopeServiceProvider {
		t.Errorf("scope JSON: %v %v", s, err)
	}
	if b, _ := json.Marshal(rbac.ScopeAdmin); string(b) != `"admin"` {
		t.Errorf("scope JSON = %s", b)
	}
}

func TestPrivilegesJSON(t *testing.T) {
	var p rbac.Privileges
	p.Grant(rbac.EntityOrganization, rbac.ActionRead|rbac.ActionUpdate).Grant(rbac.EntityTemplate, rbac.ActionCreate)
	p.Advanced = rbac.PublishToProduction | rbac.ChangeSTTProcessor
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"entities":{"organization":["read","update"],"template":["create"]},"advanced":["publish_to_production","change_stt_processor"]}`
	if string(b) != want {
		t.Fatalf("JSON = %s\nwant   %s", b, want)
	}
	var back rbac.Privileges
	if err := json.Unmarshal(b, &back); err != nil || back != p {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	all := rbac.AllPrivileges()
	b, _ = json.Marshal(all)
	if err := json.Unmarshal(b, &back); err != nil || back != all {
		t.Fatalf("all privileges round trip: %v", err)
	}
	for _, bad := range []string{
		`{"entities":{"spaceship":["read"]}}`,
		`{"entities":{"usage":["fly"]}}`,
		`{"advanced":["teleport"]}`,
	} {
		if err := json.Unmarshal([]byte(bad), &back); !errors.Is(err, rbac.ErrInvalid) {
			t.Errorf("Unmarshal(%s) = %v", bad, err)
		}
	}
}

func TestDefaultServiceTypes(t *testing.T) {
	st := rbac.DefaultServiceTypes()
	ins := st["insights"]
	if !ins.Allows(rbac.EntityInteraction, rbac.ActionRead) || ins.Allows(rbac.EntityInteraction, rbac.ActionDelete) || !ins.Advanced.Has(rbac.ReadInteractionMetrics) {
		t.Fatalf("insights: %+v", ins)
	}
	api := st["api"]
	if !api.Allows(rbac.EntityBilling, rbac.ActionAll) || api.Advanced != 0 {
		t.Fatalf("api: %+v", api)
	}
}

func TestPrivilegesContains(t *testing.T) {
	var read, readDelete, metrics rbac.Privileges
	read.Grant(rbac.EntityInteraction, rbac.ActionRead)
	readDelete.Grant(rbac.EntityInteraction, rbac.ActionRead|rbac.ActionDelete)
	metrics.Advanced = rbac.ReadInteractionMetrics
	for _, tc := range []struct {
		name    string
		p, q    rbac.Privileges
		lacking string
	}{
		{"nothing within nothing", rbac.Privileges{}, rbac.Privileges{}, ""},
		{"nothing within read", read, rbac.Privileges{}, ""},
		{"read within read", read, read, ""},
		{"read within read+delete", readDelete, read, ""},
		{"delete beyond read", read, readDelete, "delete interaction"},
		{"everything beyond nothing", rbac.Privileges{}, rbac.AllPrivileges(), "read organization"},
		{"advanced beyond entities", rbac.AllPrivileges(), metrics, ""},
		{"advanced lacking", readDelete, metrics, "advanced privilege read_interaction_metrics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Contains(tc.q); got != (tc.lacking == "") {
				t.Fatalf("Contains = %v", got)
			}
			if got := tc.p.Lacking(tc.q); got != tc.lacking {
				t.Fatalf("Lacking = %q, want %q", got, tc.lacking)
			}
		})
	}
}
