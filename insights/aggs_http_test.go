package insights_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/rbac/secret"
)

// rbacServer starts the Insights API over the fixtures on loopback, with
// API keys from rbac's KeyStore (the real key store, in memory) and accounts
// acct-1 and the seed's account in service provider sp-1, acct-2 in sp-2.
// It returns the secrets of keys by name.
func rbacServer(t *testing.T) (*httptest.Server, *insights.Index, map[string]string) {
	t.Helper()
	ctx := context.Background()
	idx := insights.NewIndex(memindex.NewDriver())
	t.Cleanup(func() { _ = idx.Close() })
	if err := idx.Put(ctx, insightstest.Fixtures()...); err != nil {
		t.Fatal(err)
	}
	keys := memstore.NewKeyStore(nil)
	t.Cleanup(func() { _ = keys.Close() })
	secrets := map[string]string{}
	for _, k := range []rbac.NewAPIKey{
		{Name: "analytics", ServiceType: "insights", Account: insightstest.Account},
		{Name: "hooks", ServiceType: "webhook", Account: insightstest.Account},
		{Name: "provider", ServiceType: "insights", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp-1"},
		{Name: "platform", ServiceType: "api", Scope: rbac.ScopeAdmin},
	} {
		k.CreatorEmail = "ops@example.com"
		ck, err := keys.Create(ctx, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		secrets[k.Name] = ck.Secret.Reveal()
	}
	providers := map[string]string{insightstest.Account: "sp-1", insightstest.SeedAccount: "sp-1", insightstest.OtherAccount: "sp-2"}
	h := insights.NewHandler(insights.HandlerConfig{
		Index: idx,
		Keys:  keys, // rbac's KeyStore is an insights.KeyVerifier
		Accounts: insights.AccountResolverFunc(func(_ context.Context, account string) (string, error) {
			if sp, ok := providers[account]; ok {
				return sp, nil
			}
			return "", fmt.Errorf("account %q: %w", account, insights.ErrNotFound)
		}),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, idx, secrets
}

const usageRange = "from_date=2020-08-15&to_date=2020-10-10"

func TestHTTPUsage(t *testing.T) {
	srv, idx, keys := rbacServer(t)
	ctx := context.Background()
	from, to := insights.Day(2020, 8, 15), insights.Day(2020, 10, 10)
	every, err := idx.Usage(ctx, "", from, to)
	if err != nil {
		t.Fatal(err)
	}
	accountsOf := func(days []insights.DailyUsage) []string {
		var out []string
		for _, d := range days {
			if !slices.Contains(out, d.AccountID) {
				out = append(out, d.AccountID)
			}
		}
		return out
	}
	if got := accountsOf(every.Days); !slices.Equal(got, []string{"5f7f277cf090a7001116fabe", "acct-1", "acct-2"}) {
		t.Fatalf("fixture accounts %v", got)
	}
	only := func(accounts ...string) []insights.DailyUsage {
		out := []insights.DailyUsage{}
		for _, d := range every.Days {
			if slices.Contains(accounts, d.AccountID) {
				out = append(out, d)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name, key, account, query string
		status                    int
		want                      []insights.DailyUsage
		mention                   string
	}{
		{"account key: its own account", "analytics", "", usageRange, 200, only(insightstest.Account), ""},
		{"account key naming its account", "analytics", insightstest.Account, usageRange, 200, only(insightstest.Account), ""},
		{"account key naming another account", "analytics", insightstest.OtherAccount, usageRange, 403, nil, "outside this API key's reach"},
		{"key without Usage Read", "hooks", "", usageRange, 403, nil, "may not read usage"},
		{"provider key: every account of its provider", "provider", "", usageRange, 200, only(insightstest.Account, insightstest.SeedAccount), ""},
		{"provider key naming one of its accounts", "provider", insightstest.SeedAccount, usageRange, 200, only(insightstest.SeedAccount), ""},
		{"provider key naming another provider's account", "provider", insightstest.OtherAccount, usageRange, 403, nil, "outside"},
		{"provider key naming an unknown account", "provider", "acct-nope", usageRange, 403, nil, "outside"},
		{"administrator key: every account", "platform", "", usageRange, 200, every.Days, ""},
		{"administrator key naming an account", "platform", insightstest.OtherAccount, usageRange, 200, only(insightstest.OtherAccount), ""},
		{"no key", "", "", usageRange, 401, nil, "missing"},
		{"a range over 60 days", "analytics", "", "from_date=2020-08-01&to_date=2020-10-10", 401, nil, "more than 60 days"},
		{"no range", "analytics", "", "", 401, nil, "required"},
		{"a search parameter", "analytics", "", usageRange + "&page_size=10", 401, nil, `unknown parameter \"page_size\"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := keys[tc.key]
			if tc.key == "" {
				key = ""
			}
			status, body, _ := doAs(t, http.MethodGet, srv.URL+"/insights/usage?"+tc.query, key, tc.account)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.status != 200 {
				if !strings.Contains(string(body), tc.mention) {
					t.Fatalf("body %s does not mention %q", body, tc.mention)
				}
				return
			}
			var rep insights.UsageReport
			if err := json.Unmarshal(body, &rep); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rep.Days, tc.want) || rep.From != from || rep.To != to {
				t.Fatalf("usage %+v\nwant %+v", rep, tc.want)
			}
			if len(tc.want) == 0 {
				t.Fatal("the case expects no usage: it tests nothing")
			}
		})
	}
	if status, _, h := doAs(t, http.MethodPost, srv.URL+"/insights/usage?"+usageRange, keys["analytics"], ""); status != 405 || h.Get("Allow") != "GET" {
		t.Fatalf("POST: %d %v", status, h)
	}

	// The Go client.
	c := insights.NewClient(srv.URL, secret.String(keys["provider"]))
	rep, err := c.Usage(ctx, from, to)
	if err != nil || !reflect.DeepEqual(rep.Days, only(insightstest.Account, insightstest.SeedAccount)) {
		t.Fatalf("Client.Usage: %v %+v", err, rep)
	}
	c.Account = insightstest.OtherAccount
	if _, err := c.Usage(ctx, from, to); !errors.Is(err, insights.ErrForbidden) {
		t.Fatalf("Client.Usage of another provider's account: %v", err)
	}
	c = insights.NewClient(srv.URL, secret.String(keys["hooks"]))
	if _, err := c.Usage(ctx, from, to); !errors.Is(err, insights.ErrForbidden) {
		t.Fatalf("Client.Usage without Usage Read: %v", err)
	}
	if _, err := c.Usage(ctx, insights.Day(2020, 8, 1), insights.Day(2020, 11, 1)); !errors.Is(err, insights.ErrRangeTooLong) {
		t.Fatalf("Client.Usage validates first: %v", err)
	}
}

func TestHTTPAggregations(t *testing.T) {
	srv, idx, keys := rbacServer(t)
	ctx := context.Background()
	const aggs = `{"calls_per_day":{"date_histogram":{"field":"session_start_time","calendar_interval":"day"},"aggs":{"by_status":{"terms":{"field":"status"}}}},` +
		`"per_application":{"terms":{"field":"agent_id","size":100},"aggs":{"avg_duration":{"avg":{"field":"channel_data.duration"}}}}}`
	search := func(raw, key string) (int, map[string]json.RawMessage, []byte) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		status, body := do(t, http.MethodGet, srv.URL+"/insights/sessions?"+v.Encode(), key)
		var m map[string]json.RawMessage
		if status == 200 {
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
		}
		return status, m, body
	}
	q, err := insights.ParseURLQuery("from_date=2020-09-15&to_date=2020-09-18&aggs=" + url.QueryEscape(aggs))
	if err != nil {
		t.Fatal(err)
	}
	direct, err := idx.Search(ctx, insightstest.Account, q)
	if err != nil {
		t.Fatal(err)
	}
	wantAggs, _ := json.Marshal(direct.Aggregations)

	// Hits and aggregations.
	status, m, body := search("from_date=2020-09-15&to_date=2020-09-18&aggs="+aggs, keys["analytics"])
	if status != 200 || string(m["total"]) != "6" || string(m["aggregations"]) != string(wantAggs) {
		t.Fatalf("status %d: %s\nwant aggregations %s", status, body, wantAggs)
	}
	var hits []json.RawMessage
	if err := json.Unmarshal(m["hits"], &hits); err != nil || len(hits) != 6 {
		t.Fatalf("hits %s", m["hits"])
	}
	if !strings.Contains(string(m["aggregations"]), `"by_status":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[{"key":"ended","doc_count":2}]}`) {
		t.Fatalf("aggregations %s", m["aggregations"])
	}
	// page_size=0: no hits.
	status, m, body = search("from_date=2020-09-15&to_date=2020-09-18&page_size=0&aggs="+aggs, keys["analytics"])
	if status != 200 || string(m["hits"]) != "[]" || string(m["page_size"]) != `"0"` || string(m["total"]) != "6" || string(m["aggregations"]) != string(wantAggs) {
		t.Fatalf("no hits: %d %s", status, body)
	}
	// A bad aggregation is a bad parameter (401, as seed 004 answers), named.
	status, _, body = search(`from_date=2020-09-15&to_date=2020-09-18&aggs={"words":{"terms":{"field":"transcription.client"}}}`, keys["analytics"])
	if status != 401 || !strings.Contains(string(body), `aggs \"words\": terms on \"transcription.client\"`) {
		t.Fatalf("bad aggregation: %d %s", status, body)
	}
	// Aggregations need what a search needs.
	if status, _, body := search("from_date=2020-09-15&to_date=2020-09-18&aggs="+aggs, "no-such-key"); status != 401 {
		t.Fatalf("unknown key: %d %s", status, body)
	}
	// Another account's key sees its own sessions only.
	status, m, body = search(`from_date=2020-09-15&to_date=2020-09-18&page_size=0&aggs={"accounts":{"terms":{"field":"account_id"}}}`, keys["analytics"])
	if status != 200 || !strings.Contains(string(m["aggregations"]), `"buckets":[{"key":"acct-1","doc_count":6}]`) {
		t.Fatalf("account scope: %d %s", status, body)
	}

	// The Go client: the results carry their kinds.
	c := insights.NewClient(srv.URL, secret.String(keys["analytics"]))
	q.NoHits = true
	res, err := c.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 6 || len(res.Hits) != 0 || !reflect.DeepEqual(res.Aggregations, direct.Aggregations) {
		t.Fatalf("client: total %d, %d hits, aggregations\n%+v\nwant\n%+v", res.Total, len(res.Hits), res.Aggregations, direct.Aggregations)
	}
	if r := res.Aggregations["per_application"].Buckets[0].Aggregations["avg_duration"]; r.Kind != insights.AggAvg || r.Value == nil {
		t.Fatalf("avg_duration %+v", r)
	}
}
