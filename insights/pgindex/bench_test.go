package pgindex_test

import (
	"context"
	"os"
	"strconv"
	"strings"
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

// benchIndex returns an index of gen's sessions, and the pool it uses (one
// connection, so the server's CPU per query can be read). The database is
// the connection string in the environment variable env, reused when it
// holds the sessions already and loaded otherwise, or a fresh database of
// the test server (internal/pgtest: fsync off).
func benchIndex(b *testing.B, gen *insightstest.Generator, env string) (*insights.Index, *pgxpool.Pool) {
	ctx := context.Background()
	n := gen.Len()
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
	var have int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM insights_sessions`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have == n {
		b.Logf("reusing the %d sessions of the database", n)
	} else {
		if _, err := pool.Exec(ctx, `TRUNCATE insights_sessions`); err != nil {
			b.Fatal(err)
		}
		t0, c0, s0 := time.Now(), insightstest.CPUTime(), serverCPU(b)
		if err := gen.Load(ctx, load, 5000, 2); err != nil {
			b.Fatal(err)
		}
		el := time.Since(t0)
		b.Logf("loaded %d sessions in %s (%.0f sessions/s), %.0f client CPU-µs/session, %.0f server CPU-µs/session", n, el.Round(time.Second),
			float64(n)/el.Seconds(), float64(insightstest.CPUTime()-c0)/float64(n)/1e3, float64(serverCPU(b)-s0)/float64(n)/1e3)
		t0 = time.Now()
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE insights_sessions`); err != nil {
			b.Fatal(err)
		}
		b.Logf("VACUUM ANALYZE in %s", time.Since(t0).Round(time.Second))
	}
	var table, total int64
	if err := pool.QueryRow(ctx, `SELECT pg_table_size('insights_sessions'), pg_total_relation_size('insights_sessions')`).Scan(&table, &total); err != nil {
		b.Fatal(err)
	}
	b.Logf("table %.2f GB, with its indexes %.2f GB", float64(table)/1e9, float64(total)/1e9)
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
func BenchmarkQuery1M(b *testing.B) {
	ctx := context.Background()
	idx, pool := benchIndex(b, insightstest.NewGenerator(1, benchSessions(b)), "INSIGHTS_BENCH_PG")
	defer idx.Close()
	for _, nq := range insightstest.BenchmarkQueries() {
		b.Run(nq.Name, func(b *testing.B) {
			res, err := idx.Search(ctx, nq.Account, nq.Query)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: %d hits", nq.Name, res.Total)
			cpu, srv := insightstest.CPUTime(), backendCPU(b, pool)
			for b.Loop() {
				if _, err := idx.Search(ctx, nq.Account, nq.Query); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(insightstest.CPUTime()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
			b.ReportMetric(float64(backendCPU(b, pool)-srv)/float64(b.N)/1e3, "server-cpu-µs/op")
		})
	}
	if testing.Verbose() {
		explain(b, pool)
	}
}

// explain logs the plans of the benchmark queries (go test -v).
func explain(b *testing.B, pool *pgxpool.Pool) {
	ctx := context.Background()
	for _, nq := range insightstest.BenchmarkQueries() {
		sql, args, err := pgindex.SearchSQL(ctx, pool, nq.Account, nq.Query)
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
		b.Logf("plan of %s:\n%s", nq.Name, strings.Join(plan, "\n"))
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
// connection.
func BenchmarkAggregate1M(b *testing.B) {
	ctx := context.Background()
	gen := insightstest.NewGenerator(1, benchSessions(b)).Within(insightstest.AggregationSpan())
	idx, pool := benchIndex(b, gen, "INSIGHTS_BENCH_PG_60D")
	defer idx.Close()
	for _, nq := range insightstest.AggregationBenchmarkQueries() {
		b.Run(nq.Name, func(b *testing.B) {
			res, err := idx.Search(ctx, nq.Account, nq.Query)
			if err != nil {
				b.Fatal(err)
			}
			for name, r := range res.Aggregations {
				b.Logf("%s: %d sessions, %s: %d buckets", nq.Name, res.Total, name, len(r.Buckets))
			}
			cpu, srv := insightstest.CPUTime(), backendCPU(b, pool)
			for b.Loop() {
				if _, err := idx.Search(ctx, nq.Account, nq.Query); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(insightstest.CPUTime()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
			b.ReportMetric(float64(backendCPU(b, pool)-srv)/float64(b.N)/1e3, "server-cpu-µs/op")
		})
	}
}
