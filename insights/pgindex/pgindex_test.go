package pgindex_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/insights/pgindex"
	"github.com/voicegw/voicegw/internal/pgtest"
)

func newDSN(t *testing.T) string {
	t.Helper()
	return pgtest.Shared(t).NewDatabase(t)
}

func TestConformance(t *testing.T) {
	insightstest.RunConformanceTests(t, func(t *testing.T) driver.Driver {
		d, err := pgindex.OpenDriver(context.Background(), newDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestDurableAndShared: what one gateway's index wrote, another gateway's
// (its own pool) finds, before and after the first closes; a pool the
// caller gave stays open after the index closes.
func TestDurableAndShared(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	one, err := pgindex.OpenIndex(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := one.Put(ctx, insightstest.Fixtures()...); err != nil {
		t.Fatal(err)
	}
	pool, err := pgindex.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	two, err := pgindex.NewIndex(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := one.Delete(ctx, insightstest.Account, "s-a2", insights.Day(2020, 9, 15)); err != nil {
		t.Fatal(err)
	}
	_ = one.Close()
	q, err := insights.ParseURLQuery(`from_date=2020-09-15&to_date=2020-09-18&filter_by={"must":[{"match":{"transcription.client":"shut"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	res, err := two.Search(ctx, insightstest.Account, q)
	if err != nil || res.Total != 4 {
		t.Fatalf("the other gateway: %v, %d hits", err, res.Total)
	}
	if _, err := two.Get(ctx, insightstest.Account, "s-a2", insights.Day(2020, 9, 15)); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("deleted session came back: %v", err)
	}
	var got *pgxpool.Pool
	if !two.As(&got) || got != pool {
		t.Fatal("As(**pgxpool.Pool) does not give the pool")
	}
	_ = two.Close()
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("closing the index closed the caller's pool: %v", err)
	}
}

// TestSameAsMemory: 3,000 generated sessions (the benchmarks' data, with
// real transcriptions) loaded with COPY, and the benchmark queries plus a
// set of random ones, give on PostgreSQL exactly what memindex gives: the
// same total and the same documents in the same order.
func TestSameAsMemory(t *testing.T) {
	ctx := t.Context()
	idx, err := pgindex.OpenIndex(ctx, newDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	mem := memindex.NewIndex()
	gen := insightstest.NewGenerator(3, 3000)
	if err := gen.Load(ctx, idx, 500, 2); err != nil {
		t.Fatal(err)
	}
	if err := gen.Load(ctx, mem, 500, 2); err != nil {
		t.Fatal(err)
	}
	queries := insightstest.BenchmarkQueries()
	for _, w := range []string{"refund", "please help", "the", "kalomi", "order cancel"} {
		for _, acct := range []string{"AC01", ""} {
			q := &insights.Query{From: insights.Day(2025, 3, 1), To: insights.Day(2025, 4, 15), PageSize: 25, PageNumber: 1,
				Filter: insights.Filter{Must: []insights.Clause{insights.Match("transcription.client", w)},
					MustNot: []insights.Clause{insights.Term("status", "in_progress")}},
				Sort: []insights.SortField{insights.Desc("channel_data.duration"), insights.Asc("agent_id")}}
			queries = append(queries, insightstest.NamedQuery{Name: w + "/" + acct, Account: acct, Query: q})
		}
	}
	found := 0
	for _, nq := range queries {
		t.Run(nq.Name, func(t *testing.T) {
			got, err := idx.Search(ctx, nq.Account, nq.Query)
			if err != nil {
				t.Fatal(err)
			}
			want, err := mem.Search(ctx, nq.Account, nq.Query)
			if err != nil {
				t.Fatal(err)
			}
			if got.Total != want.Total || len(got.Hits) != len(want.Hits) {
				t.Fatalf("total %d, %d hits; memindex %d, %d", got.Total, len(got.Hits), want.Total, len(want.Hits))
			}
			if want.Total > 0 {
				found++
			}
			for i := range got.Hits {
				if string(got.Hits[i]) != string(want.Hits[i]) {
					t.Fatalf("hit %d differs:\n%s\n%s", i, got.Hits[i], want.Hits[i])
				}
			}
		})
	}
	if found < 10 {
		t.Fatalf("only %d of %d queries find something: the test tests little", found, len(queries))
	}
	// Aggregations: the benchmarks' and a tree over tags, durations and
	// percentiles, on every account and one.
	aggs := insightstest.AggregationBenchmarkQueries()
	tree := insights.Aggregations{"by_tag": insights.TermsAgg("flow_data.collected_tags.tag", 5).
		Sub("by_agent", insights.TermsAgg("agent_id", 3).Sub("p", insights.PercentilesAgg("channel_data.duration"))).
		Sub("longest", insights.MaxAgg("channel_data.duration")).
		Sub("weekly", insights.DateHistogramAgg("session_start_time", insights.IntervalWeek))}
	for _, acct := range []string{"", "AC07"} {
		q := &insights.Query{From: insights.Day(2025, 7, 1), To: insights.Day(2025, 8, 29), NoHits: true, Aggs: tree,
			Filter: insights.Filter{MustNot: []insights.Clause{insights.Match("transcription.client", "refund")}}}
		aggs = append(aggs, insightstest.NamedQuery{Name: "tree/" + acct, Account: acct, Query: q})
	}
	for _, nq := range aggs {
		t.Run(nq.Name, func(t *testing.T) {
			got, err := idx.Search(ctx, nq.Account, nq.Query)
			if err != nil {
				t.Fatal(err)
			}
			want, err := mem.Search(ctx, nq.Account, nq.Query)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Fatalf("aggregations differ from memindex's:\n%s\n%s", g, w)
			}
			if want.Total == 0 {
				t.Fatal("nothing to aggregate: the test tests nothing")
			}
		})
	}
}

// TestConcurrentGateways: four gateways (pools) write batches, some of them
// the same sessions, while searching: every session is stored once, in its
// last version.
func TestConcurrentGateways(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	var idxs []*insights.Index
	for range 4 {
		idx, err := pgindex.OpenIndex(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = idx.Close() })
		idxs = append(idxs, idx)
	}
	day := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	session := func(i, version int) *insights.Session {
		return &insights.Session{ID: fmt.Sprintf("c-%03d", i), AccountID: "AC",
			SessionStartTime: insights.TimeOf(day.Add(time.Duration(i) * time.Minute)),
			ChannelData:      insights.ChannelData{Duration: int64(version)},
			Transcription:    []insights.Utterance{{Speaker: "client", Text: fmt.Sprintf("version v%d", version)}}}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g, idx := range idxs {
		wg.Go(func() {
			// Each gateway writes all 100 sessions (batches of 100: COPY;
			// then one at a time: upserts), version g.
			batch := make([]*insights.Session, 100)
			for i := range batch {
				batch[i] = session(i, g)
			}
			if err := idx.Put(ctx, batch...); err != nil {
				errs <- err
				return
			}
			for i := range 20 {
				if err := idx.Put(ctx, session(i, g)); err != nil {
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
	q := &insights.Query{From: insights.Day(2024, 5, 1), To: insights.Day(2024, 5, 1), PageSize: 200}
	res, err := idxs[0].Search(ctx, "AC", q)
	if err != nil || res.Total != 100 {
		t.Fatalf("%v, %d sessions; want 100, each once", err, res.Total)
	}
	for _, h := range res.Hits {
		s, err := h.Session()
		if err != nil {
			t.Fatal(err)
		}
		// The stored version is one the writers wrote, and its keys agree
		// with its document.
		v := s.ChannelData.Duration
		q := &insights.Query{From: q.From, To: q.To, Filter: insights.Filter{Must: []insights.Clause{
			insights.Term("id", s.ID), insights.Match("transcription.client", fmt.Sprintf("v%d", v))}}}
		if r, err := idxs[1].Search(ctx, "AC", q); err != nil || r.Total != 1 {
			t.Fatalf("session %s (version %d): its tokens do not match its document: %v, %d", s.ID, v, err, r.Total)
		}
	}
}

// TestLongValues: values longer than an index key may hold are matched
// exactly by term, and their tokens by match.
func TestLongValues(t *testing.T) {
	ctx := t.Context()
	idx, err := pgindex.OpenIndex(ctx, newDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	long := strings.Repeat("abcdefgh ", 400) // 3,600 bytes
	word := strings.Repeat("x", 5000)        // one token of 5,000 bytes
	day := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	mk := func(id, text string) *insights.Session {
		return &insights.Session{ID: id, AccountID: "AC", SessionStartTime: insights.TimeOf(day),
			Transcription: []insights.Utterance{{Speaker: "client", Text: text}}}
	}
	if err := idx.Put(ctx, mk("long", long), mk("longer", long+"z"), mk("word", word+" tail")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		clause insights.Clause
		want   int
	}{
		{insights.Term("transcription.client", long), 1},
		{insights.Term("transcription.client", long+"z"), 1},
		{insights.Term("transcription.client", long[:2000]), 0},
		{insights.Match("transcription.client", word), 1},
		{insights.Match("transcription.client", word+"x"), 0},
		{insights.Match("transcription.client", "abcdefgh"), 2},
	} {
		q := &insights.Query{From: insights.Day(2024, 5, 1), To: insights.Day(2024, 5, 1), Filter: insights.Filter{Must: []insights.Clause{tc.clause}}}
		res, err := idx.Search(ctx, "AC", q)
		if err != nil || res.Total != tc.want {
			t.Fatalf("%s %d bytes: %v, %d hits; want %d", tc.clause.Kind, len(tc.clause.Value.Text), err, res.Total, tc.want)
		}
	}
}

// TestLargeFacets: a session with hundreds of ID-field values (facets
// compressed, or out of the row) sorts and aggregates as in memindex.
func TestLargeFacets(t *testing.T) {
	ctx := t.Context()
	idx, err := pgindex.OpenIndex(ctx, newDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	mem := memindex.NewIndex()
	day := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	var ss []*insights.Session
	for i := range 5 {
		s := &insights.Session{ID: fmt.Sprint("s", i), AccountID: "AC", SessionStartTime: insights.TimeOf(day.Add(time.Duration(i) * time.Hour)),
			ChannelData: insights.ChannelData{Duration: int64(1000 * i)}}
		n := 2
		if i == 3 {
			n = 300
		}
		for j := range n {
			s.FlowData.CollectedTags = append(s.FlowData.CollectedTags, insights.Tag{Tag: fmt.Sprintf("tag-%03d", (j+i)%301), Category: "c"})
		}
		ss = append(ss, s)
	}
	for _, x := range []*insights.Index{idx, mem} {
		if err := x.Put(ctx, ss...); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []*insights.Query{
		{From: insights.Day(2024, 5, 1), To: insights.Day(2024, 5, 1), Sort: []insights.SortField{insights.Desc("flow_data.collected_tags.tag")}},
		{From: insights.Day(2024, 5, 1), To: insights.Day(2024, 5, 1), Sort: []insights.SortField{insights.Asc("flow_data.collected_tags.tag")}},
		{From: insights.Day(2024, 5, 1), To: insights.Day(2024, 5, 1), NoHits: true, Aggs: insights.Aggregations{
			"tags": insights.TermsAgg("flow_data.collected_tags.tag", 7).Sub("d", insights.SumAgg("channel_data.duration"))}},
	} {
		got, err := idx.Search(ctx, "AC", q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := mem.Search(ctx, "AC", q)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Fatalf("differs from memindex:\n%s\n%s", g, w)
		}
	}
}

// TestMigrationFindsPrebuiltIndex: a database at schema version 4 whose
// operator built step 5's index beforehand with CREATE INDEX CONCURRENTLY
// (the statement the package doc gives) migrates to the current version
// without error, keeping that one index.
func TestMigrationFindsPrebuiltIndex(t *testing.T) {
	ctx := t.Context()
	pool, err := pgindex.OpenPool(ctx, pgtest.Shared(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pgindex.MigrateTo(ctx, pool, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE INDEX CONCURRENTLY insights_sessions_account_start_dims ON insights_sessions (account, start) INCLUDE (f_status, f_agent_id, f_duration);`); err != nil {
		t.Fatal(err)
	}
	idx, err := pgindex.NewIndex(ctx, pool)
	if err != nil {
		t.Fatalf("migrating with the index built beforehand: %v", err)
	}
	if err := idx.Put(ctx, insightstest.Fixtures()...); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = 'insights_sessions' AND indexname LIKE 'insights_sessions_account_start%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 { // the slim (account, start) one and the prebuilt one
		t.Fatalf("%d (account, start) indexes, want 2", n)
	}
}

// TestMigrationFillsDimensions: sessions stored under schema version 1 (no
// dimension columns) get their columns filled by the migration to version
// 2, equal to those Put writes; aggregations over them then give the same
// results from the columns as from the facets, and as memindex.
func TestMigrationFillsDimensions(t *testing.T) {
	ctx := t.Context()
	srv := pgtest.Shared(t)
	// current: the sessions written by Put under the current schema.
	current, err := pgindex.OpenIndex(ctx, srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer current.Close()
	var cur *pgxpool.Pool
	current.As(&cur)
	mem := memindex.NewIndex()
	gen := insightstest.NewGenerator(5, 1500)
	for _, idx := range []*insights.Index{current, mem} {
		if err := idx.Put(ctx, insightstest.Fixtures()...); err != nil {
			t.Fatal(err)
		}
		if err := gen.Load(ctx, idx, 500, 1); err != nil {
			t.Fatal(err)
		}
	}
	// old: the same rows under schema version 1, as it stored them.
	old, err := pgindex.OpenPool(ctx, srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := pgindex.MigrateTo(ctx, old, 1); err != nil {
		t.Fatal(err)
	}
	copyRows := func(table string, cols ...string) {
		rows, err := cur.Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table+` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.CopyFrom(ctx, pgx.Identifier{table}, cols, &rowsSource{rows: rows}); err != nil {
			t.Fatal(err)
		}
	}
	copyRows("insights_paths", "pid", "path")
	copyRows("insights_sessions", "account", "id", "start", "keys", "facets", "doc")
	migrated, err := pgindex.NewIndex(ctx, old) // migrates to version 2
	if err != nil {
		t.Fatal(err)
	}
	dims := func(p *pgxpool.Pool) string {
		var s string
		if err := p.QueryRow(ctx, `SELECT string_agg(concat_ws('|', account, id, f_status::text, f_agent_id::text, f_duration::text), E'\n' ORDER BY account, id)
			FROM insights_sessions`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	want, got := dims(cur), dims(old)
	if got != want {
		t.Fatalf("columns after the migration differ from Put's:\n%.2000s\n---\n%.2000s", got, want)
	}
	var filled, agents int
	if err := old.QueryRow(ctx, `SELECT count(f_status), count(f_agent_id) FROM insights_sessions`).Scan(&filled, &agents); err != nil {
		t.Fatal(err)
	}
	if filled < 1500 || agents < 1500 {
		t.Fatalf("only %d sessions with f_status, %d with f_agent_id", filled, agents)
	}
	facets, err := pgindex.NewIndexReadingFacets(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	aggs := append(insightstest.AggregationBenchmarkQueries(), insightstest.NamedQuery{Name: "fixtures", Account: insightstest.Account,
		Query: &insights.Query{From: insights.Day(2020, 9, 1), To: insights.Day(2020, 10, 1), NoHits: true,
			Aggs: insights.Aggregations{"s": insights.TermsAgg("status", 5).Sub("d", insights.PercentilesAgg("channel_data.duration")).
				Sub("a", insights.AvgAgg("channel_data.duration"))}}})
	for i, nq := range aggs {
		if i < len(aggs)-1 { // the generator's sessions are in 2025
			q := *nq.Query
			q.From, q.To = insights.Day(2025, 1, 1), insights.Day(2025, 3, 1)
			nq.Query = &q
		}
		var out []string
		for _, idx := range []*insights.Index{migrated, facets, mem} {
			res, err := idx.Search(ctx, nq.Account, nq.Query)
			if err != nil {
				t.Fatal(err)
			}
			if res.Total == 0 {
				t.Fatalf("%s: nothing to aggregate", nq.Name)
			}
			b, _ := json.Marshal(res)
			out = append(out, string(b))
		}
		if out[0] != out[2] || out[1] != out[2] {
			t.Fatalf("%s: columns, facets and memindex differ:\n%s\n%s\n%s", nq.Name, out[0], out[1], out[2])
		}
	}
}

// rowsSource feeds the rows of a query to CopyFrom.
type rowsSource struct{ rows pgx.Rows }

func (r *rowsSource) Next() bool             { return r.rows.Next() }
func (r *rowsSource) Values() ([]any, error) { return r.rows.Values() }
func (r *rowsSource) Err() error             { return r.rows.Err() }

// TestLongAgentID: a session whose agent_id (a dimension column, kept in
// the row) is longer than a page is stored, alone and in a COPY batch, and
// found and aggregated by it.
func TestLongAgentID(t *testing.T) {
	ctx := t.Context()
	idx, err := pgindex.OpenIndex(ctx, newDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	agent := strings.Repeat("agent-0123456789", 600) // 9,600 bytes, more than a page
	day := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	batch := make([]*insights.Session, 0, 100)
	for i := range 100 {
		batch = append(batch, &insights.Session{ID: fmt.Sprintf("s%03d", i), AccountID: "AC", AgentID: agent, SessionStartTime: insights.TimeOf(day)})
	}
	if err := idx.Put(ctx, batch[0]); err != nil {
		t.Fatalf("Put of one session with a %d-byte agent_id: %v", len(agent), err)
	}
	if err := idx.Put(ctx, batch[1:]...); err != nil {
		t.Fatalf("Put of 99 sessions with a %d-byte agent_id: %v", len(agent), err)
	}
	q := &insights.Query{From: insights.Day(2024, 5, 1), To: insights.Day(2024, 5, 1), Filter: insights.Filter{Must: []insights.Clause{insights.Term("agent_id", agent)}}}
	if res, err := idx.Search(ctx, "AC", q); err != nil || res.Total != 100 {
		t.Fatalf("search by the long agent_id: %v, %v; want 100", res, err)
	}
}

// TestSortReadsDimensionColumns: a sort by status, agent_id or
// channel_data.duration (ascending and descending, with ties, sessions
// without the field, pages) gives memindex's order, read from the
// dimension columns alone: the sessions' keys and facets are emptied in
// the database after the load, and the order stays; the SQL before the
// columns (NewIndexReadingFacets), which reads them, then differs.
func TestSortReadsDimensionColumns(t *testing.T) {
	ctx := t.Context()
	idx, err := pgindex.OpenIndex(ctx, newDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	mem := memindex.NewIndex()
	seen := map[[2]string]bool{}
	var ss []*insights.Session // one version of each session: ties keep the order of the load
	for _, s := range insightstest.RandomSessions(rand.New(rand.NewPCG(18, 2)), 600) {
		if k := [2]string{s.AccountID, s.ID}; !seen[k] {
			seen[k] = true
			ss = append(ss, s)
		}
	}
	for _, x := range []*insights.Index{idx, mem} {
		if err := x.Put(ctx, ss...); err != nil {
			t.Fatal(err)
		}
	}
	var pool *pgxpool.Pool
	idx.As(&pool)
	if _, err := pool.Exec(ctx, `UPDATE insights_sessions SET keys = '{}', facets = '{}'`); err != nil {
		t.Fatal(err)
	}
	old, err := pgindex.NewIndexReadingFacets(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	oldDiffers := 0
	for _, path := range []string{"channel_data.duration", "status", "agent_id"} {
		for _, desc := range []bool{false, true} {
			for _, acct := range []string{"acct-r0", "acct-r1"} {
				for page := range 3 {
					name := fmt.Sprintf("%s/desc=%v/%s/page%d", path, desc, acct, page)
					q := &insights.Query{From: insights.Day(2021, 3, 1), To: insights.Day(2021, 3, 12), PageSize: 40, PageNumber: page,
						Sort: []insights.SortField{{Field: path, Desc: desc}, insights.Asc("id")}}
					got, err := idx.Search(ctx, acct, q)
					if err != nil {
						t.Fatal(err)
					}
					want, err := mem.Search(ctx, acct, q)
					if err != nil {
						t.Fatal(err)
					}
					if want.Total < 100 || len(want.Hits) != 40 {
						t.Fatalf("%s: memindex %d hits, %d on the page: the test tests little", name, want.Total, len(want.Hits))
					}
					if got.Total != want.Total || !slices.EqualFunc(got.Hits, want.Hits, func(a, b insights.Hit) bool { return string(a) == string(b) }) {
						t.Fatalf("%s: %d hits %v; memindex %d %v", name, got.Total, values(t, got.Hits, path), want.Total, values(t, want.Hits, path))
					}
					was, err := old.Search(ctx, acct, q)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.EqualFunc(was.Hits, want.Hits, func(a, b insights.Hit) bool { return string(a) == string(b) }) {
						oldDiffers++
					}
				}
			}
		}
	}
	if oldDiffers == 0 {
		t.Fatal("the sort without the columns gives the same order with the keys and facets emptied: the test proves nothing")
	}
}

// values returns each hit's value at a top-level or channel_data path, for
// messages.
func values(t *testing.T, hits []insights.Hit, path string) []string {
	var out []string
	for _, h := range hits {
		s, err := h.Session()
		if err != nil {
			t.Fatal(err)
		}
		switch path {
		case "status":
			out = append(out, s.Status)
		case "agent_id":
			out = append(out, s.AgentID)
		default:
			out = append(out, fmt.Sprint(s.ChannelData.Duration))
		}
	}
	return out
}

// TestIDInRow: a session's id is stored in its row, not in the TOAST table
// (schema version 4), so that a sort's tiebreak by id reads no TOAST. The
// check (an id's bytes as a TOAST chunk) finds them there when the column
// has the storage of versions 1–3.
func TestIDInRow(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		storage string
		inToast bool
	}{{"", false}, {"EXTENDED", true}} {
		t.Run("storage="+tc.storage, func(t *testing.T) {
			idx, err := pgindex.OpenIndex(ctx, newDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer idx.Close()
			var pool *pgxpool.Pool
			idx.As(&pool)
			if tc.storage != "" {
				if _, err := pool.Exec(ctx, `ALTER TABLE insights_sessions ALTER COLUMN id SET STORAGE `+tc.storage); err != nil {
					t.Fatal(err)
				}
			}
			if err := insightstest.NewGenerator(4, 300).Load(ctx, idx, 100, 1); err != nil {
				t.Fatal(err)
			}
			var toast string
			if err := pool.QueryRow(ctx, `SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'insights_sessions'::regclass`).Scan(&toast); err != nil {
				t.Fatal(err)
			}
			var sessions, inToast int
			if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM insights_sessions),
				(SELECT count(*) FROM insights_sessions s WHERE EXISTS (SELECT 1 FROM `+toast+` c WHERE c.chunk_data = convert_to(s.id, 'UTF8')))`).Scan(&sessions, &inToast); err != nil {
				t.Fatal(err)
			}
			if sessions != 300 || (inToast > 0) != tc.inToast {
				t.Fatalf("%d sessions, %d of their ids in the TOAST table (want some: %v)", sessions, inToast, tc.inToast)
			}
		})
	}
}

// TestPutRetriesDeadlock: a Put whose batch PostgreSQL rolls back to break
// a deadlock (another transaction holds the batch's second session and
// then asks for its first) is written again, whole: the Put succeeds and
// both sessions hold what it wrote.
func TestPutRetriesDeadlock(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	idx, err := pgindex.OpenIndex(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	fx := insightstest.Fixtures()[:2]
	if err := idx.Put(ctx, fx...); err != nil {
		t.Fatal(err)
	}
	pool, err := pgindex.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	deadlocks := func() int64 {
		var n int64
		if _, err := pool.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := deadlocks()

	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Rollback(ctx) }()
	if _, err := other.Exec(ctx, "SELECT 1 FROM insights_sessions WHERE id = $1 FOR UPDATE", fx[1].ID); err != nil {
		t.Fatal(err)
	}
	changed := make([]*insights.Session, len(fx))
	for i, s := range fx {
		c := *s
		c.Status = "changed-" + s.ID
		changed[i] = &c
	}
	done := make(chan error, 1)
	go func() { done <- idx.Put(ctx, changed...) }() // holds the first, waits for the second
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Put never waited for the second session")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The cycle: PostgreSQL's check runs first in the Put's backend (it
	// waited first), which rolls the Put's transaction back.
	if _, err := other.Exec(ctx, "SELECT 1 FROM insights_sessions WHERE id = $1 FOR UPDATE", fx[0].ID); err != nil {
		t.Fatalf("the other transaction was the one rolled back: %v", err)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Put after a deadlock: %v", err)
	}
	for _, c := range changed {
		got, err := idx.Get(ctx, c.AccountID, c.ID, insights.Day(2020, 9, 15))
		if err != nil || got.Status != c.Status {
			t.Fatalf("%s after the retried Put: %+v, %v; want status %q", c.ID, got, err, c.Status)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); deadlocks() == before; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("PostgreSQL reported no deadlock: the retry was not exercised")
		}
	}
}
