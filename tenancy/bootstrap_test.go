package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/memstore"
)

func yes() *bool { b := true; return &b }

// acme declares the account every test starts from: what a configuration
// file saying
//
//	name: Acme, sip_realm: acme.example.com, licensed_sessions: 5,
//	sip: {users: [sbc]}, recording: {enabled, bucket: memory},
//	applications: [siprec (record all calls)]
//
// gives.
func acme() tenancy.DeclaredAccount {
	return tenancy.DeclaredAccount{
		Path: "accounts[0]",
		Account: tenancy.Account{Name: "Acme", SIPRealm: "acme.example.com", LicensedSessions: 5,
			SIP:       tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "sbc", Password: "sbc-Passw0rd"}}},
			Recording: tenancy.RecordingConfig{Enabled: true, Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorMemory}}},
		Set:          []string{"name", "sip_realm", "licensed_sessions", "sip", "sip.users", "sip.users[0].username", "sip.users[0].password", "recording", "recording.enabled", "recording.bucket", "recording.bucket.vendor"},
		Applications: []tenancy.DeclaredApplication{{Name: "siprec", RecordAllCalls: yes()}},
	}
}

// TestBootstrapSemantics: what a restart does to accounts declared in a
// file and to changes made through the store (an admin API) in between.
func TestBootstrapSemantics(t *testing.T) {
	ctx := context.Background()
	s := memstore.NewStore(nil)
	defer s.Close()

	res, err := s.Bootstrap(ctx, []tenancy.DeclaredAccount{acme()})
	if err != nil {
		t.Fatal(err)
	}
	a := res[0].Account
	if !res[0].Created || a.SIPRECApplication != res[0].Applications[0].SID || !res[0].Applications[0].RecordAllCalls || a.LicensedSessions != 5 {
		t.Fatalf("first start: %+v", res[0])
	}
	// Again: nothing changes.
	res, err = s.Bootstrap(ctx, []tenancy.DeclaredAccount{acme()})
	if err != nil || res[0].Created || res[0].Changed != nil || res[0].Account.Revision != a.Revision {
		t.Fatalf("second start changed something: %+v, %v", res, err)
	}

	// Through the API meanwhile: a declared setting (licensed sessions), an
	// undeclared one (registration webhook, allowlist), a new application,
	// the SIPREC application switched to it, a new account.
	cur, _ := s.Account(ctx, a.SID)
	cur.LicensedSessions = 50
	cur.RegistrationWebhook = "https://hooks.example.com/reg"
	cur.SIP.Allowlist = []string{"192.0.2.0/24"}
	other, err := s.CreateApplication(ctx, &tenancy.Application{Account: a.SID, Name: "from the API"})
	if err != nil {
		t.Fatal(err)
	}
	cur.SIPRECApplication = other.SID
	if _, err := s.UpdateAccount(ctx, cur); err != nil {
		t.Fatal(err)
	}
	siprec := res[0].Applications[0].Clone()
	siprec.RecordAllCalls = false
	if _, err := s.UpdateApplication(ctx, siprec); err != nil {
		t.Fatal(err)
	}
	apiMade, err := s.CreateAccount(ctx, &tenancy.Account{Name: "Made through the API", SIPRealm: "api.example.com"})
	if err != nil {
		t.Fatal(err)
	}

	res, err = s.Bootstrap(ctx, []tenancy.DeclaredAccount{acme()})
	if err != nil {
		t.Fatal(err)
	}
	got := res[0].Account
	if !slices.Equal(res[0].Changed, []string{tenancy.FieldLicensedSessions}) || got.LicensedSessions != 5 {
		t.Fatalf("the declared setting is not the file's again: changed %v, licensed %d", res[0].Changed, got.LicensedSessions)
	}
	if got.RegistrationWebhook != "https://hooks.example.com/reg" || !slices.Equal(got.SIP.Allowlist, []string{"192.0.2.0/24"}) || got.SIPRECApplication != other.SID {
		t.Fatalf("settings the file does not give were reset: %+v", got)
	}
	if !res[0].Applications[0].RecordAllCalls {
		t.Fatal("the declared application's record_all_calls was not brought back")
	}
	if _, err := s.Application(ctx, other.SID); err != nil {
		t.Fatalf("the application made through the API: %v", err)
	}
	if _, err := s.Account(ctx, apiMade.SID); err != nil {
		t.Fatalf("the account made through the API: %v", err)
	}
	// A declaration removed from the file: its account stays.
	if _, err := s.Bootstrap(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(ctx, a.SID); err != nil {
		t.Fatalf("an account no longer declared: %v", err)
	}
	// SIP users stay authenticated by the file's password: the digests are
	// the password's.
	got, _ = s.Account(ctx, a.SID)
	if want := tenancy.NewDigestHA1("sbc", "acme.example.com", "sbc-Passw0rd"); got.SIP.Users[0].HA1 != want {
		t.Fatal("the SIP user's digests are not those of the declared password")
	}
}

// TestBootstrapDeclaredSettingsOnly: a declaration that gives only some
// settings of a stored account changes only those, even to zero values.
func TestBootstrapDeclaredSettingsOnly(t *testing.T) {
	ctx := context.Background()
	s := memstore.NewStore(nil)
	defer s.Close()
	if _, err := s.Bootstrap(ctx, []tenancy.DeclaredAccount{acme()}); err != nil {
		t.Fatal(err)
	}
	d := tenancy.DeclaredAccount{Path: "accounts[0]", Account: tenancy.Account{Name: "Acme", LicensedSessions: 0, MaxUnits: 7},
		Set: []string{"name", "licensed_sessions", "max_units"}}
	res, err := s.Bootstrap(ctx, []tenancy.DeclaredAccount{d})
	if err != nil {
		t.Fatal(err)
	}
	a := res[0].Account
	if a.LicensedSessions != 0 || a.MaxUnits != 7 || a.SIPRealm != "acme.example.com" || len(a.SIP.Users) != 1 || !a.Recording.Enabled {
		t.Fatalf("after a partial declaration: %+v", a)
	}
	if !slices.Equal(res[0].Changed, []string{tenancy.FieldMaxUnits, tenancy.FieldLicensedSessions}) {
		t.Fatalf("changed %v", res[0].Changed)
	}
}

func TestValidateDeclared(t *testing.T) {
	b := acme()
	b.Path = "accounts[1]"
	b.Account.Name = " Acme "
	b.Account.SIPRealm = "ACME.example.com."
	c := acme()
	c.Path = "accounts[2]"
	c.Account.Name, c.Account.SIPRealm = "C", "c.example.com"
	c.Account.LicensedSessions = -1
	c.Account.Recording.Bucket = bucketconfig.Config{Vendor: bucketconfig.VendorS3, S3: &bucketconfig.S3{Bucket: "b"}}
	c.Set = append(c.Set, "service_provider", "colour")
	c.Applications = []tenancy.DeclaredApplication{{Name: "x"}, {Name: " x"}, {Name: ""}}
	c.SIPRECApplication = "y"
	err := tenancy.ValidateDeclared([]tenancy.DeclaredAccount{acme(), b, c})
	want := map[string]string{
		"accounts[1].name":                       "also the name of accounts[0]",
		"accounts[1].sip_realm":                  "also the realm of accounts[0]",
		"accounts[2].licensed_sessions":          "must not be negative",
		"accounts[2].recording.bucket.s3.region": "missing",
		"accounts[2].service_provider":           "not a setting",
		"accounts[2].colour":                     "not a setting",
		"accounts[2].applications[1].name":       "also the name of applications[0]",
		"accounts[2].applications[2].name":       "required",
		"accounts[2].siprec_application":         "no application of that name",
	}
	fes := tenancy.FieldErrors(err)
	for _, fe := range fes {
		if !errors.Is(fe, tenancy.ErrInvalid) {
			t.Errorf("%s does not wrap ErrInvalid", fe.Field)
		}
		if w, ok := want[fe.Field]; ok && strings.Contains(fe.Reason, w) {
			delete(want, fe.Field)
		}
	}
	for f, r := range want {
		t.Errorf("no problem %s %q in:\n%v", f, r, err)
	}
	// Nothing is stored when a declaration is invalid.
	s := memstore.NewStore(nil)
	defer s.Close()
	if _, err := s.Bootstrap(context.Background(), []tenancy.DeclaredAccount{acme(), c}); err == nil {
		t.Fatal("an invalid declaration was applied")
	}
	if all, _ := s.Accounts(context.Background(), ""); len(all) != 0 {
		t.Fatalf("%d accounts stored by a refused bootstrap", len(all))
	}
}

// TestBootstrapClash: a realm taken by an account made through the API is
// reported under the declaration's path; the other declarations apply.
func TestBootstrapClash(t *testing.T) {
	ctx := context.Background()
	s := memstore.NewStore(nil)
	defer s.Close()
	if _, err := s.CreateAccount(ctx, &tenancy.Account{Name: "API", SIPRealm: "acme.example.com"}); err != nil {
		t.Fatal(err)
	}
	other := tenancy.DeclaredAccount{Account: tenancy.Account{Name: "Other"}, Set: []string{"name"}}
	res, err := s.Bootstrap(ctx, []tenancy.DeclaredAccount{acme(), other})
	fes := tenancy.FieldErrors(err)
	if len(fes) != 1 || fes[0].Field != "accounts[0].sip_realm" || !errors.Is(err, tenancy.ErrExists) || !strings.Contains(fes[0].Error(), "already used") {
		t.Fatalf("err = %v", err)
	}
	if len(res) != 1 || res[0].Account.Name != "Other" {
		t.Fatalf("the valid declaration was not applied: %+v", res)
	}
}

func ExampleStore_Bootstrap() {
	ctx := context.Background()
	s := memstore.NewStore(nil)
	defer s.Close()
	declared := []tenancy.DeclaredAccount{{
		Path:         "accounts[0]",
		Account:      tenancy.Account{Name: "Acme", SIPRealm: "acme.example.com", LicensedSessions: 5},
		Set:          []string{"name", "sip_realm", "licensed_sessions"}, // what the file gives
		Applications: []tenancy.DeclaredApplication{{Name: "siprec"}},
	}}
	res, _ := s.Bootstrap(ctx, declared)
	fmt.Println("created:", res[0].Created, res[0].Account.LicensedSessions)

	// An operator changes the account through the admin API...
	a := res[0].Account.Clone()
	a.LicensedSessions, a.MaxUnits = 50, 10
	_, _ = s.UpdateAccount(ctx, a)

	// ...and at the next start the file wins for what it gives, and only that.
	res, _ = s.Bootstrap(ctx, declared)
	fmt.Println("changed:", res[0].Changed, res[0].Account.LicensedSessions, res[0].Account.MaxUnits)

	// A declaration that does not make a valid account is refused whole.
	declared[0].Account.SIPRealm = "not a realm"
	_, err := s.Bootstrap(ctx, declared)
	for _, fe := range tenancy.FieldErrors(err) {
		fmt.Println(fe.Field+":", fe.Reason)
	}
	// Output:
	// created: true 5
	// changed: [licensed_sessions] 5 10
	// accounts[0].sip_realm: not a domain name (needs at least two labels, like sip.example.com)
}
