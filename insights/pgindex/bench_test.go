package pgindex_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/pgindex"
	"github.com/voicegw/voicegw/internal/pgtest"
)

// benchSessions is the size of the benchmark index: 1,000,000 unless
// INSIGHTS_BENCH_SESSIONS says otherwise.
func benchSessions(b *testing.B) int {
	if s := os.Getenv("INSIGHTS_BENCH_SESSIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1_000_000
}

// benchSet says which of gen's sessions the benchmark index holds and how
// it is built, from the environment:
//
//   - INSIGHTS_BENCH_WINDOW=2025-05-01/2025-07-01: only the sessions that
//     start in that window (the generator spreads its sessions evenly, so
//     NewGenerator(1, 10_000_000) with this window is the 1.67 million
//     sessions that a 10-million-session year holds in the months the
//     query benchmarks read; the other months are not loaded).
//   - INSIGHTS_BENCH_INDEXES=keep: the indexes stay during the load (each
//     session indexed as it is written, as a gateway does), instead of
//     being dropped and built again after it.
//   - INSIGHTS_BENCH_INDEXES=nogin: dropped, and built again without the
//     GIN index of keys: for the aggregation benchmarks, whose queries have
//     no filter clause and never read it.
func benchSet(b *testing.B, gen *insightstest.Generator) (lo, hi int, indexes, descr string) {
	lo, hi = 0, gen.Len()
	if w := os.Getenv("INSIGHTS_BENCH_WINDOW"); w != "" {
		f, t, ok := strings.Cut(w, "/")
		from, err1 := time.Parse(time.DateOnly, f)
		to, err2 := time.Parse(time.DateOnly, t)
		if !ok || err1 != nil || err2 != nil {
			b.Fatalf("INSIGHTS_BENCH_WINDOW=%q: want 2025-05-01/2025-07-01", w)
		}
		lo = sort.Search(gen.Len(), func(i int) bool { return !gen.Start(i).Before(from) })
		hi = sort.Search(gen.Len(), func(i int) bool { return !gen.Start(i).Before(to) })
	}
	indexes = os.Getenv("INSIGHTS_BENCH_INDEXES")
	switch indexes {
	case "", "keep", "nogin":
	default:
		b.Fatalf("INSIGHTS_BENCH_INDEXES=%q: want keep or nogin", indexes)
	}
	return lo, hi, indexes, fmt.Sprintf("sessions [%d, %d) of %d from %s every %s, indexes %q",
		lo, hi, gen.Len(), gen.Start(0).Format(time.RFC3339), gen.Start(1).Sub(gen.Start(0)), indexes)
}

// benchIndex returns an index of gen's sessions (see benchSet), and the
// pool it uses (one connection, so the server's CPU per query can be
// read). The database is the connection string in the environment variable
// env, reused when it holds the same set already (table
// insights_bench_set says which) and loaded otherwise, or a fresh database
// of the test server (internal/pgtest: fsync off). A load ends with VACUUM
// ANALYZE.
func benchIndex(b *testing.B, gen *insightstest.Generator, env string) (*insights.Index, *pgxpool.Pool) {
	ctx := context.Background()
	lo, hi, indexes, descr := benchSet(b, gen)
	dsn := os.Getenv(env)
	if dsn == "" {
		dsn = pgtest.Shared(b).NewDatabase(b)
	}
	load, err := pgindex.OpenIndex(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	var pool *pgxpool.Pool
	load.As(&pool)
	var have string
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS insights_bench_set (descr text NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(descr), '') FROM insights_bench_set`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have == descr {
		b.Logf("reusing the database: %s", descr)
	} else {
		for _, q := range []string{`TRUNCATE insights_sessions`, `TRUNCATE insights_bench_set`} {
			if _, err := pool.Exec(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		var defs []string
		if indexes != "keep" {
			defs = dropIndexes(b, pool)
		}
		t0, c0, s0 := time.Now(), insightstest.CPUTime(), serverCPU(b)
		if err := loadRange(ctx, gen, load, lo, hi); err != nil {
			b.Fatal(err)
		}
		el := time.Since(t0)
		m := hi - lo
		b.Logf("loaded %d sessions in %s (%.0f sessions/s), %.0f client CPU-µs/session, %.0f server CPU-µs/session", m, el.Round(time.Second),
			float64(m)/el.Seconds(), float64(insightstest.CPUTime()-c0)/float64(m)/1e3, float64(serverCPU(b)-s0)/float64(m)/1e3)
		for _, def := range defs {
			if indexes == "nogin" && strings.Contains(def, "USING gin") {
				b.Logf("not built: %s", def)
				continue
			}
			t0 := time.Now()
			if _, err := pool.Exec(ctx, def); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: %s", def, time.Since(t0).Round(time.Second))
		}
		t0 = time.Now()
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE insights_sessions`); err != nil {
			b.Fatal(err)
		}
		b.Logf("VACUUM ANALYZE in %s", time.Since(t0).Round(time.Second))
		if _, err := pool.Exec(ctx, `INSERT INTO insights_bench_set VALUES ($1)`, descr); err != nil {
			b.Fatal(err)
		}
	}
	var table, total int64
	if err := pool.QueryRow(ctx, `SELECT pg_table_size('insights_sessions'), pg_total_relation_size('insights_sessions')`).Scan(&table, &total); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d sessions: table %.2f GB, with its indexes %.2f GB", hi-lo, float64(table)/1e9, float64(total)/1e9)
	_ = load.Close()

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	idx, err := pgindex.NewIndex(ctx, pool)
	if err != nil {
		b.Fatal(err)
	}
	return idx, pool
}

// loadRange puts gen's sessions [lo, hi) into idx in batches of 5,000 on
// two goroutines, as Generator.Load does for [0, n).
func loadRange(ctx context.Context, gen *insightstest.Generator, idx *insights.Index, lo, hi int) error {
	const batch = 5000
	next := make(chan int)
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			var err error
			for from := range next {
				if err != nil {
					continue // drain
				}
				ss := make([]*insights.Session, 0, batch)
				for i := from; i < min(from+batch, hi); i++ {
					ss = append(ss, gen.Session(i))
				}
				err = idx.Put(ctx, ss...)
			}
			errs <- err
		})
	}
	for from := lo; from < hi; from += batch {
		next <- from
	}
	close(next)
	wg.Wait()
	close(errs)
	return errors.Join(<-errs, <-errs)
}

// dropIndexes drops the indexes of insights_sessions that no constraint
// owns and returns the statements that build them again.
func dropIndexes(b *testing.B, pool *pgxpool.Pool) []string {
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
		WHERE i.indrelid = 'insights_sessions'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`)
	if err != nil {
		b.Fatal(err)
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			b.Fatal(err)
		}
		names, defs = append(names, name), append(defs, def)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	for _, name := range names {
		if _, err := pool.Exec(ctx, `DROP INDEX `+name); err != nil {
			b.Fatal(err)
		}
	}
	return defs
}

// serverCPU returns the CPU time used so far by every process of the test
// server (0 when the benchmarks use another server).
func serverCPU(b *testing.B) time.Duration {
	if os.Getenv("INSIGHTS_BENCH_PG") != "" || os.Getenv("INSIGHTS_BENCH_PG_60D") != "" {
		return 0
	}
	return pgtest.Shared(b).CPUTime()
}

// backendCPU returns the CPU time used so far by the server process of the
// pool's one connection (0 when it cannot be read: another host).
func backendCPU(b *testing.B, pool *pgxpool.Pool) time.Duration {
	var pid int
	if err := pool.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		b.Fatal(err)
	}
	return pgtest.ProcessCPUTime(pid)
}

// BenchmarkQuery1M times the queries of insightstest.BenchmarkQueries on a
// PostgreSQL index of 1,000,000 generated sessions, over one connection:
// wall time per query, this process's CPU and the server backend's CPU.
// With INSIGHTS_BENCH_FACETS=1, each query also runs as "facets/…" on an
// index that sorts as schema version 1 did (a sort by
// channel_data.duration from the keys, by status or agent_id from the
// facets), and go test -v logs both plans.
func BenchmarkQuery1M(b *testing.B) {
	ctx := context.Background()
	idx, pool := benchIndex(b, insightstest.NewGenerator(1, benchSessions(b)), "INSIGHTS_BENCH_PG")
	defer idx.Close()
	for _, v := range benchVariants(b, idx, pool) {
		for _, nq := range insightstest.BenchmarkQueries() {
			b.Run(v.prefix+nq.Name, func(b *testing.B) {
				res, err := v.idx.Search(ctx, nq.Account, nq.Query)
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("%s: %d hits", nq.Name, res.Total)
				cpu, srv := insightstest.CPUTime(), backendCPU(b, pool)
				for b.Loop() {
					if _, err := v.idx.Search(ctx, nq.Account, nq.Query); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(insightstest.CPUTime()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
				b.ReportMetric(float64(backendCPU(b, pool)-srv)/float64(b.N)/1e3, "server-cpu-µs/op")
			})
		}
		if testing.Verbose() {
			explain(b, pool, v.prefix != "")
		}
	}
}

// benchVariant is an index the benchmarks time, and the prefix of its
// sub-benchmarks' names.
type benchVariant struct {
	prefix string
	idx    *insights.Index
}

// benchVariants returns idx and, with INSIGHTS_BENCH_FACETS=1, an index
// over pool running schema version 1's SQL ("facets/").
func benchVariants(b *testing.B, idx *insights.Index, pool *pgxpool.Pool) []benchVariant {
	vs := []benchVariant{{"", idx}}
	if os.Getenv("INSIGHTS_BENCH_FACETS") == "1" {
		facets, err := pgindex.NewIndexReadingFacets(context.Background(), pool)
		if err != nil {
			b.Fatal(err)
		}
		vs = append(vs, benchVariant{"facets/", facets})
	}
	return vs
}

// explain logs the plans of the benchmark queries (go test -v), as
// schema version 1 ran them when facets is true.
func explain(b *testing.B, pool *pgxpool.Pool, facets bool) {
	ctx := context.Background()
	for _, nq := range insightstest.BenchmarkQueries() {
		sql, args, err := pgindex.SearchSQL(ctx, pool, nq.Account, nq.Query, facets)
		if err != nil {
			b.Fatal(err)
		}
		rows, err := pool.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+sql, args...)
		if err != nil {
			b.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				b.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		b.Logf("plan of %s (facets %v):\n%s", nq.Name, facets, strings.Join(plan, "\n"))
	}
}

// BenchmarkIngest times Put of generated sessions in batches of 1,000 (one
// transaction each, COPY) into a growing table.
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	idx, err := pgindex.OpenIndex(ctx, pgtest.Shared(b).NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	gen := insightstest.NewGenerator(2, 1<<30)
	next := 0
	batch := make([]*insights.Session, 1000)
	var cpu time.Duration
	srv0 := serverCPU(b)
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			batch[i] = gen.Session(next)
			next++
		}
		c0 := insightstest.CPUTime()
		b.StartTimer()
		if err := idx.Put(ctx, batch...); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += insightstest.CPUTime() - c0
		b.StartTimer()
	}
	b.ReportMetric(float64(len(batch))*float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
	b.ReportMetric(float64(cpu)/float64(len(batch)*b.N)/1e3, "cpu-µs/session")
	b.ReportMetric(float64(serverCPU(b)-srv0)/float64(len(batch)*b.N)/1e3, "server-cpu-µs/session")
}

// BenchmarkAggregate1M times the queries of
// insightstest.AggregationBenchmarkQueries on a PostgreSQL index of
// 1,000,000 generated sessions inside the 60 days of
// insightstest.AggregationSpan (INSIGHTS_BENCH_SESSIONS to change; the
// database is INSIGHTS_BENCH_PG_60D when set, see benchIndex), over one
// connection. With INSIGHTS_BENCH_FACETS=1, each query also runs as
// "facets/…" on an index that reads every path from the facets, as
// schema version 1 did.
func BenchmarkAggregate1M(b *testing.B) {
	gen := insightstest.NewGenerator(1, benchSessions(b)).Within(insightstest.AggregationSpan())
	idx, pool := benchIndex(b, gen, "INSIGHTS_BENCH_PG_60D")
	defer idx.Close()
	benchAggregations(b, idx, pool, insightstest.AggregationBenchmarkQueries())
}

// BenchmarkAggregateWindow times the aggregation queries of
// BenchmarkAggregate1M over the 60 days of 1 May to 29 June 2025 in the
// index of BenchmarkQuery1M (INSIGHTS_BENCH_PG): with
// INSIGHTS_BENCH_SESSIONS=10000000 and INSIGHTS_BENCH_WINDOW, the 1.64
// million sessions that 60 days of a 10-million-session year hold.
func BenchmarkAggregateWindow(b *testing.B) {
	idx, pool := benchIndex(b, insightstest.NewGenerator(1, benchSessions(b)), "INSIGHTS_BENCH_PG")
	defer idx.Close()
	var qs []insightstest.NamedQuery
	for _, nq := range insightstest.AggregationBenchmarkQueries() {
		q := *nq.Query
		q.From, q.To = insights.Day(2025, 5, 1), insights.Day(2025, 6, 29)
		qs = append(qs, insightstest.NamedQuery{Name: nq.Name, Account: nq.Account, Query: &q})
	}
	benchAggregations(b, idx, pool, qs)
}

func benchAggregations(b *testing.B, idx *insights.Index, pool *pgxpool.Pool, qs []insightstest.NamedQuery) {
	ctx := context.Background()
	for _, v := range benchVariants(b, idx, pool) {
		for _, nq := range qs {
			b.Run(v.prefix+nq.Name, func(b *testing.B) {
				res, err := v.idx.Search(ctx, nq.Account, nq.Query)
				if err != nil {
					b.Fatal(err)
				}
				for name, r := range res.Aggregations {
					b.Logf("%s: %d sessions, %s: %d buckets", nq.Name, res.Total, name, len(r.Buckets))
				}
				cpu, srv := insightstest.CPUTime(), backendCPU(b, pool)
				for b.Loop() {
					if _, err := v.idx.Search(ctx, nq.Account, nq.Query); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(insightstest.CPUTime()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
				b.ReportMetric(float64(backendCPU(b, pool)-srv)/float64(b.N)/1e3, "server-cpu-µs/op")
			})
		}
	}
}
