package memindex_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/memindex"
)

// BenchmarkAggregate1M builds an in-memory index of 1,000,000 generated
// sessions (INSIGHTS_BENCH_SESSIONS to change) inside the 60 days of
// insightstest.AggregationSpan, so that each query of
// insightstest.AggregationBenchmarkQueries aggregates all of them (the one
// account: a tenth), then times each query. The first run of a query also
// builds the forward columns it reads; it is not timed.
func BenchmarkAggregate1M(b *testing.B) {
	ctx := context.Background()
	n := benchSessions(b)
	gen := insightstest.NewGenerator(1, n).Within(insightstest.AggregationSpan())
	idx := insights.NewIndex(memindex.NewDriver())
	defer idx.Close()
	t0, c0 := time.Now(), insightstest.CPUTime()
	if err := gen.Load(ctx, idx, 2000, 2); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d sessions in %s, %.0f CPU-µs/session", n, time.Since(t0).Round(time.Millisecond),
		float64(insightstest.CPUTime()-c0)/float64(n)/1e3)
	for _, nq := range insightstest.AggregationBenchmarkQueries() {
		b.Run(nq.Name, func(b *testing.B) {
			res, err := idx.Search(ctx, nq.Account, nq.Query)
			if err != nil {
				b.Fatal(err)
			}
			for name, r := range res.Aggregations {
				b.Logf("%s: %d sessions, %s: %d buckets", nq.Name, res.Total, name, len(r.Buckets))
			}
			runtime.GC()
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
