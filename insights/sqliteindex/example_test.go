package sqliteindex_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/sqliteindex"
)

// The durable index: sessions put before a restart are found after it.
func ExampleOpenIndex() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "insights-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "insights.db")

	idx, err := sqliteindex.OpenIndex(ctx, path)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	err = idx.Put(ctx, insights.NewCallSession(insights.CallRecord{
		SessionID: "sess-1", AccountID: "AC1", ApplicationID: "AP1",
		Source: "+15550001", Destination: "+15559999",
		Start: start, End: start.Add(42 * time.Second), Format: "wav",
	}))
	if err != nil {
		fmt.Println(err)
	}
	_ = idx.Close()

	idx, err = sqliteindex.OpenIndex(ctx, path) // the next start of the gateway
	if err != nil {
		fmt.Println(err)
		return
	}
	defer idx.Close()
	res, err := idx.Search(ctx, "AC1", &insights.Query{
		From: insights.Day(2025, 3, 1), To: insights.Day(2025, 3, 1),
		Filter: insights.Filter{Must: []insights.Clause{insights.Term("source", "+15550001")}},
		Fields: []string{"id", "channel_data.audio_url"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Total, string(res.Hits[0]))
	_, err = idx.Find(ctx, "AC2", "sess-1") // another account sees nothing
	fmt.Println(errors.Is(err, insights.ErrNotFound))
	// Output:
	// 1 {"channel_data":{"audio_url":"AC1/AP1/sess-1.wav"},"id":"sess-1"}
	// true
}
