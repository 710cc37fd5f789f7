package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/rbac"
	rbacmem "github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/tenancy"
	tenancymem "github.com/voicegw/voicegw/tenancy/memstore"
)

// TestHTTPAPIKeyPrivileges: the gateway's Insights API authorizes each
// request with the privileges of the API key's service type (rbac's
// KeyStore, in memory here) and the account store: a read-only key cannot
// delete, a provider's key reaches only its provider's accounts, and a key
// store that fails answers 503, not 401.
func TestHTTPAPIKeyPrivileges(t *testing.T) {
	ctx := context.Background()
	tenants := tenancymem.NewStore(nil)
	keys := rbacmem.NewKeyStore(nil)
	idx := memindex.NewIndex()
	t.Cleanup(func() { _ = tenants.Close(); _ = idx.Close() })
	acct := func(name, sp string) tenancy.SID {
		a, err := tenants.CreateAccount(ctx, &tenancy.Account{Name: name, ServiceProvider: sp, SIPRealm: name + ".voicegw.test"})
		if err != nil {
			t.Fatal(err)
		}
		return a.SID
	}
	a1, a2 := acct("one", "sp-1"), acct("two", "sp-2")
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for i, a := range []tenancy.SID{a1, a1, a2} {
		s := insights.NewCallSession(insights.CallRecord{SessionID: "s" + string(rune('1'+i)), AccountID: string(a), ApplicationID: "AP1",
			Start: start, End: start.Add(time.Minute), Format: "wav"})
		if err := idx.Put(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	key := func(name, service string, scope rbac.Scope, sp string, a tenancy.SID) string {
		ck, err := keys.Create(ctx, rbac.NewAPIKey{Name: name, ServiceType: service, Scope: scope, ServiceProvider: sp, Account: string(a), CreatorEmail: "ops@example.com"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ck.Secret.Reveal()
	}
	webhook := key("webhook", "webhook", rbac.ScopeAccount, "", a1)
	sip := key("sip", "sip", rbac.ScopeAccount, "", a1)
	api2 := key("api2", "api", rbac.ScopeAccount, "", a2)
	provider := key("provider", "api", rbac.ScopeServiceProvider, "sp-1", "")
	srv := httptest.NewServer(httpAPI{insights: insights.HandlerConfig{Index: idx, Keys: keys, Accounts: srs.NewTenantCache(tenants, nil)}, metrics: newMetrics(0),
		health: http.NotFoundHandler(), log: slog.New(slog.DiscardHandler)}.handler())
	t.Cleanup(srv.Close)

	get := "/insights/sessions/search/s1"
	del := "/insights/sessions/s1?session_start_time=2024-05-01"
	for _, tc := range []struct {
		name, method, path, key, account string
		status                           int
		mention                          string
	}{
		{"read-only key finds", "GET", get, webhook, "", 200, ""},
		{"read-only key deletes", "DELETE", del, webhook, "", 403, "may not delete"},
		{"sip key reads", "GET", get, sip, "", 403, "may not read"},
		{"key of another account finds", "GET", get, api2, "", 404, "not found"},
		{"key of another account deletes", "DELETE", del, api2, "", 404, "not found"},
		{"key of another account names it", "GET", get, api2, string(a1), 403, "outside"},
		{"provider key without account", "GET", get, provider, "", 403, insights.AccountHeader},
		{"provider key, other provider's account", "GET", "/insights/sessions/search/s3", provider, string(a2), 403, "outside"},
		{"provider key, unknown account", "GET", get, provider, "AC-nobody", 403, "outside"},
		{"provider key, its account", "GET", get, provider, string(a1), 200, ""},
		{"provider key deletes in its account", "DELETE", "/insights/sessions/s2?session_start_time=2024-05-01", provider, string(a1), 204, ""},
		{"unknown key", "GET", get, "vgk_not-a-key-at-all-0000", "", 401, "invalid API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := callAPI(t, tc.method, srv.URL+tc.path, tc.key, tc.account)
			if status != tc.status || !strings.Contains(msg, tc.mention) {
				t.Fatalf("%d %q, want %d mentioning %q", status, msg, tc.status, tc.mention)
			}
		})
	}
	// The key store fails: 503, the key is not called invalid.
	_ = keys.Close()
	if status, msg := callAPI(t, "GET", srv.URL+get, webhook, ""); status != 503 {
		t.Fatalf("closed key store: %d %q, want 503", status, msg)
	}
}

func callAPI(t *testing.T, method, url, key, account string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(insights.KeyHeader, key)
	if account != "" {
		req.Header.Set(insights.AccountHeader, account)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error
}
