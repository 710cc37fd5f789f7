package insights_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/memindex"
)

// A query built in Go, encoded as seed 004's URL query.
func ExampleQuery_Encode() {
	q := insights.Query{
		From: insights.Day(2020, 9, 15), To: insights.Day(2020, 9, 17),
		PageSize: 100,
		Sort:     []insights.SortField{insights.Desc("session_start_time")},
		Fields:   []string{"agent_information"},
		Filter:   insights.Filter{Must: []insights.Clause{insights.Term("status", "ended")}},
	}
	fmt.Println(q.Encode())
	// Output:
	// filter_by=%7B%22must%22%3A%5B%7B%22term%22%3A%7B%22status%22%3A%22ended%22%7D%7D%5D%7D&from_date=2020-09-15&page_size=100&project_fields=%5B%22agent_information%22%5D&sort_by=session_start_time%3Adesc&to_date=2020-09-17
}

// Decoding a URL query reports what is wrong with it.
func ExampleParseURLQuery() {
	_, err := insights.ParseURLQuery(`from_date=2020-09-01&to_date=2020-11-01`)
	fmt.Println(err)
	_, err = insights.ParseURLQuery(`from_date=2020-09-15&to_date=2020-09-17&filter_by={"must":[{"match":{"source":"972"}}]}`)
	fmt.Println(err)
	_, err = insights.ParseURLQuery(`from_date=2020-09-15&to_date=2020-09-17&sort_by=agent_information:asc`)
	fmt.Println(err)
	// Output:
	// insights: from_date 2020-09-01 and to_date 2020-11-01 are 61 days apart, more than 60 days
	// insights: filter_by must[0]: source is an ID field and accepts only term, not match
	// insights: sort_by "agent_information:asc": agent_information is an object; sort on one of its fields (for example agent_information.name)
}

// What a recording gateway does at the end of a call, and a search.
func ExampleNewCallSession() {
	ctx := context.Background()
	idx := memindex.NewIndex()
	defer idx.Close()
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, caller := range []string{"+15550001", "+15550002"} {
		s := insights.NewCallSession(insights.CallRecord{
			SessionID: fmt.Sprintf("sess-%d", i), AccountID: "AC1", ApplicationID: "AP1",
			Source: caller, Destination: "+15559999",
			Start: start.Add(time.Duration(i) * time.Minute), End: start.Add(time.Duration(i)*time.Minute + 42*time.Second),
			Format: "wav", SIPCallID: fmt.Sprintf("call-%d@pbx", i),
		})
		if err := idx.Put(ctx, s); err != nil {
			fmt.Println(err)
		}
	}
	res, err := idx.Search(ctx, "AC1", &insights.Query{
		From: insights.Day(2025, 3, 1), To: insights.Day(2025, 3, 1),
		Filter: insights.Filter{Must: []insights.Clause{insights.Term("channel_data.sip_call_id", "call-1@pbx")}},
		Fields: []string{"id", "channel_data.audio_url", "channel_data.duration"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Total, string(res.Hits[0]))
	// Output:
	// 1 {"channel_data":{"audio_url":"AC1/AP1/sess-1.wav","duration":42000},"id":"sess-1"}
}

// Serving the API: mount the handler and plug in the API keys.
func ExampleNewHandler() {
	idx := memindex.NewIndex()
	mux := http.NewServeMux()
	mux.Handle("/insights/", insights.NewHandler(insights.HandlerConfig{
		Index: idx,
		// rbac's API keys plug in here; StaticKeys is for tests.
		Keys: insights.StaticKeys{"a-long-random-key": "AC1"},
	}))
	_ = &http.Server{Handler: mux}
}
