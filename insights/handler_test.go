package insights_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
)

// server starts the Insights API on loopback over the fixtures.
func server(t *testing.T) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	idx := memindex.NewIndex()
	t.Cleanup(func() { _ = idx.Close() })
	if err := idx.Put(context.Background(), insightstest.Fixtures()...); err != nil {
		t.Fatal(err)
	}
	odd := insights.NewCallSession(insights.CallRecord{SessionID: "a/b c?", AccountID: insightstest.Account, ApplicationID: "AP1",
		Start: time.Date(2020, 9, 1, 1, 0, 0, 0, time.UTC), End: time.Date(2020, 9, 1, 1, 1, 0, 0, time.UTC), Format: "wav"})
	if err := idx.Put(context.Background(), odd); err != nil {
		t.Fatal(err)
	}
	keys := insights.StaticKeys{"key-1": insightstest.Account, "key-2": insightstest.OtherAccount,
		"key-admin": insights.AllAccounts, "key-no-account": ""}
	// Keys with the privileges of rbac's default service types.
	types := rbac.DefaultServiceTypes()
	principals := map[string]*rbac.Principal{
		"key-webhook":     {Subject: "key:webhook", Scope: rbac.ScopeAccount, Account: insightstest.Account, Privileges: types["webhook"]},
		"key-sip":         {Subject: "key:sip", Scope: rbac.ScopeAccount, Account: insightstest.Account, Privileges: types["sip"]},
		"key-sp-1":        {Subject: "key:sp", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp-1", Privileges: types["api"]},
		"key-sp-1-reader": {Subject: "key:spr", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp-1", Privileges: types["insights"]},
		"key-scopeless":   {Subject: "key:scopeless", Account: insightstest.Account, Privileges: types["api"]},
	}
	var logs bytes.Buffer
	h := insights.NewHandler(insights.HandlerConfig{
		Index: idx,
		Keys: insights.KeyVerifierFunc(func(ctx context.Context, key secret.String) (*rbac.Principal, error) {
			switch key.Reveal() {
			case "key-broken-store":
				return nil, errors.New("key store unavailable: connection refused")
			case "key-revoked":
				return nil, fmt.Errorf("lookup: %w", rbac.ErrKeyRevoked)
			}
			if p, ok := principals[key.Reveal()]; ok {
				return p, nil
			}
			return keys.VerifyKey(ctx, key)
		}),
		Accounts: insights.AccountResolverFunc(func(_ context.Context, account string) (string, error) {
			switch account {
			case insightstest.Account:
				return "sp-1", nil
			case insightstest.OtherAccount:
				return "sp-2", nil
			case "acct-store-down":
				return "", errors.New("account store unavailable")
			}
			return "", fmt.Errorf("account %q: %w", account, insights.ErrNotFound)
		}),
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, &logs
}

func do(t *testing.T, method, u, key string) (int, []byte) {
	t.Helper()
	status, b, _ := doAs(t, method, u, key, "")
	return status, b
}

// doAs is do with an AccountHeader (when account is not empty); it also
// returns the response's headers.
func doAs(t *testing.T, method, u, key, account string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set(insights.KeyHeader, key)
	}
	if account != "" {
		req.Header.Set(insights.AccountHeader, account)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func TestHTTPSearchSeedExample(t *testing.T) {
	srv, _ := server(t)
	v, _ := url.ParseQuery(`from_date=2020-09-15&to_date=2020-09-17&page_number=0&page_size=100&sort_by=session_start_time:desc&filter_by={"must": [{"term": {"status":"ended"}}]}&project_fields=["agent_information"]`)
	status, body := do(t, http.MethodGet, srv.URL+"/insights/sessions?"+v.Encode(), "key-1")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range raw {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(keys, []string{"hits", "page_number", "page_size", "total"}) {
		t.Fatalf("response keys %v", keys)
	}
	if string(raw["total"]) != "4" || string(raw["page_size"]) != `"100"` || string(raw["page_number"]) != `"0"` {
		t.Fatalf("response %s", body)
	}
	var hits []map[string]map[string]string
	if err := json.Unmarshal(raw["hits"], &hits); err != nil || len(hits) != 4 {
		t.Fatalf("hits %s: %v", raw["hits"], err)
	}
	for i, want := range []string{"1234567", "7654321", "1234567", "1234567"} {
		if len(hits[i]) != 1 || hits[i]["agent_information"]["id"] != want {
			t.Fatalf("hit %d = %v, want only agent_information of agent %s", i, hits[i], want)
		}
	}
}

func TestHTTPClient(t *testing.T) {
	srv, _ := server(t)
	ctx := context.Background()
	c := insights.NewClient(srv.URL, "key-1")
	q := &insights.Query{From: insights.Day(2020, 9, 15), To: insights.Day(2020, 9, 18), PageSize: 50,
		Sort:   []insights.SortField{insights.Asc("channel_data.duration")},
		Filter: insights.Filter{Must: []insights.Clause{insights.Match("transcription.client", "Shut up")}}}
	res, err := c.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if ids := hitIDs(t, res); res.Total != 4 || !slices.Equal(ids, []string{"s-a3", "s-a1", "s-a4", "s-a6"}) || res.PageSize != 50 {
		t.Fatalf("total %d ids %v", res.Total, ids)
	}
	s, err := c.Get(ctx, "s-a1", insights.Day(2020, 9, 15))
	if err != nil || s.ID != "s-a1" || s.ChannelData.Duration != 30000 {
		t.Fatalf("Get: %v %+v", err, s)
	}
	if s, err := c.Get(ctx, "s-a1", insights.At(time.Date(2020, 9, 15, 18, 0, 0, 0, time.UTC))); err != nil || s.ID != "s-a1" {
		t.Fatalf("Get with an imprecise datetime: %v", err)
	}
	if _, err := c.Get(ctx, "s-a1", insights.Day(2020, 9, 14)); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Get on the wrong day: %v", err)
	}
	if s, err := c.Find(ctx, "s-a5"); err != nil || s.ID != "s-a5" {
		t.Fatalf("Find: %v", err)
	}
	if s, err := c.Find(ctx, "a/b c?"); err != nil || s.ChannelData.AudioURL != "acct-1/AP1/a/b c?.wav" {
		t.Fatalf("Find of an ID that needs escaping: %v %+v", err, s)
	}
	if _, err := c.Find(ctx, "nope"); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Find unknown: %v", err)
	}
	if err := c.Delete(ctx, "s-a2", insights.Day(2020, 9, 15)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.Get(ctx, "s-a2", insights.Day(2020, 9, 15)); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := c.Delete(ctx, "s-a2", insights.Day(2020, 9, 15)); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	// The client validates before sending.
	if _, err := c.Search(ctx, &insights.Query{From: insights.Day(2020, 9, 1), To: insights.Day(2020, 11, 1)}); !errors.Is(err, insights.ErrRangeTooLong) {
		t.Fatalf("61-day search: %v", err)
	}
}

func hitIDs(t *testing.T, res *insights.Result) []string {
	t.Helper()
	var ids []string
	for _, h := range res.Hits {
		s, err := h.Session()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	return ids
}

// TestHTTPAccountIsolation: a key of one account never sees, gets, finds or
// deletes another account's sessions.
func TestHTTPAccountIsolation(t *testing.T) {
	srv, _ := server(t)
	ctx := context.Background()
	other := insights.NewClient(srv.URL, "key-2")
	res, err := other.Search(ctx, &insights.Query{From: insights.Day(2020, 8, 1), To: insights.Day(2020, 9, 30), PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if ids := hitIDs(t, res); res.Total != 1 || !slices.Equal(ids, []string{"s-b1"}) {
		t.Fatalf("account 2 sees %d sessions: %v", res.Total, ids)
	}
	if _, err := other.Get(ctx, "s-a1", insights.Day(2020, 9, 15)); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Get of another account's session: %v", err)
	}
	if _, err := other.Find(ctx, "s-a1"); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Find of another account's session: %v", err)
	}
	if err := other.Delete(ctx, "s-a1", insights.Day(2020, 9, 15)); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Delete of another account's session: %v", err)
	}
	if _, err := insights.NewClient(srv.URL, "key-1").Get(ctx, "s-a1", insights.Day(2020, 9, 15)); err != nil {
		t.Fatalf("the owner lost its session: %v", err)
	}
	admin := insights.NewClient(srv.URL, "key-admin")
	res, err = admin.Search(ctx, &insights.Query{From: insights.Day(2020, 9, 16), To: insights.Day(2020, 9, 16)})
	if ids := hitIDs(t, res); err != nil || !slices.Equal(ids, []string{"s-a4", "s-b1", "s-a3"}) {
		t.Fatalf("an AllAccounts key sees %v (%v)", ids, err)
	}
}

func TestHTTPErrors(t *testing.T) {
	srv, logs := server(t)
	search := srv.URL + "/insights/sessions?"
	for _, tc := range []struct {
		name, method, url, key string
		status                 int
		mention                string
	}{
		{"no key", "GET", search + "from_date=2020-09-15&to_date=2020-09-16", "", 401, "X-Vgai-Key"},
		{"bad key", "GET", search + "from_date=2020-09-15&to_date=2020-09-16", "super-secret-wrong-key", 401, "invalid API key"},
		{"key without an account", "GET", search + "from_date=2020-09-15&to_date=2020-09-16", "key-no-account", 401, "invalid API key"},
		{"key store error", "GET", search + "from_date=2020-09-15&to_date=2020-09-16", "key-broken-store", 503, "unavailable"},
		{"key store error on delete", "DELETE", srv.URL + "/insights/sessions/s-a1?session_start_time=2020-09-15", "key-broken-store", 503, "unavailable"},
		{"revoked key", "GET", search + "from_date=2020-09-15&to_date=2020-09-16", "key-revoked", 401, "invalid API key"},
		{"key without a scope", "GET", search + "from_date=2020-09-15&to_date=2020-09-16", "key-scopeless", 401, "invalid API key"},
		{"bad key before not found", "GET", srv.URL + "/insights/sessions/search/nope", "wrong", 401, "invalid API key"},
		{"61 days", "GET", search + "from_date=2020-09-01&to_date=2020-11-01", "key-1", 401, "more than 60 days"},
		{"reversed", "GET", search + "from_date=2020-09-17&to_date=2020-09-15", "key-1", 401, "before from_date"},
		{"match on an ID field", "GET", search + "from_date=2020-09-15&to_date=2020-09-16&filter_by=" + url.QueryEscape(`{"must":[{"match":{"id":"x"}}]}`), "key-1", 401, "accepts only term"},
		{"seed 004's missing colon", "GET", search + "from_date=2020-09-15&to_date=2020-09-16&filter_by=" + url.QueryEscape(`{"should" []}`), "key-1", 401, "offset 10"},
		{"unknown sort direction", "GET", search + "from_date=2020-09-15&to_date=2020-09-16&sort_by=status:sideways", "key-1", 401, "sideways"},
		{"page size", "GET", search + "from_date=2020-09-15&to_date=2020-09-16&page_size=5000", "key-1", 401, "5000"},
		{"get without session_start_time", "GET", srv.URL + "/insights/sessions/s-a1/parameters", "key-1", 401, "session_start_time"},
		{"get with a bad session_start_time", "GET", srv.URL + "/insights/sessions/s-a1/parameters?session_start_time=soon", "key-1", 401, "soon"},
		{"get not found", "GET", srv.URL + "/insights/sessions/nope/parameters?session_start_time=2020-09-15", "key-1", 404, "not found"},
		{"delete without session_start_time", "DELETE", srv.URL + "/insights/sessions/s-a1", "key-1", 401, "session_start_time"},
		{"search by id not found", "GET", srv.URL + "/insights/sessions/search/nope", "key-1", 404, "not found"},
		{"unknown path", "GET", srv.URL + "/insights/sessions/a/b/c", "key-1", 404, "no such endpoint"},
		{"other prefix", "GET", srv.URL + "/insights/sessionsx", "key-1", 404, "no such endpoint"},
		{"POST search", "POST", search + "from_date=2020-09-15&to_date=2020-09-16", "key-1", 405, "POST"},
		{"GET on delete's path", "GET", srv.URL + "/insights/sessions/s-a1?session_start_time=2020-09-15", "key-1", 405, "GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, tc.url, tc.key)
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if status != tc.status || !strings.Contains(e.Error, tc.mention) {
				t.Fatalf("status %d %q, want %d mentioning %q", status, e.Error, tc.status, tc.mention)
			}
		})
	}
	if strings.Contains(logs.String(), "super-secret-wrong-key") {
		t.Fatal("the API key reached the log")
	}
	if !strings.Contains(logs.String(), "status=401") {
		t.Fatalf("failures not logged: %s", logs)
	}
	// The client maps statuses to errors.
	_, err := insights.NewClient(srv.URL, "wrong").Find(context.Background(), "s-a1")
	var apiErr *insights.APIError
	if !errors.Is(err, insights.ErrUnauthorized) || !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("client with a bad key: %v", err)
	}
}

func TestHTTPDeleteAndGet(t *testing.T) {
	srv, _ := server(t)
	status, body := do(t, "GET", srv.URL+"/insights/sessions/s-a4/parameters?session_start_time=2020-09-16T20:45:10.500000", "key-1")
	var s insights.Session
	if status != 200 || json.Unmarshal(body, &s) != nil || s.ID != "s-a4" {
		t.Fatalf("get: %d %s", status, body)
	}
	if status, body := do(t, "DELETE", srv.URL+"/insights/sessions/s-a4?session_start_time=2020-09-16", "key-1"); status != 204 || len(body) != 0 {
		t.Fatalf("delete: %d %s", status, body)
	}
	if status, _ := do(t, "GET", srv.URL+"/insights/sessions/search/s-a4", "key-1"); status != 404 {
		t.Fatalf("find after delete: %d", status)
	}
}

func TestHandlerMisconfigured(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    insights.HandlerConfig
		status int
	}{
		{"no KeyVerifier", insights.HandlerConfig{Index: memindex.NewIndex()}, 401},
		{"no Index", insights.HandlerConfig{Keys: insights.StaticKeys{"k": "a"}}, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(insights.NewHandler(tc.cfg))
			defer srv.Close()
			if status, body := do(t, "GET", srv.URL+"/insights/sessions/search/x", "k"); status != tc.status {
				t.Fatalf("status %d %s, want %d", status, body, tc.status)
			}
		})
	}
}

// TestHTTPPrivileges: a key may do only what its principal's privileges and
// reach allow, whatever account it names.
func TestHTTPPrivileges(t *testing.T) {
	srv, logs := server(t)
	search := srv.URL + "/insights/sessions?from_date=2020-09-15&to_date=2020-09-17"
	get := srv.URL + "/insights/sessions/s-a1/parameters?session_start_time=2020-09-15"
	find := srv.URL + "/insights/sessions/search/s-a1"
	del := srv.URL + "/insights/sessions/s-a1?session_start_time=2020-09-15"
	for _, tc := range []struct {
		name, method, url, key, account string
		status                          int
		mention                         string
	}{
		{"read-only key searches", "GET", search, "key-webhook", "", 200, ""},
		{"read-only key gets", "GET", get, "key-webhook", "", 200, ""},
		{"read-only key finds", "GET", find, "key-webhook", "", 200, ""},
		{"read-only key deletes", "DELETE", del, "key-webhook", "", 403, "may not delete sessions"},
		{"sip key searches", "GET", search, "key-sip", "", 403, "may not read sessions"},
		{"sip key finds", "GET", find, "key-sip", "", 403, "may not read sessions"},
		{"sip key deletes", "DELETE", del, "key-sip", "", 403, "may not delete sessions"},
		{"account key naming its own account", "GET", find, "key-1", insightstest.Account, 200, ""},
		{"account key naming another account", "GET", find, "key-2", insightstest.Account, 403, `"acct-1" is outside`},
		{"account key of another account", "GET", find, "key-2", "", 404, "not found"},
		{"account key of another account deletes", "DELETE", del, "key-2", "", 404, "not found"},
		{"provider key without an account", "GET", search, "key-sp-1", "", 403, insights.AccountHeader},
		{"provider key, its provider's account", "GET", find, "key-sp-1", insightstest.Account, 200, ""},
		{"provider key, another provider's account", "GET", srv.URL + "/insights/sessions/search/s-b1", "key-sp-1", insightstest.OtherAccount, 403, `"acct-2" is outside`},
		{"provider key, unknown account", "GET", find, "key-sp-1", "acct-nobody", 403, `"acct-nobody" is outside`},
		{"provider key, account store down", "GET", find, "key-sp-1", "acct-store-down", 503, "unavailable"},
		{"read-only provider key deletes", "DELETE", del, "key-sp-1-reader", insightstest.Account, 403, "may not delete sessions"},
		{"admin key naming an account", "GET", srv.URL + "/insights/sessions/search/s-b1", "key-admin", insightstest.Account, 404, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := doAs(t, tc.method, tc.url, tc.key, tc.account)
			if status != tc.status {
				t.Fatalf("status %d %s, want %d", status, body, tc.status)
			}
			var e struct{ Error string }
			if tc.mention != "" && (json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, tc.mention)) {
				t.Fatalf("body %s does not mention %q", body, tc.mention)
			}
		})
	}
	// Nothing was deleted by the refused keys.
	if status, body := do(t, "GET", get, "key-1"); status != 200 {
		t.Fatalf("s-a1 after refused deletes: %d %s", status, body)
	}
	if !strings.Contains(logs.String(), "privilege not granted") {
		t.Fatalf("the refusal's reason is not logged: %s", logs)
	}
	// A provider key with the privilege deletes in its provider's account.
	if status, body, _ := doAs(t, "DELETE", del, "key-sp-1", insightstest.Account); status != 204 {
		t.Fatalf("provider key delete: %d %s", status, body)
	}
	if status, _ := do(t, "GET", get, "key-1"); status != 404 {
		t.Fatalf("s-a1 after the provider's delete: %d", status)
	}
}

// TestHTTPClientStatuses: the client maps 403 and 503 to errors callers can
// match, and tells a retryable failure.
func TestHTTPClientStatuses(t *testing.T) {
	srv, _ := server(t)
	ctx := context.Background()
	err := insights.NewClient(srv.URL, "key-webhook").Delete(ctx, "s-a1", insights.Day(2020, 9, 15))
	var apiErr *insights.APIError
	if !errors.Is(err, insights.ErrForbidden) || !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Retryable() {
		t.Fatalf("read-only key deleting: %v", err)
	}
	if !strings.Contains(err.Error(), "may not delete sessions") {
		t.Fatalf("403 error does not say why: %v", err)
	}
	_, err = insights.NewClient(srv.URL, "key-broken-store").Find(ctx, "s-a1")
	if !errors.Is(err, insights.ErrUnavailable) || errors.Is(err, insights.ErrUnauthorized) || !errors.As(err, &apiErr) ||
		!apiErr.Retryable() || apiErr.RetryAfter != time.Second {
		t.Fatalf("key store down: %v (%+v)", err, apiErr)
	}
	_, err = insights.NewClient(srv.URL, "wrong").Find(ctx, "s-a1")
	if !errors.As(err, &apiErr) || apiErr.Retryable() {
		t.Fatalf("401 is retryable: %v", err)
	}
	// The status codes a client must not retry, and those it may.
	for code, want := range map[int]bool{400: false, 401: false, 403: false, 404: false, 500: false, 429: true, 502: true, 503: true, 504: true} {
		if got := (&insights.APIError{StatusCode: code}).Retryable(); got != want {
			t.Errorf("Retryable(%d) = %v", code, got)
		}
	}
	// The handler's 503 carries Retry-After.
	status, _, hdr := doAs(t, "GET", srv.URL+"/insights/sessions/search/s-a1", "key-broken-store", "")
	if n, err := strconv.Atoi(hdr.Get("Retry-After")); status != 503 || err != nil || n < 1 {
		t.Fatalf("503 without Retry-After: %d %q", status, hdr.Get("Retry-After"))
	}
}
