// Package storetest is the conformance suite every tenancy.Driver must pass
// (gocloud's drivertest shape). A driver's test calls RunConformanceTests
// with a function that opens a fresh, empty driver.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

// NewDriver opens a fresh, empty driver for one test. The suite closes it.
type NewDriver func(t *testing.T) tenancy.Driver

// clock is a settable clock for the store under test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, nd NewDriver) (*tenancy.Store, *clock) {
	t.Helper()
	c := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := tenancy.NewStore(nd(t), &tenancy.StoreOptions{Clock: c.Now, RotationOverlap: time.Hour})
	t.Cleanup(func() { _ = s.Close() })
	return s, c
}

// RunConformanceTests runs the suite against drivers made by nd.
func RunConformanceTests(t *testing.T, nd NewDriver) {
	t.Run("CreateAndGet", func(t *testing.T) { testCreateAndGet(t, nd) })
	t.Run("Validation", func(t *testing.T) { testValidation(t, nd) })
	t.Run("UniqueName", func(t *testing.T) { testUniqueName(t, nd) })
	t.Run("UniqueRealm", func(t *testing.T) { testUniqueRealm(t, nd) })
	t.Run("Lookups", func(t *testing.T) { testLookups(t, nd) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, nd) })
	t.Run("RotateWebhookSecret", func(t *testing.T) { testRotate(t, nd) })
	t.Run("Applications", func(t *testing.T) { testApplications(t, nd) })
	t.Run("SelectedApplications", func(t *testing.T) { testSelectedApplications(t, nd) })
	t.Run("DeleteAccountCascades", func(t *testing.T) { testDeleteCascades(t, nd) })
	t.Run("RoundTripAllFields", func(t *testing.T) { testRoundTrip(t, nd) })
	t.Run("ConcurrentUniqueNames", func(t *testing.T) { testConcurrentNames(t, nd) })
	t.Run("ConcurrentUniqueRealms", func(t *testing.T) { testConcurrentRealms(t, nd) })
	t.Run("ConcurrentApplicationNames", func(t *testing.T) { testConcurrentAppNames(t, nd) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testConcurrentUpdates(t, nd) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, nd) })
}

func mustCreate(t *testing.T, s *tenancy.Store, a *tenancy.Account) *tenancy.Account {
	t.Helper()
	got, err := s.CreateAccount(context.Background(), a)
	if err != nil {
		t.Fatalf("CreateAccount(%q): %v", a.Name, err)
	}
	return got
}

func mustApp(t *testing.T, s *tenancy.Store, acct tenancy.SID, name string) *tenancy.Application {
	t.Helper()
	got, err := s.CreateApplication(context.Background(), &tenancy.Application{Account: acct, Name: name})
	if err != nil {
		t.Fatalf("CreateApplication(%q): %v", name, err)
	}
	return got
}

// wantField checks that err wraps sentinel and names field.
func wantField(t *testing.T, err, sentinel error, field string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	for _, fe := range tenancy.FieldErrors(err) {
		if fe.Field == field {
			return
		}
	}
	t.Fatalf("err = %v, want a FieldError naming %q", err, field)
}

func testCreateAndGet(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, c := open(t, nd)
	in := &tenancy.Account{Name: "  Acme  ", SIPRealm: "SIP.Acme.Example.", LicensedSessions: 10}
	a := mustCreate(t, s, in)
	if in.SID != "" || in.Name != "  Acme  " {
		t.Fatalf("CreateAccount modified its argument: %+v", in)
	}
	if _, err := tenancy.ParseSID(string(a.SID)); err != nil {
		t.Fatalf("SID %q: %v", a.SID, err)
	}
	if a.Name != "Acme" || a.SIPRealm != "sip.acme.example" || a.Unit != tenancy.UnitSessions {
		t.Fatalf("not normalized: %+v", a)
	}
	if !strings.HasPrefix(a.WebhookSecret.Reveal(), "whsec_") || len(a.WebhookSecret.Reveal()) < 40 {
		t.Fatalf("webhook secret not generated: %d chars", len(a.WebhookSecret.Reveal()))
	}
	if a.Revision != 1 || !a.CreatedAt.Equal(c.Now()) || !a.UpdatedAt.Equal(c.Now()) {
		t.Fatalf("revision/timestamps: %d %v %v", a.Revision, a.CreatedAt, a.UpdatedAt)
	}
	got, err := s.Account(ctx, a.SID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("Account = %+v\nwant      %+v", got, a)
	}
	b := mustCreate(t, s, &tenancy.Account{Name: "Other"})
	if b.SID == a.SID || b.WebhookSecret.Equal(a.WebhookSecret) {
		t.Fatal("two accounts share a SID or a webhook secret")
	}
	if _, err := s.Account(ctx, tenancy.NewSID()); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("unknown SID: %v, want ErrNotFound", err)
	}
	// The returned value is a copy.
	got.Name = "changed"
	again, _ := s.Account(ctx, a.SID)
	if again.Name != "Acme" {
		t.Fatal("driver hands out its own copy")
	}
}

func testValidation(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, _ := open(t, nd)
	for _, tc := range []struct {
		name  string
		a     tenancy.Account
		field string
	}{
		{"empty name", tenancy.Account{}, "name"},
		{"blank name", tenancy.Account{Name: "   "}, "name"},
		{"bad unit", tenancy.Account{Name: "x", Unit: "hours"}, "unit"},
		{"negative max units", tenancy.Account{Name: "x", MaxUnits: -1}, "max_units"},
		{"negative licensed sessions", tenancy.Account{Name: "x", LicensedSessions: -2}, "licensed_sessions"},
		{"realm not a domain", tenancy.Account{Name: "x", SIPRealm: "not a domain"}, "sip_realm"},
		{"realm is an IP", tenancy.Account{Name: "x", SIPRealm: "203.0.113.7"}, "sip_realm"},
		{"short webhook secret", tenancy.Account{Name: "x", WebhookSecret: "short"}, "webhook_secret"},
		{"webhook not http", tenancy.Account{Name: "x", RegistrationWebhook: "ftp://h/x"}, "registration_webhook"},
		{"queue webhook relative", tenancy.Account{Name: "x", QueueEventWebhook: "/hook"}, "queue_event_webhook"},
		{"bad format", tenancy.Account{Name: "x", Recording: tenancy.RecordingConfig{Format: "ogg"}}, "recording.format"},
		{"duplicate CAD", tenancy.Account{Name: "x", CallAttachedData: []tenancy.CADField{{Name: "a", Value: "Interaction.status"}, {Name: "a", Value: "Interaction.id"}}}, "call_attached_data[1].name"},
		{"unknown application selected", tenancy.Account{Name: "x", SIPRECApplication: tenancy.NewSID()}, "siprec_application"},
		{"session webhook relative", tenancy.Account{Name: "x", SessionWebhook: "/sessions"}, "session_webhook"},
		{"SIP username missing", tenancy.Account{Name: "x", SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Password: "long-enough-password"}}}}, "sip.users[0].username"},
		{"SIP username with a space", tenancy.Account{Name: "x", SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "a b", Password: "long-enough-password"}}}}, "sip.users[0].username"},
		{"SIP username twice", tenancy.Account{Name: "x", SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{
			{Username: "a", Password: "long-enough-password"}, {Username: "a", Password: "long-enough-password"}}}}, "sip.users[1].username"},
		{"SIP password missing", tenancy.Account{Name: "x", SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "a"}}}}, "sip.users[0].password"},
		{"SIP password short", tenancy.Account{Name: "x", SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "a", Password: "short"}}}}, "sip.users[0].password"},
		{"allowlist entry empty", tenancy.Account{Name: "x", SIP: tenancy.SIPAccess{Allowlist: []string{"10.0.0.1", " "}}}, "sip.allowlist[1]"},
		{"allowlist entry not an address", tenancy.Account{Name: "x", SIP: tenancy.SIPAccess{Allowlist: []string{"example.com"}}}, "sip.allowlist[0]"},
		{"bucket URL bad scheme", tenancy.Account{Name: "x", Recording: tenancy.RecordingConfig{BucketURL: "ftp://b"}}, "recording.bucket_url"},
		{"bucket URL relative file", tenancy.Account{Name: "x", Recording: tenancy.RecordingConfig{BucketURL: "file://relative/dir"}}, "recording.bucket_url"},
		{"bucket and bucket URL", tenancy.Account{Name: "x", Recording: tenancy.RecordingConfig{BucketURL: "mem://",
			Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorMemory}}}, "recording.bucket_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateAccount(ctx, &tc.a)
			wantField(t, err, tenancy.ErrInvalid, tc.field)
		})
	}
	all, err := s.Accounts(ctx, "")
	if err != nil || len(all) != 0 {
		t.Fatalf("invalid accounts were stored: %d, %v", len(all), err)
	}
	_, err = s.CreateApplication(ctx, &tenancy.Application{Account: tenancy.NewSID(), Name: "app"})
	if !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("application of a missing account: %v, want ErrNotFound", err)
	}
	a := mustCreate(t, s, &tenancy.Account{Name: "acct"})
	_, err = s.CreateApplication(ctx, &tenancy.Application{Account: a.SID, Name: ""})
	wantField(t, err, tenancy.ErrInvalid, "name")
}

func testUniqueName(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, _ := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "Acme"})
	_, err := s.CreateAccount(ctx, &tenancy.Account{Name: " Acme"})
	wantField(t, err, tenancy.ErrExists, "name")
	b := mustCreate(t, s, &tenancy.Account{Name: "Beta"})
	b.Name = "Acme"
	_, err = s.UpdateAccount(ctx, b)
	wantField(t, err, tenancy.ErrExists, "name")
	// Renaming frees the old name.
	a.Name = "Acme Renamed"
	if _, err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, &tenancy.Account{Name: "Acme"})
}

func testUniqueRealm(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, _ := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "a", SIPRealm: "sip.example.com"})
	_, err := s.CreateAccount(ctx, &tenancy.Account{Name: "b", SIPRealm: "SIP.EXAMPLE.COM."})
	wantField(t, err, tenancy.ErrExists, "sip_realm")
	// Accounts without a realm do not clash.
	mustCreate(t, s, &tenancy.Account{Name: "c"})
	mustCreate(t, s, &tenancy.Account{Name: "d"})
	a.SIPRealm = "other.example.com"
	if _, err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, &tenancy.Account{Name: "e", SIPRealm: "sip.example.com"})
	if _, err := s.AccountByRealm(ctx, "sip.example.com"); err != nil {
		t.Fatal(err)
	}
}

func testLookups(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, _ := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "Acme", SIPRealm: "sip.acme.example", ServiceProvider: "sp1"})
	b := mustCreate(t, s, &tenancy.Account{Name: "Beta", ServiceProvider: "sp2"})
	c := mustCreate(t, s, &tenancy.Account{Name: "Alpha", ServiceProvider: "sp1"})
	for _, tc := range []struct {
		realm string
		want  tenancy.SID
		err   error
	}{
		{"sip.acme.example", a.SID, nil},
		{"SIP.Acme.Example.", a.SID, nil},
		{"acme.example", "", tenancy.ErrNotFound},
		{"", "", tenancy.ErrNotFound},
	} {
		got, err := s.AccountByRealm(ctx, tc.realm)
		if !errors.Is(err, tc.err) || (err == nil && got.SID != tc.want) {
			t.Errorf("AccountByRealm(%q) = %v, %v", tc.realm, got, err)
		}
	}
	if got, err := s.AccountByName(ctx, "Beta"); err != nil || got.SID != b.SID {
		t.Errorf("AccountByName(Beta) = %v, %v", got, err)
	}
	if _, err := s.AccountByName(ctx, "beta"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("names are compared exactly: %v", err)
	}
	list, err := s.Accounts(ctx, "sp1")
	if err != nil || len(list) != 2 || list[0].SID != a.SID || list[1].SID != c.SID {
		t.Fatalf("Accounts(sp1) = %v, %v; want Acme, Alpha by name", names(list), err)
	}
	all, _ := s.Accounts(ctx, "")
	if len(all) != 3 {
		t.Fatalf("Accounts() = %v", names(all))
	}
}

func names(l []*tenancy.Account) []string {
	var out []string
	for _, a := range l {
		out = append(out, a.Name)
	}
	return out
}

func testUpdate(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, c := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "Acme"})
	kept := a.WebhookSecret
	c.Add(time.Minute)
	upd := a.Clone()
	upd.LicensedSessions = 25
	upd.WebhookSecret = secret.String(kept.Mask()) // the form shown back, saved as is
	upd.CreatedAt = time.Time{}
	got, err := s.UpdateAccount(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 2 || got.LicensedSessions != 25 || !got.UpdatedAt.Equal(c.Now()) || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("update: %+v", got)
	}
	if !got.WebhookSecret.Equal(kept) {
		t.Fatal("a masked secret submitted back replaced the stored secret")
	}
	// Stale revision.
	stale := a.Clone()
	stale.LicensedSessions = 1
	if _, err := s.UpdateAccount(ctx, stale); !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	stored, _ := s.Account(ctx, a.SID)
	if stored.LicensedSessions != 25 {
		t.Fatal("a failed update changed the account")
	}
	// A new secret replaces the old one.
	got.WebhookSecret = "a-brand-new-secret-0123456789"
	got2, err := s.UpdateAccount(ctx, got)
	if err != nil || got2.WebhookSecret.Reveal() != "a-brand-new-secret-0123456789" {
		t.Fatalf("set secret: %v", err)
	}
	// Invalid updates name the field and change nothing.
	bad := got2.Clone()
	bad.SIPRealm = "bad_realm"
	_, err = s.UpdateAccount(ctx, bad)
	wantField(t, err, tenancy.ErrInvalid, "sip_realm")
	if _, err := s.UpdateAccount(ctx, &tenancy.Account{SID: tenancy.NewSID(), Name: "ghost"}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
	testUpdateSIPPasswords(t, s)
}

// testUpdateSIPPasswords: SIP passwords are stored as digests of the
// account's realm, never in clear; submitted empty they keep the stored
// digests of the same username, and the same password again is no change;
// a new one replaces them; a new user needs a password; a change of the
// digest realm needs every password again, naming each user, and changes
// nothing without them.
func testUpdateSIPPasswords(t *testing.T, s *tenancy.Store) {
	ctx := context.Background()
	in := &tenancy.Account{Name: "SIP users", SIPRealm: "sip.users.example.com", SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{
		{Username: "alice", Password: "alice-password-1"}, {Username: "bob", Password: "bob-password-22"}}}}
	a := mustCreate(t, s, in)
	CheckSIPSecrets(t, in, a)
	if tenancy.ChangedFields(a, a.Clone()) != nil {
		t.Fatalf("no change reported as %v", tenancy.ChangedFields(a, a.Clone()))
	}
	upd := a.Clone()
	upd.SIP.Users[0].Password = "alice-password-1" // the configuration file says it again
	upd.SIP.Users[1].Password = ""
	if ch := tenancy.ChangedFields(a, upd); len(ch) != 0 {
		t.Fatalf("the same and empty passwords reported as changes: %v", ch)
	}
	upd.SIP.Users[1].Password = "bob-new-password"
	upd.SIP.Allowlist = []string{"127.0.0.1"}
	if ch := tenancy.ChangedFields(a, upd); len(ch) != 1 || ch[0] != tenancy.FieldSIP {
		t.Fatalf("changed fields %v, want [sip]", ch)
	}
	got, err := s.UpdateAccount(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	want := &tenancy.Account{SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{
		{Username: "alice", Password: "alice-password-1"}, {Username: "bob", Password: "bob-new-password"}}}}
	CheckSIPSecrets(t, want, got)
	stored, _ := s.Account(ctx, a.SID)
	CheckSIPSecrets(t, want, stored)
	if len(stored.SIP.Allowlist) != 1 || stored.SIP.Allowlist[0] != "127.0.0.1" {
		t.Fatalf("allowlist %q", stored.SIP.Allowlist)
	}
	nu := stored.Clone()
	nu.SIP.Users = append(nu.SIP.Users, tenancy.SIPUser{Username: "carol"})
	_, err = s.UpdateAccount(ctx, nu)
	wantField(t, err, tenancy.ErrInvalid, "sip.users[2].password")
	// Submitted digests are never taken for a password.
	nu.SIP.Users[2].HA1 = stored.SIP.Users[0].HA1
	_, err = s.UpdateAccount(ctx, nu)
	wantField(t, err, tenancy.ErrInvalid, "sip.users[2].password")

	// The realm changes: the digests of the old one are of no use.
	moved := stored.Clone()
	moved.SIPRealm = "sip.moved.example.com"
	_, err = s.UpdateAccount(ctx, moved)
	wantField(t, err, tenancy.ErrPasswordNeeded, "sip.users[0].password")
	wantField(t, err, tenancy.ErrPasswordNeeded, "sip.users[1].password")
	for _, user := range []string{`"alice"`, `"bob"`} {
		if !strings.Contains(err.Error(), user) {
			t.Fatalf("the error does not name user %s: %v", user, err)
		}
	}
	if after, _ := s.Account(ctx, a.SID); after.SIPRealm != "sip.users.example.com" || after.Revision != stored.Revision {
		t.Fatal("a refused realm change changed the account")
	}
	moved.SIP.Users[0].Password, moved.SIP.Users[1].Password = "alice-password-1", "bob-new-password"
	got, err = s.UpdateAccount(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	CheckSIPSecrets(t, want, got)
	if got.SIP.Users[0].HA1.Realm != "sip.moved.example.com" {
		t.Fatalf("digests of realm %q after the move", got.SIP.Users[0].HA1.Realm)
	}
}

func testRotate(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, c := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "Acme"})
	if n := len(a.WebhookSecrets(c.Now())); n != 1 {
		t.Fatalf("before rotation: %d secrets", n)
	}
	r, err := s.RotateWebhookSecret(ctx, a.SID)
	if err != nil {
		t.Fatal(err)
	}
	if r.WebhookSecret.Equal(a.WebhookSecret) || !r.PreviousWebhookSecret.Equal(a.WebhookSecret) || r.Revision != 2 {
		t.Fatal("rotation did not replace and keep the secret")
	}
	got, _ := s.Account(ctx, a.SID)
	secs := got.WebhookSecrets(c.Now())
	if len(secs) != 2 || !secs[0].Equal(r.WebhookSecret) || !secs[1].Equal(a.WebhookSecret) {
		t.Fatalf("during overlap: %d secrets", len(secs))
	}
	c.Add(time.Hour)
	if secs := got.WebhookSecrets(c.Now()); len(secs) != 1 || !secs[0].Equal(r.WebhookSecret) {
		t.Fatalf("after overlap: %d secrets", len(secs))
	}
	// An update cannot set the previous secret.
	got.PreviousWebhookSecret = "attacker-chosen-secret-123456"
	got3, err := s.UpdateAccount(ctx, got)
	if err != nil || !got3.PreviousWebhookSecret.Equal(a.WebhookSecret) {
		t.Fatalf("update changed the previous secret: %v", err)
	}
	if _, err := s.RotateWebhookSecret(ctx, tenancy.NewSID()); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("rotate missing: %v", err)
	}
}

func testApplications(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, _ := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "A"})
	b := mustCreate(t, s, &tenancy.Account{Name: "B"})
	x := mustApp(t, s, a.SID, "ivr")
	mustApp(t, s, a.SID, "bot")
	mustApp(t, s, b.SID, "ivr") // same name, other account
	_, err := s.CreateApplication(ctx, &tenancy.Application{Account: a.SID, Name: "ivr"})
	wantField(t, err, tenancy.ErrExists, "name")
	list, err := s.Applications(ctx, a.SID)
	if err != nil || len(list) != 2 || list[0].Name != "bot" || list[1].Name != "ivr" {
		t.Fatalf("Applications = %v, %v", list, err)
	}
	got, err := s.Application(ctx, x.SID)
	if err != nil || !reflect.DeepEqual(got, x) {
		t.Fatalf("Application = %+v, %v", got, err)
	}
	got.RecordAllCalls = true
	got.Name = "bot"
	_, err = s.UpdateApplication(ctx, got)
	wantField(t, err, tenancy.ErrExists, "name")
	got.Name = "ivr2"
	u, err := s.UpdateApplication(ctx, got)
	if err != nil || u.Revision != 2 || !u.RecordAllCalls {
		t.Fatalf("UpdateApplication = %+v, %v", u, err)
	}
	mustApp(t, s, a.SID, "ivr") // the old name is free again
	if _, err := s.UpdateApplication(ctx, got); !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("stale application update: %v", err)
	}
	moved := u.Clone()
	moved.Account = b.SID
	_, err = s.UpdateApplication(ctx, moved)
	wantField(t, err, tenancy.ErrInvalid, "account_sid")
	if err := s.DeleteApplication(ctx, x.SID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Application(ctx, x.SID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("deleted application: %v", err)
	}
	if err := s.DeleteApplication(ctx, x.SID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func testSelectedApplications(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, _ := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "A"})
	b := mustCreate(t, s, &tenancy.Account{Name: "B"})
	own := mustApp(t, s, a.SID, "own")
	foreign := mustApp(t, s, b.SID, "foreign")
	for _, tc := range []struct {
		name   string
		device tenancy.SID
		siprec tenancy.SID
		field  string
	}{
		{"device: another account's application", foreign.SID, "", "device_calls_application"},
		{"siprec: another account's application", "", foreign.SID, "siprec_application"},
		{"siprec: no such application", "", tenancy.NewSID(), "siprec_application"},
		{"device: not a SID", "nope", "", "device_calls_application"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, _ := s.Account(ctx, a.SID)
			cur.DeviceCallsApplication, cur.SIPRECApplication = tc.device, tc.siprec
			_, err := s.UpdateAccount(ctx, cur)
			wantField(t, err, tenancy.ErrInvalid, tc.field)
		})
	}
	cur, _ := s.Account(ctx, a.SID)
	cur.DeviceCallsApplication, cur.SIPRECApplication = own.SID, own.SID
	cur, err := s.UpdateAccount(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApplication(ctx, own.SID); !errors.Is(err, tenancy.ErrInUse) {
		t.Fatalf("delete selected application: %v, want ErrInUse", err)
	}
	cur.DeviceCallsApplication = ""
	cur, _ = s.UpdateAccount(ctx, cur)
	if err := s.DeleteApplication(ctx, own.SID); !errors.Is(err, tenancy.ErrInUse) {
		t.Fatalf("delete application still selected for SIPREC: %v, want ErrInUse", err)
	}
	cur.SIPRECApplication = ""
	if _, err := s.UpdateAccount(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApplication(ctx, own.SID); err != nil {
		t.Fatalf("delete unselected application: %v", err)
	}
}

func testDeleteCascades(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, _ := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "A", SIPRealm: "a.example.com"})
	app := mustApp(t, s, a.SID, "ivr")
	a.SIPRECApplication = app.SID
	if _, err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, a.SID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Application(ctx, app.SID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("application survived its account: %v", err)
	}
	if _, err := s.AccountByRealm(ctx, "a.example.com"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("realm survived its account: %v", err)
	}
	if err := s.DeleteAccount(ctx, a.SID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	// Name and realm are free again.
	mustCreate(t, s, &tenancy.Account{Name: "A", SIPRealm: "a.example.com"})
}

func testRoundTrip(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s, _ := open(t, nd)
	in := FullAccount()
	a := mustCreate(t, s, in)
	app := mustApp(t, s, a.SID, "siprec")
	a.DeviceCallsApplication, a.SIPRECApplication = app.SID, app.SID
	a, err := s.UpdateAccount(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	a, err = s.RotateWebhookSecret(ctx, a.SID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Account(ctx, a.SID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, a)
	}
	if got.WebhookSecret.Reveal() != a.WebhookSecret.Reveal() || got.PreviousWebhookSecret.Reveal() != in.WebhookSecret.Reveal() {
		t.Fatal("webhook secrets did not come back usable")
	}
	CheckRecordingSecrets(t, in, got)
	CheckSIPSecrets(t, in, got)

	// The other form of a bucket: a URL.
	u := mustCreate(t, s, &tenancy.Account{Name: "URL bucket", Recording: tenancy.RecordingConfig{
		Enabled: true, BucketURL: "s3://recordings?region=eu-west-1"}})
	gotURL, err := s.Account(ctx, u.SID)
	if err != nil || gotURL.Recording.BucketURL != "s3://recordings?region=eu-west-1" || !gotURL.Recording.Bucket.IsZero() {
		t.Fatalf("bucket URL round trip: %+v, %v", gotURL.Recording, err)
	}
}

func testConcurrentNames(t *testing.T, nd NewDriver) {
	s, _ := open(t, nd)
	wins := race(t, 16, func(i int) error {
		_, err := s.CreateAccount(context.Background(), &tenancy.Account{Name: "Same"})
		return err
	}, tenancy.ErrExists)
	if wins != 1 {
		t.Fatalf("%d concurrent creations of one name succeeded, want 1", wins)
	}
}

func testConcurrentRealms(t *testing.T, nd NewDriver) {
	s, _ := open(t, nd)
	wins := race(t, 16, func(i int) error {
		_, err := s.CreateAccount(context.Background(), &tenancy.Account{Name: fmt.Sprint("acct", i), SIPRealm: "shared.example.com"})
		return err
	}, tenancy.ErrExists)
	if wins != 1 {
		t.Fatalf("%d concurrent creations of one realm succeeded, want 1", wins)
	}
	// Updates racing to take one realm.
	var accts []*tenancy.Account
	for i := range 8 {
		accts = append(accts, mustCreate(t, s, &tenancy.Account{Name: fmt.Sprint("u", i)}))
	}
	wins = race(t, 8, func(i int) error {
		a := accts[i].Clone()
		a.SIPRealm = "taken.example.com"
		_, err := s.UpdateAccount(context.Background(), a)
		return err
	}, tenancy.ErrExists)
	if wins != 1 {
		t.Fatalf("%d concurrent updates to one realm succeeded, want 1", wins)
	}
}

func testConcurrentAppNames(t *testing.T, nd NewDriver) {
	s, _ := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "A"})
	wins := race(t, 16, func(i int) error {
		_, err := s.CreateApplication(context.Background(), &tenancy.Application{Account: a.SID, Name: "ivr"})
		return err
	}, tenancy.ErrExists)
	if wins != 1 {
		t.Fatalf("%d concurrent creations of one application name succeeded, want 1", wins)
	}
}

func testConcurrentUpdates(t *testing.T, nd NewDriver) {
	s, _ := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "A"})
	wins := race(t, 12, func(i int) error {
		u := a.Clone()
		u.LicensedSessions = i + 1
		_, err := s.UpdateAccount(context.Background(), u)
		return err
	}, tenancy.ErrConflict)
	if wins != 1 {
		t.Fatalf("%d updates from one revision succeeded, want 1", wins)
	}
	got, _ := s.Account(context.Background(), a.SID)
	if got.Revision != 2 {
		t.Fatalf("revision %d after one winning update", got.Revision)
	}
	// Rotations retry on conflict: all succeed, each one a new revision.
	race(t, 6, func(int) error {
		_, err := s.RotateWebhookSecret(context.Background(), a.SID)
		return err
	}, nil)
	got, _ = s.Account(context.Background(), a.SID)
	if got.Revision != 8 {
		t.Fatalf("revision %d after 6 rotations, want 8", got.Revision)
	}
}

// race runs f(0..n-1) at once and returns how many succeeded; every failure
// must wrap loser (or the test fails).
func race(t *testing.T, n int, f func(i int) error, loser error) int {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case loser == nil || !errors.Is(err, loser):
			t.Errorf("unexpected error: %v", err)
		}
	}
	return wins
}

func testClosed(t *testing.T, nd NewDriver) {
	s, _ := open(t, nd)
	a := mustCreate(t, s, &tenancy.Account{Name: "A"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(context.Background(), a.SID); !errors.Is(err, tenancy.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
