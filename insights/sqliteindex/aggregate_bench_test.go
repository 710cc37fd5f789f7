package sqliteindex_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/voicegw/voicegw/insights/insightstest"
)

// BenchmarkAggregate1M times the queries of
// insightstest.AggregationBenchmarkQueries on a SQLite index of 1,000,000
// generated sessions inside the 60 days of insightstest.AggregationSpan
// (INSIGHTS_BENCH_SESSIONS to change; the database is kept in
// INSIGHTS_BENCH_DIR and reused, see benchDB).
func BenchmarkAggregate1M(b *testing.B) {
	ctx := context.Background()
	n := benchSessions(b)
	gen := insightstest.NewGenerator(1, n).Within(insightstest.AggregationSpan())
	idx := openBenchDB(b, fmt.Sprintf("voicegw-insights-bench-v1-60d-%d.db", n), gen)
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
