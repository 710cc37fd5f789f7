package memindex_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/insights/memindex"
)

func ExampleNew() {
	ctx := context.Background()
	idx := memindex.NewIndex()
	defer idx.Close()

	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, caller := range []string{"+15550001", "+15550002", "+15550001"} {
		err := idx.Put(ctx, insights.NewCallSession(insights.CallRecord{
			SessionID: fmt.Sprintf("sess-%d", i), AccountID: "AC1", ApplicationID: "AP1",
			Source: caller, Destination: "+15559999",
			Start: start.Add(time.Duration(i) * time.Minute), End: start.Add(time.Duration(i)*time.Minute + 30*time.Second),
			Format: "wav",
		}))
		if err != nil {
			fmt.Println(err)
			return
		}
	}

	// The calls of one caller, newest first.
	res, err := idx.Search(ctx, "AC1", &insights.Query{
		From: insights.Day(2025, 3, 1), To: insights.Day(2025, 3, 1),
		Filter: insights.Filter{Must: []insights.Clause{insights.Term("source", "+15550001")}},
		Sort:   []insights.SortField{insights.Desc("session_start_time")},
		Fields: []string{"id"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Total)
	for _, h := range res.Hits {
		fmt.Println(string(h))
	}

	// Another account sees none of them.
	_, err = idx.Find(ctx, "AC2", "sess-0")
	fmt.Println(errors.Is(err, driver.ErrNotFound))
	// Output:
	// 2
	// {"id":"sess-2"}
	// {"id":"sess-0"}
	// true
}
