package insightstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
)

// Opener returns a new, empty driver for one test; the suite closes it.
type Opener func(t *testing.T) driver.Driver

// RunConformanceTests runs the whole suite against the driver open returns.
func RunConformanceTests(t *testing.T, open Opener) {
	t.Run("SeedExampleQueries", func(t *testing.T) { testQueries(t, open, seedCases()) })
	t.Run("Semantics", func(t *testing.T) { testQueries(t, open, semanticCases()) })
	t.Run("Projection", func(t *testing.T) { testProjection(t, open) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, open) })
	t.Run("GetFindDelete", func(t *testing.T) { testGetFindDelete(t, open) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, open) })
	t.Run("Validation", func(t *testing.T) { testValidation(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open) })
	t.Run("MatchesEvaluate", func(t *testing.T) { testRandom(t, open) })
	t.Run("Close", func(t *testing.T) { testClose(t, open) })
	t.Run("ResultsAreCopies", func(t *testing.T) { testCopies(t, open) })
	t.Run("Aggregations", func(t *testing.T) { testAggregations(t, open) })
	t.Run("AggregationTimeZones", func(t *testing.T) { testAggregationTimeZones(t, open) })
	t.Run("AggregationsMatchEvaluate", func(t *testing.T) { testAggregationsMatchEvaluate(t, open) })
	t.Run("Usage", func(t *testing.T) { testUsage(t, open) })
	t.Run("ClauseLimits", func(t *testing.T) { testClauseLimits(t, open) })
	t.Run("RecordedCalls", func(t *testing.T) { testRecordedCalls(t, open) })
}

// newIndex opens a driver, wraps it and indexes the fixtures.
func newIndex(t *testing.T, open Opener) *insights.Index {
	t.Helper()
	idx := insights.NewIndex(open(t))
	t.Cleanup(func() { _ = idx.Close() })
	if err := idx.Put(context.Background(), Fixtures()...); err != nil {
		t.Fatal(err)
	}
	return idx
}

type queryCase struct {
	name    string
	account string
	// raw is the URL query as seed 004 writes it (unencoded JSON).
	raw string
	// ids are the expected hits' IDs in order; for projected hits
	// without id, field names the field whose values are listed.
	ids   []string
	field string
	total int
}

const septRange = "from_date=2020-09-15&to_date=2020-09-18&page_size=100&"

func seedCases() []queryCase {
	logFields := `&project_fields=["session_start_time", "agent_id", "source", "channel_data.duration"]`
	agents := `&filter_by={"should": [
{"term": {"agent_id": "agent-1"}},
{"term": {"agent_id": "agent-2"}}
]}`
	return []queryCase{
		{name: "first 100 ended, 15th to 17th September, newest first, agent_information",
			account: Account,
			raw:     `from_date=2020-09-15&to_date=2020-09-17&page_number=0&page_size=100&sort_by=session_start_time:desc&filter_by={"must": [{"term": {"status":"ended"}}]}&project_fields=["agent_information"]`,
			field:   "agent_information.id", ids: []string{"1234567", "7654321", "1234567", "1234567"}, total: 4},
		{name: "results 30-40 of 20th August 2020", account: Account,
			raw: `from_date=2020-08-20&to_date=2020-08-20&page_number=3&page_size=10`,
			ids: []string{"day-04", "day-03", "day-02", "day-01", "day-00"}, total: 35},
		{name: "general call logs", account: Account,
			raw:   `from_date=2020-08-20&to_date=2020-08-20&page_size=5&page_number=0` + logFields,
			field: "source", ids: []string{"5550034", "5550033", "5550032", "5550031", "5550030"}, total: 35},
		{name: "call logs for one or more agents", account: Account,
			raw:   `from_date=2020-08-20&to_date=2020-08-20&page_size=10&page_number=0` + logFields + agents,
			field: "source", ids: []string{"5550034", "5550033", "5550031", "5550030", "5550028", "5550027", "5550025", "5550024", "5550022", "5550021"}, total: 24},
		{name: "call logs for agents by longest duration", account: Account,
			raw:   `from_date=2020-08-20&to_date=2020-08-20&page_size=10&page_number=0` + logFields + `&sort_by="channel_data.duration:desc"` + agents,
			field: "source", ids: []string{"5550004", "5550006", "5550010", "5550012", "5550016", "5550018", "5550022", "5550024", "5550028", "5550030"}, total: 24},
		{name: "agent 1234567 where the client said shut up", account: Account,
			raw: septRange + `filter_by={"must": [{"term": {"agent_information.id": "1234567"}}, {"match": {"transcription.client": "shut up"}}]}`,
			ids: []string{"s-a6", "s-a3", "s-a1"}, total: 3},
		{name: "agent 1234567 where the client said shut up, every account", account: "",
			raw: septRange + `filter_by={"must": [{"term": {"agent_information.id": "1234567"}}, {"match": {"transcription.client": "shut up"}}]}`,
			ids: []string{"s-a6", "s-b1", "s-a3", "s-a1"}, total: 4},
		{name: "tagged cat, dog and rat", account: Account,
			raw: septRange + `filter_by={"must": [{"term": {"flow_data.collected_tags.tag": "cat"}}, {"term": {"flow_data.collected_tags.tag": "dog"}}, {"term": {"flow_data.collected_tags.tag": "rat"}}]}`,
			ids: []string{"s-a3", "s-a1"}, total: 2},
		// With a must clause, should only ranks (Elasticsearch): every call
		// from the number matches, those with request 22 or 44 first.
		{name: "from 9726666666, request 22 or 44 ranked first", account: Account,
			raw: septRange + `filter_by={"must": [{"term": {"source": "9726666666"}}], "should": [{"term": {"request_ids": "22"}}, {"term": {"request_ids": "44"}}]}`,
			ids: []string{"s-a2", "s-a1", "s-a6", "s-a5", "s-a3"}, total: 5},
		{name: "all calls except tagged invalid", account: Account,
			raw: septRange + `filter_by={"must_not": [{"term": {"flow_data.collected_tags.tag": "invalid"}}]}`,
			ids: []string{"s-a6", "s-a4", "s-a2", "s-a1"}, total: 4},
		{name: "sort session_start_time:desc", account: Account,
			raw: septRange + `sort_by=session_start_time:desc`,
			ids: []string{"s-a6", "s-a5", "s-a4", "s-a3", "s-a2", "s-a1"}, total: 6},
		// Seed 004 writes agent_information:asc for "agent name"; sorting on an
		// object is refused (see the Validation test), the leaf works.
		{name: "sort agent name asc, status desc", account: Account,
			raw: septRange + `sort_by=agent_information.name:asc,status:desc`,
			ids: []string{"s-a4", "s-a3", "s-a1", "s-a2", "s-a5", "s-a6"}, total: 6},
	}
}

func semanticCases() []queryCase {
	f := func(filter string) string { return septRange + "filter_by=" + filter }
	all := []string{"s-a6", "s-a5", "s-a4", "s-a3", "s-a2", "s-a1"}
	return []queryCase{
		{name: "term is exact on the whole value", account: Account,
			raw: f(`{"must":[{"term":{"transcription.client":"shut up"}}]}`), ids: []string{"s-a6"}, total: 1},
		{name: "match is lowercase, any token", account: Account,
			raw: f(`{"must":[{"match":{"transcription.client":"SHUT"}}]}`), ids: []string{"s-a6", "s-a4", "s-a3", "s-a1"}, total: 4},
		{name: "match segments Unicode words", account: Account,
			raw: f(`{"must":[{"match":{"transcription.client":"münchen"}}]}`), ids: []string{"s-a4"}, total: 1},
		{name: "match folds Unicode case", account: Account,
			raw: f(`{"must":[{"match":{"transcription.client":"QUÉ GRÜSSE"}}]}`), ids: []string{"s-a4"}, total: 1},
		{name: "match without tokens matches nothing", account: Account,
			raw: f(`{"must":[{"match":{"transcription.client":"!!!"}}]}`), ids: nil, total: 0},
		{name: "must_not match without tokens excludes nothing", account: Account,
			raw: f(`{"must_not":[{"match":{"transcription.client":"!!!"}}]}`), ids: all, total: 6},
		{name: "term number", account: Account,
			raw: f(`{"must":[{"term":{"channel_data.duration":30000}}]}`), ids: []string{"s-a1"}, total: 1},
		{name: "term number as string", account: Account,
			raw: f(`{"must":[{"term":{"channel_data.duration":"30000"}}]}`), ids: []string{"s-a1"}, total: 1},
		{name: "term on a missing field", account: Account,
			raw: f(`{"must":[{"term":{"no.such.field":"x"}}]}`), ids: nil, total: 0},
		{name: "should without must requires one", account: Account,
			raw: f(`{"should":[{"term":{"request_ids":"22"}},{"term":{"request_ids":"44"}}]}`), ids: []string{"s-a4", "s-a2", "s-a1"}, total: 3},
		// One should clause whose tokens a session holds twice over: one hit.
		{name: "should match with several tokens of one session", account: Account,
			raw: f(`{"should":[{"match":{"transcription.client":"please listen"}}]}`), ids: []string{"s-a1"}, total: 1},
		{name: "should with must_not and no must requires one", account: Account,
			raw: f(`{"must_not":[{"term":{"flow_data.collected_tags.tag":"invalid"}}],"should":[{"term":{"flow_data.collected_tags.tag":"cat"}}]}`), ids: []string{"s-a2", "s-a1"}, total: 2},
		{name: "single clause object instead of a list", account: Account,
			raw: f(`{"must":{"term":{"status":"in_progress"}}}`), ids: []string{"s-a3"}, total: 1},
		{name: "long forms", account: Account,
			raw: f(`{"must":[{"term":{"status":{"value":"in_progress"}}},{"match":{"transcription.client":{"query":"up"}}}]}`), ids: []string{"s-a3"}, total: 1},
		{name: "array field sorts by its smallest value ascending", account: Account,
			raw: septRange + "sort_by=request_ids:asc", ids: []string{"s-a1", "s-a4", "s-a2", "s-a3", "s-a5", "s-a6"}, total: 6},
		{name: "array field sorts by its largest value descending", account: Account,
			raw: septRange + "sort_by=request_ids:desc", ids: []string{"s-a3", "s-a2", "s-a1", "s-a4", "s-a5", "s-a6"}, total: 6},
		{name: "numbers sort numerically", account: Account,
			raw: septRange + "sort_by=channel_data.duration:asc", ids: []string{"s-a3", "s-a5", "s-a1", "s-a4", "s-a6", "s-a2"}, total: 6},
		{name: "missing field sorts last, then the tiebreak", account: Account,
			raw: septRange + "sort_by=no.such.field:desc", ids: []string{"s-a1", "s-a2", "s-a3", "s-a4", "s-a5", "s-a6"}, total: 6},
		{name: "instants bound the range inclusively", account: Account,
			raw: "from_date=2020-09-15T12:30:00&to_date=2020-09-16T08:15:00", ids: []string{"s-a3", "s-a2"}, total: 2},
		{name: "a date to_date covers the whole day", account: Account,
			raw: "from_date=2020-09-17&to_date=2020-09-17", ids: []string{"s-a5"}, total: 1},
		{name: "page past the end", account: Account,
			raw: "from_date=2020-09-15&to_date=2020-09-18&page_number=5&page_size=10", ids: nil, total: 6},
		{name: "another account sees only its own", account: OtherAccount,
			raw: septRange + `filter_by={"must":[{"term":{"source":"9726666666"}}]}`, ids: []string{"s-b1"}, total: 1},
		{name: "unknown account sees nothing", account: "acct-none",
			raw: septRange, ids: nil, total: 0},
		{name: "seed document: match in the agent's transcription", account: SeedAccount,
			raw: `from_date=2020-10-08&to_date=2020-10-08&filter_by={"must":[{"match":{"transcription.5f7f2f337340dc7249f81406":"Shut up!"}}]}`,
			ids: []string{"8ae433e8-7bc1-41a0-b0a6-0cccc30cbc36"}, total: 1},
		{name: "seed document: term on request_ids and a tag count", account: SeedAccount,
			raw: `from_date=2020-10-08&to_date=2020-10-08&filter_by={"must":[{"term":{"request_ids":"db2a0259-92fa-4067-a50c-728689276c58"}},{"term":{"tags.ddbc05ccbc48431d898104ac5e5b561a.three":2}},{"term":{"flow_path.type":"param_completion"}}]}`,
			ids: []string{"8ae433e8-7bc1-41a0-b0a6-0cccc30cbc36"}, total: 1},
		{name: "seed document: wrong tag count", account: SeedAccount,
			raw: `from_date=2020-10-08&to_date=2020-10-08&filter_by={"must":[{"term":{"tags.ddbc05ccbc48431d898104ac5e5b561a.three":1}}]}`,
			ids: nil, total: 0},
	}
}

// parseRaw decodes a query written as seed 004 writes it, and checks that
// its encoded form decodes to the same query.
func parseRaw(t *testing.T, raw string) *insights.Query {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("url.ParseQuery(%s): %v", raw, err)
	}
	q, err := insights.QueryFromValues(v)
	if err != nil {
		t.Fatalf("QueryFromValues(%s): %v", raw, err)
	}
	q2, err := insights.ParseURLQuery(q.Encode())
	if err != nil {
		t.Fatalf("re-encoded %s: %v", q.Encode(), err)
	}
	if !reflect.DeepEqual(q, q2) {
		t.Fatalf("encode/decode changed the query:\n%+v\n%+v", q, q2)
	}
	return q
}

func testQueries(t *testing.T, open Opener, cases []queryCase) {
	idx := newIndex(t, open)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := parseRaw(t, tc.raw)
			res, err := idx.Search(context.Background(), tc.account, q)
			if err != nil {
				t.Fatal(err)
			}
			field := tc.field
			if field == "" {
				field = "id"
			}
			got := values(t, res.Hits, field)
			if res.Total != tc.total || !slices.Equal(got, tc.ids) {
				t.Fatalf("total %d, %s %q; want total %d, %q", res.Total, field, got, tc.total, tc.ids)
			}
			ref, err := insights.Evaluate(Fixtures(), tc.account, q)
			if err != nil {
				t.Fatal(err)
			}
			if !sameResult(ref, res) {
				t.Fatalf("differs from insights.Evaluate: %s vs %s", mustJSON(res), mustJSON(ref))
			}
		})
	}
}

// values returns, for each hit, the value at a dotted path (which must be
// a scalar, present once).
func values(t *testing.T, hits []insights.Hit, path string) []string {
	t.Helper()
	var out []string
	for _, h := range hits {
		var v any
		if err := json.Unmarshal(h, &v); err != nil {
			t.Fatal(err)
		}
		for seg := range strings.SplitSeq(path, ".") {
			m, _ := v.(map[string]any)
			v = m[seg]
		}
		out = append(out, fmt.Sprint(v))
	}
	return out
}

func sameResult(a, b *insights.Result) bool {
	if a.Total != b.Total || a.PageSize != b.PageSize || a.PageNumber != b.PageNumber || len(a.Hits) != len(b.Hits) {
		return false
	}
	for i := range a.Hits {
		var x, y any
		if json.Unmarshal(a.Hits[i], &x) != nil || json.Unmarshal(b.Hits[i], &y) != nil || !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func testProjection(t *testing.T, open Opener) {
	idx := newIndex(t, open)
	var seed map[string]any
	if err := json.Unmarshal(seedDocument, &seed); err != nil {
		t.Fatal(err)
	}
	flowData := seed["flow_data"].(map[string]any)
	agent := seed["agent_information"].(map[string]any)
	for _, tc := range []struct {
		name, fields string
		want         map[string]any
	}{
		{"agent_information and flow_data subtrees", `["agent_information","flow_data"]`,
			map[string]any{"agent_information": agent, "flow_data": flowData}},
		{"agent name, collected tags and status", `["agent_information.name","flow_data.collected_tags","status"]`,
			map[string]any{"agent_information": map[string]any{"name": "oriprod2"}, "flow_data": map[string]any{"collected_tags": flowData["collected_tags"]}, "status": "ended"}},
		{"a field inside an array of objects", `["flow_path.type","id"]`,
			map[string]any{"id": seed["id"], "flow_path": []any{
				map[string]any{"type": "start"}, map[string]any{"type": "speak"}, map[string]any{"type": "speak"},
				map[string]any{"type": "param_completion"}, map[string]any{"type": "speak"}, map[string]any{"type": "end_call"}}}},
		{"paths that name nothing", `["nothing","id.deeper"]`, map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := parseRaw(t, "from_date=2020-10-08&to_date=2020-10-08&project_fields="+tc.fields)
			res, err := idx.Search(context.Background(), SeedAccount, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Hits) != 1 {
				t.Fatalf("%d hits", len(res.Hits))
			}
			var got any
			if err := json.Unmarshal(res.Hits[0], &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, any(tc.want)) {
				t.Fatalf("got %s\nwant %s", res.Hits[0], mustJSON(tc.want))
			}
		})
	}
}

func testPaging(t *testing.T, open Opener) {
	idx := newIndex(t, open)
	ctx := context.Background()
	for _, sort := range []string{"", "&sort_by=channel_data.duration:desc", "&sort_by=agent_id:asc,source:desc"} {
		full, err := idx.Search(ctx, Account, parseRaw(t, "from_date=2020-08-19&to_date=2020-08-21&page_size=100"+sort))
		if err != nil {
			t.Fatal(err)
		}
		var paged []insights.Hit
		for p := 0; ; p++ {
			res, err := idx.Search(ctx, Account, parseRaw(t, fmt.Sprintf("from_date=2020-08-19&to_date=2020-08-21&page_size=7&page_number=%d%s", p, sort)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != full.Total || res.PageSize != 7 || res.PageNumber != p {
				t.Fatalf("page %d: total %d size %d number %d", p, res.Total, res.PageSize, res.PageNumber)
			}
			if len(res.Hits) == 0 {
				break
			}
			paged = append(paged, res.Hits...)
		}
		if full.Total != 37 || !slices.EqualFunc(values(t, paged, "id"), values(t, full.Hits, "id"), func(a, b string) bool { return a == b }) {
			t.Fatalf("sort %q: pages %v differ from one page %v", sort, values(t, paged, "id"), values(t, full.Hits, "id"))
		}
	}
}

func testGetFindDelete(t *testing.T, open Opener) {
	idx := newIndex(t, open)
	ctx := context.Background()
	sept15 := insights.Day(2020, 9, 15)
	s, err := idx.Get(ctx, Account, "s-a1", sept15)
	if err != nil || s.ID != "s-a1" || s.Transcription[1].Text != "Please shut up and listen" {
		t.Fatalf("Get by day: %v, %+v", err, s)
	}
	// A datetime need not be precise: the day counts.
	if s, err := idx.Get(ctx, Account, "s-a1", insights.At(time.Date(2020, 9, 15, 23, 0, 0, 0, time.UTC))); err != nil || s.ID != "s-a1" {
		t.Fatalf("Get by imprecise datetime: %v", err)
	}
	for _, tc := range []struct {
		name, account, id string
		day               insights.Bound
	}{
		{"wrong day", Account, "s-a1", insights.Day(2020, 9, 16)},
		{"other account", OtherAccount, "s-a1", sept15},
		{"unknown id", Account, "nope", sept15},
	} {
		t.Run("Get "+tc.name, func(t *testing.T) {
			if _, err := idx.Get(ctx, tc.account, tc.id, tc.day); !errors.Is(err, insights.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})
	}
	if _, err := idx.Get(ctx, "", "s-b1", insights.Day(2020, 9, 16)); err != nil {
		t.Fatalf("Get in every account: %v", err)
	}
	if s, err := idx.Find(ctx, Account, "s-a5"); err != nil || s.ID != "s-a5" {
		t.Fatalf("Find: %v", err)
	}
	if _, err := idx.Find(ctx, OtherAccount, "s-a5"); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Find in another account: %v", err)
	} else if msg := err.Error(); strings.Count(msg, "insights:") != 1 || !strings.Contains(msg, `"s-a5"`) {
		t.Fatalf("Find in another account: error %q, want the ID and the package named once", msg)
	}
	if _, err := idx.Get(ctx, Account, "s-a1", insights.Bound{}); !errors.Is(err, insights.ErrInvalidQuery) {
		t.Fatalf("Get without start: %v", err)
	}

	if err := idx.Delete(ctx, OtherAccount, "s-a2", sept15); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Delete from another account: %v", err)
	}
	if err := idx.Delete(ctx, Account, "s-a2", insights.Day(2020, 9, 16)); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Delete on the wrong day: %v", err)
	}
	if err := idx.Delete(ctx, Account, "s-a2", sept15); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := idx.Delete(ctx, Account, "s-a2", sept15); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := idx.Get(ctx, Account, "s-a2", sept15); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if _, err := idx.Find(ctx, Account, "s-a2"); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("Find after Delete: %v", err)
	}
	res, err := idx.Search(ctx, Account, parseRaw(t, septRange+`filter_by={"must":[{"term":{"request_ids":"44"}}]}`))
	if err != nil || res.Total != 0 {
		t.Fatalf("search after delete: %v %+v", err, res)
	}
	res, err = idx.Search(ctx, Account, parseRaw(t, septRange+"sort_by=channel_data.duration:desc"))
	if err != nil || !slices.Equal(values(t, res.Hits, "id"), []string{"s-a6", "s-a4", "s-a1", "s-a5", "s-a3"}) {
		t.Fatalf("sorted search after delete: %v %v", err, values(t, res.Hits, "id"))
	}
}

func testReplace(t *testing.T, open Opener) {
	idx := newIndex(t, open)
	ctx := context.Background()
	s, err := idx.Find(ctx, Account, "s-a3")
	if err != nil {
		t.Fatal(err)
	}
	s.Status = "ended"
	s.ChannelData.CallStatus = "ended"
	s.SessionStartTime = insights.TimeOf(time.Date(2020, 9, 17, 1, 0, 0, 0, time.UTC))
	s.Transcription = append(s.Transcription, insights.Utterance{Speaker: "client", Text: "goodbye"})
	if err := idx.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Get(ctx, Account, "s-a3", insights.Day(2020, 9, 16)); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("old start time still found: %v", err)
	}
	res, err := idx.Search(ctx, Account, parseRaw(t, septRange+`filter_by={"must":[{"term":{"status":"in_progress"}}]}`))
	if err != nil || res.Total != 0 {
		t.Fatalf("replaced version still matches: %v %+v", err, res)
	}
	res, err = idx.Search(ctx, Account, parseRaw(t, septRange+`filter_by={"must":[{"match":{"transcription.client":"goodbye"}}]}`))
	if err != nil || !slices.Equal(values(t, res.Hits, "id"), []string{"s-a3"}) {
		t.Fatalf("new version: %v %+v", err, res)
	}
	res, err = idx.Search(ctx, Account, parseRaw(t, septRange))
	if err != nil || res.Total != 6 {
		t.Fatalf("replace changed the count: %v %d", err, res.Total)
	}
	if err := idx.Put(ctx, &insights.Session{ID: "x"}); !errors.Is(err, insights.ErrInvalidSession) {
		t.Fatalf("session without start: %v", err)
	}
	if err := idx.Put(ctx, &insights.Session{SessionStartTime: insights.TimeOf(time.Now())}); !errors.Is(err, insights.ErrInvalidSession) {
		t.Fatalf("session without id: %v", err)
	}
}

func testValidation(t *testing.T, open Opener) {
	idx := newIndex(t, open)
	for _, tc := range []struct {
		name string
		q    insights.Query
		want error
	}{
		{"object sort as in seed 004", insights.Query{From: insights.Day(2020, 9, 15), To: insights.Day(2020, 9, 17), Sort: []insights.SortField{insights.Asc("agent_information"), insights.Desc("status")}}, insights.ErrInvalidSort},
		{"61 days", insights.Query{From: insights.Day(2020, 9, 1), To: insights.Day(2020, 11, 1)}, insights.ErrRangeTooLong},
		{"reversed", insights.Query{From: insights.Day(2020, 9, 17), To: insights.Day(2020, 9, 15)}, insights.ErrReversedRange},
		{"match on an ID field", insights.Query{From: insights.Day(2020, 9, 15), To: insights.Day(2020, 9, 17), Filter: insights.Filter{Must: []insights.Clause{insights.Match("source", "972")}}}, insights.ErrMatchOnIDField},
		{"no range", insights.Query{}, insights.ErrMissingRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := idx.Search(context.Background(), Account, &tc.q)
			if !errors.Is(err, tc.want) || !errors.Is(err, insights.ErrInvalidQuery) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func testConcurrent(t *testing.T, open Opener) {
	idx := newIndex(t, open)
	ctx := context.Background()
	q := parseRaw(t, `from_date=2020-07-01&to_date=2020-07-01&sort_by=channel_data.duration:desc&filter_by={"must":[{"match":{"transcription.client":"hello"}}]}`)
	aq := parseRaw(t, `from_date=2020-07-01&to_date=2020-07-01&page_size=0&filter_by={"must":[{"match":{"transcription.client":"hello"}}]}`+
		`&aggs={"hours":{"date_histogram":{"field":"session_start_time","calendar_interval":"hour"},"aggs":{"d":{"terms":{"field":"channel_data.duration","size":1}},"sum":{"sum":{"field":"channel_data.duration"}}}}}`)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				s := &insights.Session{ID: fmt.Sprintf("c-%d-%d", w, i), AccountID: Account,
					SessionStartTime: insights.TimeOf(time.Date(2020, 7, 1, w, i, 0, 0, time.UTC)),
					ChannelData:      insights.ChannelData{Duration: int64(i)},
					Transcription:    []insights.Utterance{{Speaker: "client", Text: "hello there"}}}
				if err := idx.Put(ctx, s); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for i := range 25 {
				qq := q
				if i%2 == 1 {
					qq = aq
				}
				if _, err := idx.Search(ctx, Account, qq); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	res, err := idx.Search(ctx, Account, q)
	if err != nil || res.Total != 100 {
		t.Fatalf("after concurrent puts: %v, total %d", err, res.Total)
	}
	res, err = idx.Search(ctx, Account, aq)
	if err != nil || res.Total != 100 {
		t.Fatalf("aggregations after concurrent puts: %v, total %d", err, res.Total)
	}
	var per []string
	for _, b := range res.Aggregations["hours"].Buckets {
		per = append(per, fmt.Sprintf("%d:%d:%v", b.DocCount, b.Aggregations["d"].Buckets[0].DocCount, *b.Aggregations["sum"].Value))
	}
	// Hour w holds minutes 0..24 of writer w: durations 0..24 (24 with a
	// duration, since 0 is omitted), summing to 300; the top duration has
	// one session.
	if !slices.Equal(per, []string{"25:1:300", "25:1:300", "25:1:300", "25:1:300"}) {
		t.Fatalf("aggregations after concurrent puts: %v", per)
	}
}

func testClose(t *testing.T, open Opener) {
	idx := insights.NewIndex(open(t))
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idx.Put(context.Background(), Fixtures()...); !errors.Is(err, insights.ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if _, err := idx.Search(context.Background(), "", &insights.Query{From: insights.Day(2020, 1, 1), To: insights.Day(2020, 1, 2)}); !errors.Is(err, insights.ErrClosed) {
		t.Fatalf("Search after Close: %v", err)
	}
}

// testRandom compares the driver with insights.Evaluate on random sessions
// and random queries.
func testRandom(t *testing.T, open Opener) {
	rng := rand.New(rand.NewPCG(7, 11))
	sessions := RandomSessions(rng, 250)
	idx := insights.NewIndex(open(t))
	t.Cleanup(func() { _ = idx.Close() })
	if err := idx.Put(context.Background(), sessions...); err != nil {
		t.Fatal(err)
	}
	for i := range 250 {
		q := RandomQuery(rng)
		account := []string{"", "acct-r0", "acct-r1", "acct-r2"}[rng.IntN(4)]
		got, err := idx.Search(context.Background(), account, q)
		if err != nil {
			t.Fatalf("query %d %s: %v", i, q.Encode(), err)
		}
		want, err := insights.Evaluate(sessions, account, q)
		if err != nil {
			t.Fatal(err)
		}
		if !sameResult(got, want) {
			t.Fatalf("query %d (account %q) %s:\n got total %d %v\nwant total %d %v", i, account, q.Encode(),
				got.Total, values(t, got.Hits, "id"), want.Total, values(t, want.Hits, "id"))
		}
	}
}

// The vocabularies of RandomSessions and RandomQuery.
func words() []string {
	return []string{"hello", "refund", "cancel", "Order", "shipping", "thanks", "agent", "münchen", "ÉTÉ", "don't", "1.5", "no"}
}
func agents() []string  { return []string{"agent-1", "agent-2", "agent-3", "agent-4"} }
func tagVals() []string { return []string{"cat", "dog", "rat", "invalid", "27000"} }

// RandomSessions generates n sessions over 10 days of 2021, three accounts,
// with small vocabularies so that queries hit: for randomized tests.
func RandomSessions(rng *rand.Rand, n int) []*insights.Session {
	words, agents, tagVals := words(), agents(), tagVals()
	base := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*insights.Session, n)
	for i := range out {
		s := &insights.Session{
			ID:               fmt.Sprintf("r-%04d", rng.IntN(n*2)),
			AccountID:        fmt.Sprintf("acct-r%d", rng.IntN(3)),
			SessionStartTime: insights.TimeOf(base.Add(time.Duration(rng.Int64N(int64(10 * 24 * time.Hour))))),
			Status:           []string{"ended", "in_progress", ""}[rng.IntN(3)],
			AgentID:          agents[rng.IntN(len(agents))],
			Source:           fmt.Sprintf("+1555%d", rng.IntN(5)),
			ChannelData:      insights.ChannelData{Duration: int64(rng.IntN(5) * 1000)},
		}
		if rng.IntN(4) == 0 {
			s.ChannelData.Duration = 0 // missing
		}
		for range rng.IntN(4) {
			text := ""
			for range 1 + rng.IntN(4) {
				text += words[rng.IntN(len(words))] + " "
			}
			s.Transcription = append(s.Transcription, insights.Utterance{Speaker: []string{"client", "agent"}[rng.IntN(2)], Text: text})
		}
		for range rng.IntN(3) {
			s.FlowData.CollectedTags = append(s.FlowData.CollectedTags, insights.Tag{Tag: tagVals[rng.IntN(len(tagVals))], Category: "c"})
		}
		for range rng.IntN(3) {
			s.RequestIDs = append(s.RequestIDs, fmt.Sprint(rng.IntN(6)))
		}
		out[i] = s
	}
	return out
}

// RandomQuery generates a valid query over RandomSessions' fields.
func RandomQuery(rng *rand.Rand) *insights.Query {
	words, agents, tagVals := words(), agents(), tagVals()
	day := 1 + rng.IntN(10)
	q := &insights.Query{
		From:     insights.Day(2021, 3, day),
		To:       insights.Day(2021, 3, min(day+rng.IntN(10), 12)),
		PageSize: 1 + rng.IntN(30), PageNumber: rng.IntN(3),
	}
	if rng.IntN(3) == 0 {
		q.From = insights.At(time.Date(2021, 3, day, rng.IntN(24), 0, 0, 0, time.UTC))
	}
	clause := func() insights.Clause {
		switch rng.IntN(7) {
		case 0:
			return insights.Term("status", []string{"ended", "in_progress"}[rng.IntN(2)])
		case 1:
			return insights.Term("agent_id", agents[rng.IntN(len(agents))])
		case 2:
			return insights.Term("flow_data.collected_tags.tag", tagVals[rng.IntN(len(tagVals))])
		case 3:
			return insights.Term("request_ids", rng.IntN(6)) // a number against strings
		case 4:
			return insights.Term("channel_data.duration", rng.IntN(5)*1000)
		case 5:
			return insights.Match("transcription."+[]string{"client", "agent"}[rng.IntN(2)], words[rng.IntN(len(words))]+" "+words[rng.IntN(len(words))])
		default:
			return insights.Term("source", fmt.Sprintf("+1555%d", rng.IntN(5)))
		}
	}
	for range rng.IntN(3) {
		q.Filter.Must = append(q.Filter.Must, clause())
	}
	for range rng.IntN(2) {
		q.Filter.MustNot = append(q.Filter.MustNot, clause())
	}
	for range rng.IntN(3) {
		q.Filter.Should = append(q.Filter.Should, clause())
	}
	sorts := []string{"session_start_time", "channel_data.duration", "request_ids", "flow_data.collected_tags.tag", "status", "agent_id", "_score", "id", "account_id", "transcription.client"}
	for range rng.IntN(3) {
		q.Sort = append(q.Sort, insights.SortField{Field: sorts[rng.IntN(len(sorts))], Desc: rng.IntN(2) == 0})
	}
	if rng.IntN(4) == 0 {
		q.Fields = []string{"id", "channel_data"}
	}
	return q
}

// testCopies: changing what Search, Get and Find returned does not change
// the index.
func testCopies(t *testing.T, open Opener) {
	idx := newIndex(t, open)
	ctx := context.Background()
	q := parseRaw(t, septRange+`filter_by={"must":[{"term":{"id":"s-a1"}}]}`)
	res, err := idx.Search(ctx, Account, q)
	if err != nil || len(res.Hits) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	clear(res.Hits[0])
	raw, err := idx.GetJSON(ctx, Account, "s-a1", insights.Day(2020, 9, 15))
	if err != nil {
		t.Fatal(err)
	}
	clear(raw)
	raw, err = idx.FindJSON(ctx, Account, "s-a1")
	if err != nil {
		t.Fatal(err)
	}
	clear(raw)
	res, err = idx.Search(ctx, Account, q)
	if err != nil || len(res.Hits) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	if s, err := res.Hits[0].Session(); err != nil || s.ID != "s-a1" {
		t.Fatalf("the index changed with a returned result: %v %q", err, res.Hits[0])
	}
}
