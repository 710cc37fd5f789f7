package pgindex_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/pgindex"
)

// Every gateway writes its sessions into one index, and any gateway's
// Insights API finds them. (Needs a PostgreSQL server: compiled, not run;
// the tests run the same calls against one.)
func ExampleNewIndex() {
	ctx := context.Background()
	pool, err := pgindex.OpenPool(ctx, "postgres://voicegw@db.internal/voicegw?sslmode=verify-full")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	idx, err := pgindex.NewIndex(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	start := time.Date(2025, 6, 3, 9, 30, 0, 0, time.UTC)
	if err := idx.Put(ctx, insights.NewCallSession(insights.CallRecord{SessionID: "s-1", AccountID: "AC00",
		ApplicationID: "AP007", Source: "+15550001", Destination: "+14440002", Start: start, End: start.Add(3 * time.Minute), Format: "wav"})); err != nil {
		log.Fatal(err)
	}
	res, err := idx.Search(ctx, "AC00", &insights.Query{From: insights.Day(2025, 6, 1), To: insights.Day(2025, 6, 30),
		Filter: insights.Filter{Must: []insights.Clause{insights.Term("agent_id", "AP007")}},
		Aggs:   insights.Aggregations{"per_day": insights.DateHistogramAgg("session_start_time", insights.IntervalDay)}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Total, len(res.Aggregations["per_day"].Buckets))
}
