package insights

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rivo/uniseg"

	"github.com/voicegw/voicegw/insights/driver"
)

// FuzzParseURLQuery checks the URL query decoder: whatever it accepts
// encodes to a query that decodes to the same value, and encoding is a
// fixed point.
func FuzzParseURLQuery(f *testing.F) {
	for _, s := range seedURLQueries {
		f.Add(s)
		v, _ := url.ParseQuery(s)
		f.Add(v.Encode())
	}
	for _, s := range []string{
		`from_date=2020-08-20&to_date=2020-08-20&page_size=10&page_number=0&project_fields=["session_start_time", "agent_id", "source", "channel_data.duration"]`,
		`from_date=2020-08-20&to_date=2020-08-20&sort_by="channel_data.duration:desc"&filter_by={"should": [{"term": {"agent_id": "a1"}}, {"term": {"agent_id": "a2"}}]}`,
		`from_date=2020-08-20&to_date=2020-08-20&filter_by={"should" [{"term": {"agent_id": "a1"}}]}`,
		`from_date=2021-01-15T08:09:43.377776&to_date=2021-01-16&sort_by=agent_information.name:asc,status:desc&project_fields=a,b`,
		`from_date=2020-09-15&to_date=2020-09-17&filter_by={"must_not":{"match":{"transcription.client":{"query":"Grüße 1.5"}}}}`,
		`from_date=2020-09-01&to_date=2020-09-30&page_size=0&aggs=` + callsPerDayByStatus,
		`from_date=2020-09-01&to_date=2020-09-30&aggs=` + avgDurationPerApp,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseURLQuery(raw)
		if err != nil {
			return
		}
		enc := q.Encode()
		q2, err := ParseURLQuery(enc)
		if err != nil {
			t.Fatalf("%q decoded to %+v, whose encoding %q fails: %v", raw, q, enc, err)
		}
		if !reflect.DeepEqual(q, q2) {
			t.Fatalf("round trip changed the query:\n%+v\n%+v", q, q2)
		}
		if enc2 := q2.Encode(); enc2 != enc {
			t.Fatalf("encoding not stable: %q then %q", enc, enc2)
		}
		if _, err := q.ElasticsearchRequest("a"); err != nil {
			t.Fatalf("valid query has no Elasticsearch form: %v", err)
		}
	})
}

// FuzzParseFilter checks the filter_by decoder: an accepted filter
// marshals to JSON that parses to the same filter, and that JSON is stable.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`{"must": [{"term": {"agent_information.id": "1234567"}}, {"match": {"transcription.client": "shut up"}}]}`,
		`{"must": [{"term": {"flow_data.collected_tags.tag": "cat"}}, {"term": {"flow_data.collected_tags.tag": "dog"}}, {"term": {"flow_data.collected_tags.tag": "rat"}}]}`,
		`{"must": [{"term": {"source": "9726666666"}}], "should": [{"term": {"request_ids": "22"}}, {"term": {"request_ids": "44"}}]}`,
		`{"must_not": [{"term": {"flow_data.collected_tags.tag": "invalid"}}]}`,
		`{"should" [{"term": {"agent_id": "<agent_id_1>"}}, {"term": {"agent_id": "<agent_id_2>"}}]}`,
		`{"must": {"term": {"channel_data.duration": {"value": 2.7e4}}}, "should": [{"match": {"x": true}}]}`,
		`{"must": [{"term": {"a": -0.0}}, {"term": {"b": 12345678901234567890}}, {"term": {"c": "\u00e9\ud83d\ude00"}}]}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		flt, err := ParseFilter(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(flt)
		if err != nil {
			t.Fatal(err)
		}
		flt2, err := ParseFilter(out)
		if err != nil {
			t.Fatalf("%s parsed to %+v, whose JSON %s fails: %v", b, flt, out, err)
		}
		if !reflect.DeepEqual(flt, flt2) {
			t.Fatalf("round trip changed the filter:\n%+v\n%+v", flt, flt2)
		}
		out2, _ := json.Marshal(flt2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("JSON not stable: %s then %s", out, out2)
		}
	})
}

// FuzzAnalyzeFastPath checks that the ASCII fast path of the analyzer
// gives the tokens of the full UAX #29 segmentation.
func FuzzAnalyzeFastPath(f *testing.F) {
	for _, s := range []string{"I love this agent!", "shut up Benjamin", "a-b c+d (e) [f] {g} 2020-10-08", "x\"y z#1 @home", "a  b\tc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !isSimpleASCII(s) {
			return
		}
		fast := appendASCIITokens(nil, s)
		var slow []string
		state := -1
		for rest := s; len(rest) > 0; {
			var w string
			w, rest, state = uniseg.FirstWordInString(rest, state)
			if isWord(w) {
				slow = append(slow, strings.ToLower(w))
			}
		}
		if !slices.Equal(fast, slow) {
			t.Fatalf("%q: fast path %q, UAX #29 %q", s, fast, slow)
		}
	})
}

// FuzzSessionJSON checks that a session document that decodes marshals
// to JSON that decodes to the same session, and that flattening it agrees
// with a walk of the JSON by encoding/json.
func FuzzSessionJSON(f *testing.F) {
	f.Add(seedSession(f))
	f.Add([]byte(`{"id":"a","session_start_time":"2021-01-15T08:09:43","x":{"y":[1,"2",true,null]},"channel_data":{"status_code":0}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Session
		if json.Unmarshal(b, &s) != nil {
			return
		}
		out, err := json.Marshal(s)
		if err != nil {
			return // for example Extra holding a number Go cannot re-encode
		}
		var s2 Session
		if err := json.Unmarshal(out, &s2); err != nil {
			t.Fatalf("%s: own output %s does not decode: %v", b, out, err)
		}
		out2, _ := json.Marshal(s2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
		got, err := flatten(out)
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceTerms(t, out); !slices.Equal(sortedFields(got.terms), want) {
			t.Fatalf("flatten terms %v, want %v", sortedFields(got.terms), want)
		}
	})
}

// referenceTerms flattens a document with encoding/json.
func referenceTerms(t *testing.T, doc []byte) []driver.Field {
	var v any
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var out []driver.Field
	var walk func(path string, root bool, v any)
	walk = func(path string, root bool, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := k
				if !root {
					p = path + "." + k
				}
				walk(p, false, e)
			}
		case []any:
			for _, e := range x {
				walk(path, root, e)
			}
		case string:
			out = append(out, driver.Field{Path: path, Value: StringValue(x)})
		case bool:
			out = append(out, driver.Field{Path: path, Value: BoolValue(x)})
		case json.Number:
			out = append(out, driver.Field{Path: path, Value: ValueOf(x)})
		}
	}
	walk("", true, v)
	return sortedFields(out)
}

func sortedFields(fs []driver.Field) []driver.Field {
	out := slices.Clone(fs)
	slices.SortFunc(out, func(a, b driver.Field) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		if c := driver.Compare(a.Value, b.Value); c != 0 {
			return c
		}
		return strings.Compare(a.Value.Text, b.Value.Text)
	})
	return out
}

// FuzzParseAggregations checks the aggs decoder: whatever it accepts
// encodes to JSON that parses to the same aggregations (parse → encode →
// parse equal), that JSON is stable, and the aggregations compile for a
// query (or fail with ErrInvalidAggregation: the bucket bound depends on
// the range).
func FuzzParseAggregations(f *testing.F) {
	for _, s := range []string{
		callsPerDayByStatus,
		avgDurationPerApp,
		`{"d": {"aggregations": {"p": {"percentiles": {"field": "channel_data.duration", "percents": [50, 99.9, 0, 1e2]}}}, "date_histogram": {"field": "session_start_time", "calendar_interval": "1w", "time_zone": "Europe/Paris", "min_doc_count": 1, "extended_bounds": {"min": "2020-09-01", "max": 1600560000000}}}}`,
		`{"t": {"terms": {"field": "flow_data.collected_tags.tag", "size": 3}, "aggs": {"s": {"sum": {"field": "tags.animals.cat"}}, "m": {"min": {"field": "channel_data.status_code"}}, "x": {"max": {"field": "flow_path.execution_time"}}}}}`,
		`{"h": {"date_histogram": {"field": "session_start_time", "calendar_interval": "hour", "time_zone": "-05:30", "extended_bounds": {"max": "2020-09-16T10:00:00.5"}}}}`,
		`{"a\u00e9": {"sum": {"field": "channel_data.duration"}}, "a": {"avg": {"field": "channel_data.duration"}}}`,
		`{"a": {"terms": {"field": "status"}, "aggs": {}}}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := ParseAggregations(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidAggregation) {
				t.Fatalf("error %v does not wrap ErrInvalidAggregation", err)
			}
			return
		}
		out, err := json.Marshal(as)
		if err != nil {
			t.Fatal(err)
		}
		as2, err := ParseAggregations(out)
		if err != nil {
			t.Fatalf("%s parsed to %+v, whose JSON %s fails: %v", b, as, out, err)
		}
		if !reflect.DeepEqual(as, as2) {
			t.Fatalf("round trip changed the aggregations:\n%+v\n%+v", as, as2)
		}
		if out2, _ := json.Marshal(as2); !bytes.Equal(out, out2) {
			t.Fatalf("JSON not stable: %s then %s", out, out2)
		}
		q := &Query{From: Day(2020, 9, 1), To: Day(2020, 9, 30), Aggs: as}
		if _, err := Compile("", q); err != nil && !errors.Is(err, ErrInvalidAggregation) {
			t.Fatalf("compile: %v", err)
		}
	})
}
