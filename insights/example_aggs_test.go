package insights_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/memindex"
)

// exampleIndex holds a few recorded calls of account AC1 in March 2025:
// applications AP1 and AP2, one call still in progress.
func exampleIndex() *insights.Index {
	idx := insights.NewIndex(memindex.NewDriver())
	start := time.Date(2025, 3, 28, 9, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		app  string
		day  int
		secs int // 0: in progress
	}{{"AP1", 0, 42}, {"AP1", 0, 61}, {"AP2", 0, 300}, {"AP2", 2, 0}, {"AP1", 3, 125}} {
		rec := insights.CallRecord{SessionID: fmt.Sprintf("s-%d", i), AccountID: "AC1", ApplicationID: c.app,
			Start: start.AddDate(0, 0, c.day).Add(time.Duration(i) * time.Minute), Format: "wav"}
		if c.secs > 0 {
			rec.End = rec.Start.Add(time.Duration(c.secs) * time.Second)
		}
		if err := idx.Put(context.Background(), insights.NewCallSession(rec)); err != nil {
			fmt.Println(err)
		}
	}
	return idx
}

// Calls per day by status for the last 30 days: a date histogram with a
// terms sub-aggregation, without hits. extended_bounds returns every day of
// the 30, with zeros (the last five are printed). The same request over HTTP:
//
//	GET /insights/sessions?from_date=2025-03-02&to_date=2025-03-31&page_size=0&aggs={"calls_per_day":{"date_histogram":{"field":"session_start_time","calendar_interval":"day","extended_bounds":{"min":"2025-03-02","max":"2025-03-31"}},"aggs":{"by_status":{"terms":{"field":"status"}}}}}
func ExampleAggregation_callsPerDayByStatus() {
	idx := exampleIndex()
	defer idx.Close()
	today := time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC)
	from := insights.Day(today.AddDate(0, 0, -29).Date())
	to := insights.Day(today.Date())
	perDay := insights.DateHistogramAgg("session_start_time", insights.IntervalDay).
		Sub("by_status", insights.TermsAgg("status", 0))
	perDay.ExtendedBounds = insights.ExtendedBounds{Min: from, Max: to}
	res, err := idx.Search(context.Background(), "AC1", &insights.Query{
		From: from, To: to, NoHits: true,
		Aggs: insights.Aggregations{"calls_per_day": perDay},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	days := res.Aggregations["calls_per_day"].Buckets
	fmt.Println(res.Total, "calls,", len(days), "days")
	for _, d := range days[len(days)-5:] {
		fmt.Print(d.Time().Format("2006-01-02"), " ", d.DocCount)
		for _, s := range d.Aggregations["by_status"].Buckets {
			fmt.Printf(" %s=%d", s.Key.Text, s.DocCount)
		}
		fmt.Println()
	}
	// Output:
	// 5 calls, 30 days
	// 2025-03-27 0
	// 2025-03-28 3 ended=3
	// 2025-03-29 0
	// 2025-03-30 1 in_progress=1
	// 2025-03-31 1 ended=1
}

// The average duration per application (agent_id), with the request in
// Elasticsearch's JSON as the HTTP API takes it in aggs.
func ExampleAggregation_averageDurationPerApplication() {
	idx := exampleIndex()
	defer idx.Close()
	aggs, err := insights.ParseAggregations([]byte(`{"per_application": {"terms": {"field": "agent_id", "size": 100},
		"aggs": {"avg_duration": {"avg": {"field": "channel_data.duration"}}}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := idx.Search(context.Background(), "AC1", &insights.Query{
		From: insights.Day(2025, 3, 1), To: insights.Day(2025, 3, 31), NoHits: true, Aggs: aggs})
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.Marshal(res.Aggregations)
	fmt.Println(string(b))
	for _, app := range res.Aggregations["per_application"].Buckets {
		fmt.Printf("%s: %d calls, %.1f s on average\n", app.Key.Text, app.DocCount, *app.Aggregations["avg_duration"].Value/1000)
	}
	// Output:
	// {"per_application":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[{"key":"AP1","doc_count":3,"avg_duration":{"value":76000}},{"key":"AP2","doc_count":2,"avg_duration":{"value":300000}}]}}
	// AP1: 3 calls, 76.0 s on average
	// AP2: 2 calls, 300.0 s on average
}

// Minutes and sessions per account per day: each call is billed by the
// minute, rounded up (61 s is 2 minutes). GET /insights/usage answers the
// same to a key with Usage Read.
func ExampleIndex_Usage() {
	idx := exampleIndex()
	defer idx.Close()
	rep, err := idx.Usage(context.Background(), "AC1", insights.Day(2025, 3, 1), insights.Day(2025, 3, 31))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range rep.Days {
		fmt.Println(d.AccountID, d.Date, d.Sessions, "sessions", d.Minutes, "minutes", d.Seconds, "seconds")
	}
	// Output:
	// AC1 2025-03-28 3 sessions 8 minutes 403 seconds
	// AC1 2025-03-30 1 sessions 0 minutes 0 seconds
	// AC1 2025-03-31 1 sessions 3 minutes 125 seconds
}
