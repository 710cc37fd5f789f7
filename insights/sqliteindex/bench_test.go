package sqliteindex_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/sqliteindex"
)

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

// benchDB returns an index over a database of n generated sessions. Building
// it takes minutes, so it is kept in INSIGHTS_BENCH_DIR (default: the system
// temporary directory) and reused while the generator's version is the same.
func benchDB(b *testing.B, n int) *insights.Index {
	return openBenchDB(b, fmt.Sprintf("voicegw-insights-bench-v1-%d.db", n), insightstest.NewGenerator(1, n))
}

// openBenchDB returns an index over the database named name in
// INSIGHTS_BENCH_DIR, building it from gen's sessions when it is missing or
// holds another number of sessions.
func openBenchDB(b *testing.B, name string, gen *insightstest.Generator) *insights.Index {
	ctx := context.Background()
	n := gen.Len()
	dir := os.Getenv("INSIGHTS_BENCH_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		idx, err := sqliteindex.OpenIndex(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		var db *sql.DB
		var have int
		if idx.As(&db) && db.QueryRowContext(ctx, `SELECT count(*) FROM insights_sessions`).Scan(&have) == nil && have == n {
			b.Logf("reusing %s (%d sessions)", path, n)
			return idx
		}
		_ = idx.Close()
	}
	tmp := path + ".building"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		_ = os.Remove(p)
	}
	idx, err := sqliteindex.OpenIndex(ctx, tmp)
	if err != nil {
		b.Fatal(err)
	}
	t0, c0 := time.Now(), insightstest.CPUTime()
	if err := gen.Load(ctx, idx, 5000, 2); err != nil {
		b.Fatal(err)
	}
	var db *sql.DB
	idx.As(&db)
	if _, err := db.ExecContext(ctx, `PRAGMA optimize`); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d sessions in %s (%.0f sessions/s), %.0f CPU-µs/session", n, time.Since(t0).Round(time.Millisecond),
		float64(n)/time.Since(t0).Seconds(), float64(insightstest.CPUTime()-c0)/float64(n)/1e3)
	if err := idx.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	idx, err = sqliteindex.OpenIndex(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	return idx
}

// BenchmarkQuery1M times the queries of insightstest.BenchmarkQueries on a
// SQLite index of 1,000,000 generated sessions.
func BenchmarkQuery1M(b *testing.B) {
	ctx := context.Background()
	idx := benchDB(b, benchSessions(b))
	defer idx.Close()
	for _, nq := range insightstest.BenchmarkQueries() {
		b.Run(nq.Name, func(b *testing.B) {
			res, err := idx.Search(ctx, nq.Account, nq.Query)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: %d hits", nq.Name, res.Total)
			cpu := insightstest.CPUTime()
			for b.Loop() {
				if _, err := idx.Search(ctx, nq.Account, nq.Query); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(insightstest.CPUTime()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
		})
	}
}

// BenchmarkIngest times Put of generated sessions in batches of 1,000 (one
// transaction each) into a growing database file.
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	idx, err := sqliteindex.OpenIndex(ctx, filepath.Join(b.TempDir(), "ingest.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	gen := insightstest.NewGenerator(2, 1<<30)
	next := 0
	batch := make([]*insights.Session, 1000)
	var cpu time.Duration
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
}
