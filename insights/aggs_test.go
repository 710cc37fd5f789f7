package insights

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/insights/driver"
)

// The example aggregations of the documentation.
const (
	callsPerDayByStatus = `{"calls_per_day":{"date_histogram":{"field":"session_start_time","calendar_interval":"day"},"aggs":{"by_status":{"terms":{"field":"status"}}}}}`
	avgDurationPerApp   = `{"per_application":{"terms":{"field":"agent_id","size":100},"aggs":{"avg_duration":{"avg":{"field":"channel_data.duration"}}}}}`
)

func TestParseAggregationsExamples(t *testing.T) {
	as, err := ParseAggregations([]byte(callsPerDayByStatus))
	if err != nil {
		t.Fatal(err)
	}
	want := Aggregations{"calls_per_day": DateHistogramAgg("session_start_time", IntervalDay).Sub("by_status", TermsAgg("status", 0))}
	if !reflect.DeepEqual(as, want) {
		t.Fatalf("got %+v\nwant %+v", as, want)
	}
	if b, _ := json.Marshal(as); string(b) != callsPerDayByStatus {
		t.Fatalf("encoded %s\nwant    %s", b, callsPerDayByStatus)
	}
	as, err = ParseAggregations([]byte(avgDurationPerApp))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Aggregations{"per_application": TermsAgg("agent_id", 100).Sub("avg_duration", AvgAgg("channel_data.duration"))}); !reflect.DeepEqual(as, want) {
		t.Fatalf("got %+v", as)
	}
	// Accepted forms beyond the canonical ones.
	long := `{"d": {"aggregations": {"p": {"percentiles": {"field": "channel_data.duration", "percents": [50, 99.9]}}},
	  "date_histogram": {"field": "session_start_time", "calendar_interval": "1w", "time_zone": "Europe/Paris", "min_doc_count": 1,
	    "extended_bounds": {"min": "2020-09-01", "max": 1600560000000}}}}`
	as, err = ParseAggregations([]byte(long))
	if err != nil {
		t.Fatal(err)
	}
	d := as["d"]
	if d.CalendarInterval != IntervalWeek || d.TimeZone != "Europe/Paris" || d.MinDocCount != 1 || d.ExtendedBounds.Min != Day(2020, 9, 1) ||
		d.ExtendedBounds.Max.String() != "2020-09-20T00:00:00" || !reflect.DeepEqual(d.Aggs["p"].Percents, []float64{50, 99.9}) {
		t.Fatalf("parsed %+v", d)
	}
	if as, err := ParseAggregations([]byte(`{}`)); err != nil || as != nil {
		t.Fatalf("{} = %v, %v; want no aggregations", as, err)
	}
	// The URL queries of the package documentation and the README.
	for _, raw := range []string{
		`from_date=2025-03-02&to_date=2025-03-31&page_size=0&aggs={"calls_per_day":{"date_histogram":{"field":"session_start_time","calendar_interval":"day","extended_bounds":{"min":"2025-03-02","max":"2025-03-31"}},"aggs":{"by_status":{"terms":{"field":"status"}}}}}`,
		`from_date=2025-03-01&to_date=2025-03-31&page_size=0&aggs={"per_application":{"terms":{"field":"agent_id","size":100},"aggs":{"avg_duration":{"avg":{"field":"channel_data.duration"}}}}}`,
	} {
		if q, err := ParseURLQuery(raw); err != nil || !q.NoHits || len(q.Aggs) != 1 {
			t.Fatalf("%s: %v", raw, err)
		}
	}
}

func TestAggregationErrors(t *testing.T) {
	const r = "from_date=2020-09-15&to_date=2020-09-17&"
	hist := func(extra string) string {
		return r + `aggs={"h":{"date_histogram":{"field":"session_start_time","calendar_interval":"day"` + extra + `}}}`
	}
	many := `{`
	for i := range MaxAggregations + 1 {
		if i > 0 {
			many += ","
		}
		many += fmt.Sprintf(`"m%d":{"sum":{"field":"channel_data.duration"}}`, i)
	}
	many += `}`
	deep := `{"sum":{"field":"channel_data.duration"}}`
	for range MaxAggDepth {
		deep = `{"terms":{"field":"status"},"aggs":{"x":` + deep + `}}`
	}
	for _, tc := range []struct {
		name, raw string
		want      error
		mention   string
	}{
		{"not JSON", r + `aggs={"a":`, ErrInvalidAggregation, "offset"},
		{"not an object", r + `aggs=[1]`, ErrInvalidAggregation, "object"},
		{"unknown kind", r + `aggs={"a":{"cardinality":{"field":"source"}}}`, ErrInvalidAggregation, `"cardinality"`},
		{"two kinds", r + `aggs={"a":{"sum":{"field":"channel_data.duration"},"avg":{"field":"channel_data.duration"}}}`, ErrInvalidAggregation, "two kinds"},
		{"no kind", r + `aggs={"a":{"aggs":{}}}`, ErrInvalidAggregation, `"a"`},
		{"duplicate name", r + `aggs={"a":{"sum":{"field":"channel_data.duration"}},"a":{"max":{"field":"channel_data.duration"}}}`, ErrInvalidAggregation, `"a" is given twice`},
		{"aggs and aggregations", r + `aggs={"a":{"terms":{"field":"status"},"aggs":{},"aggregations":{}}}`, ErrInvalidAggregation, "both aggs and aggregations"},
		{"unknown parameter", r + `aggs={"a":{"terms":{"field":"status","order":{"_key":"asc"}}}}`, ErrInvalidAggregation, "order: parameter not supported"},
		{"parameter of another kind", r + `aggs={"a":{"sum":{"field":"channel_data.duration","size":3}}}`, ErrInvalidAggregation, "size"},
		{"no field", r + `aggs={"a":{"terms":{"size":3}}}`, ErrInvalidAggregation, "needs a field"},
		{"terms on a text field", r + `aggs={"by_words":{"terms":{"field":"transcription.client"}}}`, ErrInvalidAggregation, `aggs "by_words": terms on "transcription.client"`},
		{"terms size 0", r + `aggs={"a":{"terms":{"field":"status","size":0}}}`, ErrInvalidAggregation, "not positive"},
		{"terms size not a number", r + `aggs={"a":{"terms":{"field":"status","size":"10"}}}`, ErrInvalidAggregation, "integer"},
		{"date histogram of another field", r + `aggs={"a":{"date_histogram":{"field":"session_end_time","calendar_interval":"day"}}}`, ErrInvalidAggregation, `"session_end_time"`},
		{"month interval", hist(`,"calendar_interval":"month"`), ErrInvalidAggregation, "given twice"},
		{"fixed interval", r + `aggs={"a":{"date_histogram":{"field":"session_start_time","fixed_interval":"30m"}}}`, ErrInvalidAggregation, "fixed_interval"},
		{"no interval", r + `aggs={"a":{"date_histogram":{"field":"session_start_time"}}}`, ErrInvalidAggregation, `calendar_interval ""`},
		{"unknown zone", hist(`,"time_zone":"Mars/Olympus"`), ErrInvalidAggregation, `"Mars/Olympus"`},
		{"server's local zone", hist(`,"time_zone":"Local"`), ErrInvalidAggregation, `"Local"`},
		{"offset too large", hist(`,"time_zone":"%2B19:00"`), ErrInvalidAggregation, `"+19:00"`},
		{"negative min_doc_count", hist(`,"min_doc_count":-1`), ErrInvalidAggregation, "negative"},
		{"extended bounds outside the range", hist(`,"extended_bounds":{"min":"2020-09-01"}`), ErrInvalidAggregation, "outside the query's range"},
		{"extended bounds reversed", hist(`,"extended_bounds":{"min":"2020-09-17","max":"2020-09-15"}`), ErrInvalidAggregation, "before min"},
		{"extended bounds not a date", hist(`,"extended_bounds":{"min":"now-30d"}`), ErrInvalidAggregation, `"now-30d"`},
		{"sum of a keyword field", r + `aggs={"total":{"sum":{"field":"status"}}}`, ErrInvalidAggregation, `sum on "status": not a numeric field`},
		{"percent above 100", r + `aggs={"p":{"percentiles":{"field":"channel_data.duration","percents":[50,101]}}}`, ErrInvalidAggregation, "101"},
		{"percent given twice", r + `aggs={"p":{"percentiles":{"field":"channel_data.duration","percents":[50,50.0]}}}`, ErrInvalidAggregation, "50.0 given twice"},
		{"no percents", r + `aggs={"p":{"percentiles":{"field":"channel_data.duration","percents":[]}}}`, ErrInvalidAggregation, "1 to 100 percents"},
		{"sub-aggregation of a metric", r + `aggs={"s":{"sum":{"field":"channel_data.duration"},"aggs":{"x":{"max":{"field":"channel_data.duration"}}}}}`, ErrInvalidAggregation, "no sub-aggregations"},
		{"name with >", r + `aggs={"a>b":{"sum":{"field":"channel_data.duration"}}}`, ErrInvalidAggregation, "'>'"},
		{"empty name", r + `aggs={"":{"sum":{"field":"channel_data.duration"}}}`, ErrInvalidAggregation, "needs a name"},
		{"sub named doc_count", r + `aggs={"t":{"terms":{"field":"status"},"aggs":{"doc_count":{"sum":{"field":"channel_data.duration"}}}}}`, ErrInvalidAggregation, `"t>doc_count"`},
		{"too many aggregations", r + "aggs=" + many, ErrInvalidAggregation, "more than 32"},
		{"too deep", r + `aggs={"x":` + deep + `}`, ErrInvalidAggregation, "deep"},
		{"too many buckets", "from_date=2020-08-01&to_date=2020-09-29&" + `aggs={"per_hour":{"date_histogram":{"field":"session_start_time","calendar_interval":"hour"},"aggs":{"by_app":{"terms":{"field":"agent_id","size":100}}}}}`, ErrInvalidAggregation, "more than 65536 buckets"},
		{"page_size 0 without aggs", r + "page_size=0", ErrInvalidPage, "needs aggs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseURLQuery(tc.raw)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidQuery) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
	// The Go API is validated the same way.
	q := &Query{From: Day(2020, 9, 15), To: Day(2020, 9, 17), Aggs: Aggregations{"a": {Kind: AggSum, Field: "channel_data.duration", Size: 3}}}
	if err := q.Validate(); !errors.Is(err, ErrInvalidAggregation) || !strings.Contains(err.Error(), "size applies to terms") {
		t.Fatalf("size on sum: %v", err)
	}
	q = &Query{From: Day(2020, 9, 15), To: Day(2020, 9, 17), NoHits: true, PageSize: 5, Aggs: Aggregations{"a": SumAgg("channel_data.duration")}}
	if err := q.Validate(); !errors.Is(err, ErrInvalidPage) {
		t.Fatalf("NoHits with a page size: %v", err)
	}
}

// TestAggregationsURLRoundTrip: a query with aggregations and no hits
// encodes to page_size=0 and aggs, and decodes to the same query.
func TestAggregationsURLRoundTrip(t *testing.T) {
	q := &Query{From: Day(2020, 9, 1), To: Day(2020, 9, 30), NoHits: true,
		Filter: Filter{Must: []Clause{Term("account_id", "AC1")}},
		Aggs: Aggregations{
			"calls_per_day": {Kind: AggDateHistogram, Field: TimeField, CalendarInterval: IntervalDay, TimeZone: "+02:00",
				ExtendedBounds: ExtendedBounds{Min: Day(2020, 9, 1), Max: Day(2020, 9, 30)}, Aggs: Aggregations{"by_status": TermsAgg("status", 5)}},
			"p": PercentilesAgg("channel_data.duration", 50, 95),
		}}
	v := q.Values()
	if v.Get(ParamPageSize) != "0" || !strings.Contains(v.Get(ParamAggs), `"time_zone":"+02:00"`) {
		t.Fatalf("values %v", v)
	}
	q2, err := ParseURLQuery(q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q, q2) {
		t.Fatalf("round trip:\n%+v\n%+v", q, q2)
	}
}

func TestElasticsearchRequestAggregations(t *testing.T) {
	q, err := ParseURLQuery(`from_date=2020-09-01&to_date=2020-09-30&page_size=0&aggs=` + callsPerDayByStatus)
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.ElasticsearchRequest("AC1")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	var want any
	_ = json.Unmarshal([]byte(callsPerDayByStatus), &want)
	if body["size"] != float64(0) || body["from"] != float64(0) || !reflect.DeepEqual(body["aggs"], want) {
		t.Fatalf("body %s", b)
	}
}

// TestAggregationResultJSON: results marshal in Elasticsearch's response
// shape and read back to the same values.
func TestAggregationResultJSON(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	res := Result{Total: 3, PageSize: 0, Aggregations: AggregationResults{
		"calls_per_day": {Kind: AggDateHistogram, Buckets: []Bucket{
			{Key: NumberValue(1600128000000), KeyAsString: "2020-09-15T00:00:00.000Z", DocCount: 2, Aggregations: AggregationResults{
				"by_status": {Kind: AggTerms, SumOtherDocCount: 1, Buckets: []Bucket{{Key: StringValue("ended"), DocCount: 1}}},
			}},
			{Key: NumberValue(1600214400000), KeyAsString: "2020-09-16T00:00:00.000Z", DocCount: 0, Aggregations: AggregationResults{
				"by_status": {Kind: AggTerms, Buckets: []Bucket{}},
			}},
		}},
		"avg": {Kind: AggAvg, Value: f(1.5)},
		"min": {Kind: AggMin},
		"p":   {Kind: AggPercentiles, Values: []PercentileValue{{Percent: 99.9, Value: f(3)}, {Percent: 50, Value: nil}}},
	}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"total":3,"hits":[],"page_size":"0","page_number":"0","aggregations":{` +
		`"avg":{"value":1.5},` +
		`"calls_per_day":{"buckets":[{"key_as_string":"2020-09-15T00:00:00.000Z","key":1600128000000,"doc_count":2,"by_status":{"doc_count_error_upper_bound":0,"sum_other_doc_count":1,"buckets":[{"key":"ended","doc_count":1}]}},` +
		`{"key_as_string":"2020-09-16T00:00:00.000Z","key":1600214400000,"doc_count":0,"by_status":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[]}}]},` +
		`"min":{"value":null},"p":{"values":{"99.9":3,"50.0":null}}}}`
	if string(b) != want {
		t.Fatalf("JSON\n%s\nwant\n%s", b, want)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Aggregations.applyKinds(Aggregations{"avg": AvgAgg("x"), "min": MinAgg("x")})
	back.Hits = nil
	if !reflect.DeepEqual(back, res) {
		t.Fatalf("read back\n%+v\nwant\n%+v", back, res)
	}
	if got := res.Aggregations["calls_per_day"].Buckets[1].Time().Format("2006-01-02"); got != "2020-09-16" {
		t.Fatalf("Bucket.Time = %s", got)
	}
}

// TestFinishChecksTheDriver: a driver returning results of the wrong shape
// gets an error, not a panic.
func TestFinishChecksTheDriver(t *testing.T) {
	q := &Query{From: Day(2020, 9, 15), To: Day(2020, 9, 17), Aggs: Aggregations{
		"h": DateHistogramAgg(TimeField, IntervalDay).Sub("p", PercentilesAgg("channel_data.duration", 50))}}
	_, plans, err := compile("", q)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rs   []driver.AggResult
	}{
		{"no result", nil},
		{"slot outside the range", []driver.AggResult{{Buckets: []driver.Bucket{{Slot: 1, DocCount: 1, Subs: make([]driver.AggResult, 1)}}}}},
		{"slots out of order", []driver.AggResult{{Buckets: []driver.Bucket{{Slot: 18522, DocCount: 1, Subs: make([]driver.AggResult, 1)}, {Slot: 18521, DocCount: 1, Subs: make([]driver.AggResult, 1)}}}}},
		{"missing sub-results", []driver.AggResult{{Buckets: []driver.Bucket{{Slot: 18521, DocCount: 1}}}}},
		{"percentiles missing", []driver.AggResult{{Buckets: []driver.Bucket{{Slot: 18521, DocCount: 1, Subs: []driver.AggResult{{Count: 1}}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := finishAggs(plans, tc.rs); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
