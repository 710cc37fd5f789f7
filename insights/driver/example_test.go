package driver_test

import (
	"context"
	"fmt"

	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/insights/memindex"
)

// What a driver receives: documents already flattened into terms and
// tokens, and compiled queries. insights.Index builds both; this calls an
// in-memory driver directly.
func Example() {
	ctx := context.Background()
	var d driver.Driver = memindex.NewDriver()
	defer d.Close()

	str := func(s string) driver.Value { return driver.Value{Kind: driver.String, Text: s} }
	num := func(n float64) driver.Value { return driver.Value{Kind: driver.Number, Text: fmt.Sprint(n), Num: n} }
	doc := func(id string, start int64, status string, duration float64) driver.Document {
		return driver.Document{
			AccountID: "AC1", ID: id, Start: start,
			JSON:   fmt.Appendf(nil, `{"id":%q,"status":%q,"duration":%v}`, id, status, duration),
			Terms:  []driver.Field{{Path: "id", Value: str(id)}, {Path: "status", Value: str(status)}, {Path: "duration", Value: num(duration)}},
			Tokens: []driver.Field{{Path: "status", Value: str(status)}},
		}
	}
	err := d.Put(ctx, []driver.Document{doc("a", 100, "ended", 42), doc("b", 200, "ended", 7), doc("c", 300, "active", 15)})
	if err != nil {
		fmt.Println(err)
		return
	}

	res, err := d.Search(ctx, &driver.Query{
		AccountID: "AC1", From: 0, To: 1000,
		Must:  []driver.Clause{{Kind: driver.Term, Path: "status", Values: []driver.Value{str("ended")}}},
		Sort:  []driver.SortKey{{Path: "duration"}, {Path: "id"}},
		Limit: 10,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Total)
	for _, j := range res.Docs {
		fmt.Println(string(j))
	}
	// Output:
	// 2
	// {"id":"b","status":"ended","duration":7}
	// {"id":"a","status":"ended","duration":42}
}

// A field with several values sorts by its smallest value ascending and its
// largest descending; a document without a value sorts last either way.
func ExamplePick() {
	vals := []driver.Value{
		{Kind: driver.Number, Text: "3", Num: 3},
		{Kind: driver.Number, Text: "1", Num: 1},
		{Kind: driver.String, Text: "x"},
	}
	asc, _ := driver.Pick(vals, false)
	desc, _ := driver.Pick(vals, true)
	fmt.Println(asc.Text, desc.Text)
	_, ok := driver.Pick(nil, false)
	fmt.Println(ok, driver.CompareKeys(asc, true, driver.Value{}, false, true))
	// Output:
	// 1 x
	// false -1
}

// What Aggregate receives and returns: a daily histogram (slots of 24 h in
// UTC, numbered from the epoch) with a terms sub-aggregation. insights.Index
// compiles the request and turns slots into dates.
func Example_aggregate() {
	ctx := context.Background()
	d := memindex.NewDriver()
	defer d.Close()
	const day = int64(24 * 3600 * 1e6)
	status := func(id string, start int64, s string) driver.Document {
		v := driver.Value{Kind: driver.String, Text: s}
		return driver.Document{ID: id, Start: start, JSON: []byte(`{}`), Terms: []driver.Field{{Path: "status", Value: v}}}
	}
	_ = d.Put(ctx, []driver.Document{status("a", 10*day+5, "ended"), status("b", 10*day+9, "ended"), status("c", 12*day, "in_progress")})
	res, err := d.Aggregate(ctx, &driver.Query{From: 0, To: 20 * day, Aggs: []driver.Agg{{
		Kind: driver.AggDateHistogram, Interval: driver.Interval{Width: day},
		Subs: []driver.Agg{{Kind: driver.AggTerms, Path: "status", Size: 10}},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("total", res.Total)
	for _, b := range res.Aggs[0].Buckets {
		fmt.Print("slot ", b.Slot, ": ", b.DocCount)
		for _, s := range b.Subs[0].Buckets {
			fmt.Printf(" %s=%d", s.Key.Text, s.DocCount)
		}
		fmt.Println()
	}
	// Output:
	// total 3
	// slot 10: 2 ended=2
	// slot 12: 1 in_progress=1
}
