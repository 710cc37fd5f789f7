package memindex_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/memindex"
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

// BenchmarkQuery1M builds an in-memory index of 1,000,000 generated
// sessions once, then times each query of insightstest.BenchmarkQueries.
func BenchmarkQuery1M(b *testing.B) {
	ctx := context.Background()
	n := benchSessions(b)
	gen := insightstest.NewGenerator(1, n)
	idx := memindex.NewIndex()
	defer idx.Close()
	t0, c0 := time.Now(), insightstest.CPUTime()
	if err := gen.Load(ctx, idx, 2000, 2); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d sessions in %s (%.0f sessions/s), %.0f CPU-µs/session", n, time.Since(t0).Round(time.Millisecond),
		float64(n)/time.Since(t0).Seconds(), float64(insightstest.CPUTime()-c0)/float64(n)/1e3)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.Logf("live heap after load: %.2f GiB (%.0f bytes/session)", float64(ms.HeapAlloc)/(1<<30), float64(ms.HeapAlloc)/float64(n))
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

// BenchmarkIngest times Put of generated sessions in batches of 1,000 into
// a growing in-memory index (generation not timed; flattening is).
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	gen := insightstest.NewGenerator(2, 1<<30)
	idx := memindex.NewIndex()
	defer idx.Close()
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
