// Package storetest is the conformance suite every admin.Driver must pass
// (gocloud's drivertest shape). A driver's test calls RunConformanceTests
// with a function that opens a fresh, empty driver.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// NewDriver opens a fresh, empty driver for one test. The suite closes it.
type NewDriver func(t *testing.T) admin.Driver

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func open(t *testing.T, nd NewDriver) *admin.Store {
	t.Helper()
	c := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := admin.NewStore(nd(t), &admin.StoreOptions{Clock: c.Now})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// RunConformanceTests runs the suite against drivers made by nd.
func RunConformanceTests(t *testing.T, nd NewDriver) {
	t.Run("Providers", func(t *testing.T) { testProviders(t, nd) })
	t.Run("ProviderUniqueness", func(t *testing.T) { testProviderUniqueness(t, nd) })
	t.Run("ProviderRevisions", func(t *testing.T) { testProviderRevisions(t, nd) })
	t.Run("ConcurrentProviderNames", func(t *testing.T) { testConcurrentNames(t, nd) })
	t.Run("SMTP", func(t *testing.T) { testSMTP(t, nd) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, nd) })
	t.Run("ConcurrentAudit", func(t *testing.T) { testConcurrentAudit(t, nd) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, nd) })
}

func testProviders(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s := open(t, nd)
	a, err := s.CreateProvider(ctx, &admin.ServiceProvider{ID: "acme-sp", Name: " Acme ", Description: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "Acme" || a.Revision != 1 || a.CreatedAt.IsZero() || !a.CreatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("created %+v", a)
	}
	b, err := s.CreateProvider(ctx, &admin.ServiceProvider{Name: "Beta"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tenancy.ParseSID(b.ID); err != nil {
		t.Fatalf("generated ID %q is not a UUID: %v", b.ID, err)
	}
	got, err := s.Provider(ctx, "acme-sp")
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("Provider = %+v, %v; want %+v", got, err, a)
	}
	list, err := s.Providers(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "Acme" || list[1].Name != "Beta" {
		t.Fatalf("Providers = %v, %v", list, err)
	}
	if _, err := s.Provider(ctx, "nope"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("missing provider: %v", err)
	}
	for _, bad := range []admin.ServiceProvider{{ID: "Upper", Name: "x"}, {ID: "ok", Name: ""}, {ID: "ok", Name: "a\x00b"}} {
		if _, err := s.CreateProvider(ctx, &bad); !errors.Is(err, admin.ErrInvalid) {
			t.Errorf("CreateProvider(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := s.DeleteProvider(ctx, "acme-sp"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProvider(ctx, "acme-sp"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testProviderUniqueness(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s := open(t, nd)
	if _, err := s.CreateProvider(ctx, &admin.ServiceProvider{ID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateProvider(ctx, &admin.ServiceProvider{ID: "b", Name: "B"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p     admin.ServiceProvider
		field string
	}{{admin.ServiceProvider{ID: "a", Name: "Other"}, "id"}, {admin.ServiceProvider{ID: "c", Name: "A"}, "name"}} {
		_, err := s.CreateProvider(ctx, &tc.p)
		var fe *admin.FieldError
		if !errors.Is(err, admin.ErrExists) || !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("CreateProvider(%+v) = %v, want ErrExists naming %s", tc.p, err, tc.field)
		}
	}
	b.Name = "A"
	if _, err := s.UpdateProvider(ctx, b); !errors.Is(err, admin.ErrExists) {
		t.Fatalf("rename onto a taken name: %v", err)
	}
}

func testProviderRevisions(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s := open(t, nd)
	p, err := s.CreateProvider(ctx, &admin.ServiceProvider{ID: "a", Name: "A"})
	if err != nil {
		t.Fatal(err)
	}
	stale := *p
	p.Description = "changed"
	up, err := s.UpdateProvider(ctx, p)
	if err != nil || up.Revision != 2 || up.Description != "changed" || !up.CreatedAt.Equal(p.CreatedAt) || !up.UpdatedAt.After(p.UpdatedAt) {
		t.Fatalf("UpdateProvider = %+v, %v", up, err)
	}
	stale.Name = "Lost update"
	if _, err := s.UpdateProvider(ctx, &stale); !errors.Is(err, admin.ErrConflict) {
		t.Fatalf("stale update = %v, want ErrConflict", err)
	}
	got, _ := s.Provider(ctx, "a")
	if got.Name != "A" || got.Revision != 2 {
		t.Fatalf("after the refused update: %+v", got)
	}
	if _, err := s.UpdateProvider(ctx, &admin.ServiceProvider{ID: "missing", Name: "M", Revision: 1}); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("update of a missing provider: %v", err)
	}
}

func testConcurrentNames(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s := open(t, nd)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := range 16 {
		wg.Go(func() {
			_, err := s.CreateProvider(ctx, &admin.ServiceProvider{ID: fmt.Sprintf("p%d", i), Name: "Same"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case !errors.Is(err, admin.ErrExists):
				t.Errorf("concurrent create: %v", err)
			}
		})
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d providers named Same were created, want 1", created)
	}
}

func testSMTP(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s := open(t, nd)
	if _, err := s.SMTP(ctx, ""); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("SMTP before any save: %v", err)
	}
	c := &admin.SMTPConfig{SMTPSettings: tenancy.SMTPSettings{Host: "smtp.example.com", Port: 2525, Secure: true, SkipCertificateCheck: true,
		Username: "notify", Password: "plain-Passw0rd", MailFrom: "Voice <noreply@example.com>", NotificationBCC: "bcc@example.com", SupportEmail: "help@example.com"}}
	saved, err := s.PutSMTP(ctx, "", c)
	if err != nil || saved.Revision != 1 {
		t.Fatalf("PutSMTP = %+v, %v", saved, err)
	}
	got, err := s.SMTP(ctx, "")
	if err != nil || !reflect.DeepEqual(got, saved) || got.Password.Reveal() != "plain-Passw0rd" {
		t.Fatalf("SMTP = %+v, %v; want %+v (password kept in plain form)", got, err, saved)
	}
	// Saved back with the masked password: the stored one is kept.
	masked := *got
	masked.Password = secret.String(got.Password.Mask())
	masked.SupportEmail = "support@example.com"
	again, err := s.PutSMTP(ctx, "", &masked)
	if err != nil || again.Revision != 2 || again.Password.Reveal() != "plain-Passw0rd" || again.SupportEmail != "support@example.com" {
		t.Fatalf("PutSMTP with the masked password = %+v, %v", again, err)
	}
	// The masked password is not kept for another server.
	moved := *again
	moved.Password = secret.String(got.Password.Mask())
	moved.Port = 587
	if _, err := s.PutSMTP(ctx, "", &moved); !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("masked password with another port = %v, want tenancy.ErrInvalid", err)
	}
	if _, err := s.PutSMTP(ctx, "", got); !errors.Is(err, admin.ErrConflict) {
		t.Fatalf("stale PutSMTP = %v, want ErrConflict", err)
	}
	if _, err := s.PutSMTP(ctx, "sp-1", &admin.SMTPConfig{SMTPSettings: tenancy.SMTPSettings{Host: "h.example.com", MailFrom: "a@example.com"}, Revision: 3}); !errors.Is(err, admin.ErrConflict) {
		t.Fatalf("first PutSMTP of an owner with revision 3 = %v, want ErrConflict", err)
	}
	if _, err := s.PutSMTP(ctx, "sp-1", &admin.SMTPConfig{SMTPSettings: tenancy.SMTPSettings{Host: "", MailFrom: "a@example.com"}}); !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("invalid settings = %v, want tenancy.ErrInvalid", err)
	}
	if _, err := s.SMTP(ctx, "sp-1"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("owners are separate: %v", err)
	}
}

func testAudit(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s := open(t, nd)
	recs := []*admin.AuditRecord{
		{Actor: "key:1", ActorEmail: "ann@example.com", Action: "account.create", Resource: "account", ResourceID: "a1", ServiceProvider: "sp1", Account: "a1", After: json.RawMessage(`{"name":"A"}`)},
		{Actor: "key:1", Action: "account.update", Resource: "account", ResourceID: "a1", ServiceProvider: "sp1", Account: "a1", Fields: []string{"name", "sip_realm"}, Before: json.RawMessage(`{"name":"A"}`), After: json.RawMessage(`{"name":"B"}`)},
		{Actor: "key:2", Action: "service_provider.create", Resource: "service_provider", ResourceID: "sp2", ServiceProvider: "sp2"},
		{Actor: "key:3", Action: "smtp.update", Resource: "smtp", ResourceID: "platform"},
		{Actor: "key:1", Action: "application.delete", Resource: "application", ResourceID: "x", ServiceProvider: "sp1", Account: "a2", Before: json.RawMessage(`{"name":"app"}`)},
	}
	var last int64
	for _, r := range recs {
		if err := s.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.ID <= last || r.Time.IsZero() {
			t.Fatalf("record %+v: ID not increasing or no time", r)
		}
		last = r.ID
	}
	ids := func(q admin.AuditQuery) []string {
		got, err := s.Audit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range got {
			out = append(out, r.Action)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    admin.AuditQuery
		want []string
	}{
		{"all, newest first", admin.AuditQuery{}, []string{"application.delete", "smtp.update", "service_provider.create", "account.update", "account.create"}},
		{"one service provider", admin.AuditQuery{ServiceProvider: "sp1"}, []string{"application.delete", "account.update", "account.create"}},
		{"one account", admin.AuditQuery{Account: "a1"}, []string{"account.update", "account.create"}},
		{"resource", admin.AuditQuery{Resource: "account"}, []string{"account.update", "account.create"}},
		{"limit", admin.AuditQuery{Limit: 2}, []string{"application.delete", "smtp.update"}},
		{"before an ID", admin.AuditQuery{BeforeID: recs[2].ID}, []string{"account.update", "account.create"}},
		{"since", admin.AuditQuery{Since: recs[3].Time}, []string{"application.delete", "smtp.update"}},
		{"until", admin.AuditQuery{Until: recs[1].Time}, []string{"account.create"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(tc.q); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Audit(%+v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
	got, _ := s.Audit(ctx, admin.AuditQuery{Account: "a1", Resource: "account", Limit: 1})
	if len(got) != 1 {
		t.Fatalf("got %d records", len(got))
	}
	want := *recs[1]
	r := got[0]
	if r.ID != want.ID || !r.Time.Equal(want.Time) || r.Actor != want.Actor || r.Action != want.Action || r.ResourceID != want.ResourceID ||
		r.ServiceProvider != want.ServiceProvider || r.Account != want.Account || !reflect.DeepEqual(r.Fields, want.Fields) ||
		string(r.Before) != string(want.Before) || string(r.After) != string(want.After) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", r, want)
	}
	del, _ := s.Audit(ctx, admin.AuditQuery{Account: "a2"})
	if len(del) != 1 || del[0].After != nil || string(del[0].Before) != `{"name":"app"}` {
		t.Fatalf("deletion record: %+v", del)
	}
}

func testConcurrentAudit(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s := open(t, nd)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := s.Append(ctx, &admin.AuditRecord{Actor: "key:x", Action: "account.update", Resource: "account", ResourceID: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := s.Audit(ctx, admin.AuditQuery{Limit: 100})
	if err != nil || len(got) != 20 {
		t.Fatalf("Audit = %d records, %v; want 20", len(got), err)
	}
	seen := map[int64]bool{}
	for i, r := range got {
		if seen[r.ID] || (i > 0 && r.ID >= got[i-1].ID) {
			t.Fatalf("IDs not unique and decreasing: %d after %d", r.ID, got[max(i-1, 0)].ID)
		}
		seen[r.ID] = true
	}
}

func testClosed(t *testing.T, nd NewDriver) {
	ctx := context.Background()
	s := admin.NewStore(nd(t), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Providers(ctx); !errors.Is(err, admin.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := s.Append(ctx, &admin.AuditRecord{}); !errors.Is(err, admin.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
