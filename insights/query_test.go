package insights

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The example URL queries of seed 004, as written there (unencoded).
var seedURLQueries = []string{
	`from_date=2020-09-15&to_date=2020-09-17&page_number=0&page_size=100&sort_by=session_start_time:desc&filter_by={"must": [{"term": {"status":"ended"}}]}&project_fields=["agent_information"]`,
	`from_date=2020-08-20&to_date=2020-08-20&page_number=3&page_size=10`,
}

func TestParseSeedExampleURLs(t *testing.T) {
	q, err := ParseURLQuery(seedURLQueries[0])
	if err != nil {
		t.Fatal(err)
	}
	want := &Query{
		From: Day(2020, 9, 15), To: Day(2020, 9, 17), PageSize: 100,
		Sort:   []SortField{Desc("session_start_time")},
		Fields: []string{"agent_information"},
		Filter: Filter{Must: []Clause{Term("status", "ended")}},
	}
	if !reflect.DeepEqual(q, want) {
		t.Fatalf("got %+v\nwant %+v", q, want)
	}
	// The encoded form percent-encodes the JSON, as the seed asks.
	enc := q.Encode()
	wantEnc := "filter_by=%7B%22must%22%3A%5B%7B%22term%22%3A%7B%22status%22%3A%22ended%22%7D%7D%5D%7D&from_date=2020-09-15" +
		"&page_size=100&project_fields=%5B%22agent_information%22%5D&sort_by=session_start_time%3Adesc&to_date=2020-09-17"
	if enc != wantEnc {
		t.Fatalf("Encode = %s\nwant     %s", enc, wantEnc)
	}
	q2, err := ParseURLQuery(seedURLQueries[1])
	if err != nil || q2.PageNumber != 3 || q2.PageSize != 10 || !q2.From.IsDate() {
		t.Fatalf("%v %+v", err, q2)
	}
}

func TestQueryErrors(t *testing.T) {
	const r = "from_date=2020-09-15&to_date=2020-09-17&"
	for _, tc := range []struct {
		name, raw string
		want      error
		mention   string
	}{
		{"missing range", "page_size=10", ErrMissingRange, "required"},
		{"missing to_date", "from_date=2020-09-15", ErrMissingRange, "required"},
		{"reversed range", "from_date=2020-09-17&to_date=2020-09-15", ErrReversedRange, "2020-09-15"},
		{"reversed instants", "from_date=2020-09-15T10:00:01&to_date=2020-09-15T10:00:00", ErrReversedRange, "10:00:00"},
		{"61 days", "from_date=2020-09-01&to_date=2020-11-01", ErrRangeTooLong, "61 days"},
		{"60 days and a second", "from_date=2020-09-01T00:00:00&to_date=2020-10-31T00:00:01", ErrRangeTooLong, "60 days 1s"},
		{"bad date", "from_date=2020-13-01&to_date=2020-12-01", ErrInvalidTime, `"2020-13-01"`},
		{"bad datetime", "from_date=2020-09-01&to_date=tomorrow", ErrInvalidTime, `"tomorrow"`},
		{"negative page", r + "page_number=-1", ErrInvalidPage, "-1"},
		{"page not a number", r + "page_number=two", ErrInvalidPage, `"two"`},
		{"page size 0", r + "page_size=0", ErrInvalidPage, "page_size 0"},
		{"page size too big", r + "page_size=1001", ErrInvalidPage, "1001"},
		{"past the result window", r + "page_number=100&page_size=100", ErrInvalidPage, "10000"},
		{"unknown sort direction", r + "sort_by=status:up", ErrInvalidSort, `"up"`},
		{"sort without field", r + "sort_by=:desc", ErrInvalidSort, "empty"},
		{"sort with an empty segment", r + "sort_by=a..b:asc", ErrInvalidSort, "a..b"},
		{"sort on an object (seed 004's agent_information:asc)", r + "sort_by=agent_information:asc,status:desc", ErrInvalidSort, "agent_information.name"},
		{"sort on a tag category", r + "sort_by=tags.animals:desc", ErrInvalidSort, "object"},
		{"seed 004's should without colon", r + `filter_by={"should" [{"term": {"agent_id": "1"}}]}`, ErrInvalidFilter, "offset 10"},
		{"filter not JSON", r + "filter_by=must", ErrInvalidFilter, "offset"},
		{"filter trailing data", r + `filter_by={}{}`, ErrInvalidFilter, "offset"},
		{"filter null", r + "filter_by=null", ErrInvalidFilter, "null"},
		{"unknown bool key", r + `filter_by={"filter":[]}`, ErrInvalidFilter, `"filter"`},
		{"unknown clause", r + `filter_by={"must":[{"range":{"x":1}}]}`, ErrInvalidFilter, `"range"`},
		{"two clause kinds", r + `filter_by={"must":[{"term":{"x":1},"match":{"y":"z"}}]}`, ErrInvalidFilter, "one key"},
		{"two fields", r + `filter_by={"must":[{"term":{"x":1,"y":2}}]}`, ErrInvalidFilter, "exactly one field"},
		{"null value", r + `filter_by={"must":[{"term":{"x":null}}]}`, ErrInvalidFilter, "null"},
		{"list value", r + `filter_by={"must":[{"term":{"x":["a","b"]}}]}`, ErrInvalidFilter, "list"},
		{"object value", r + `filter_by={"must":[{"term":{"x":{"a":1}}}]}`, ErrInvalidFilter, "long form"},
		{"must not a list", r + `filter_by={"must":"x"}`, ErrInvalidFilter, "list of clauses"},
		{"match on an ID field", r + `filter_by={"must":[{"match":{"source":"972"}}]}`, ErrMatchOnIDField, "source"},
		{"match on agent_information.name", r + `filter_by={"should":[{"match":{"agent_information.name":"x"}}]}`, ErrMatchOnIDField, "agent_information.name"},
		{"match on tags.<tag_name>", r + `filter_by={"must_not":[{"match":{"tags.animals.cat":"1"}}]}`, ErrMatchOnIDField, "tags.animals.cat"},
		{"match on parameters.<name>", r + `filter_by={"must":[{"match":{"parameters.name":"x"}}]}`, ErrMatchOnIDField, "parameters.name"},
		{"match on the SIP Call-ID", r + `filter_by={"must":[{"match":{"channel_data.sip_call_id":"x"}}]}`, ErrMatchOnIDField, "sip_call_id"},
		{"project_fields bad JSON", r + `project_fields=["a",`, ErrInvalidFields, "offset"},
		{"project_fields not strings", r + `project_fields=[1]`, ErrInvalidFields, "number"},
		{"project_fields empty path", r + `project_fields=["a",""]`, ErrInvalidFields, "item 2"},
		{"unknown parameter", r + "sort=id:asc", ErrInvalidQuery, `"sort"`},
		{"parameter twice", r + "from_date=2020-09-16", ErrInvalidQuery, "2 times"},
		{"malformed URL", r + "page_size=%zz", ErrInvalidQuery, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseURLQuery(tc.raw)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidQuery) {
				t.Fatalf("err = %v, want %v (and ErrInvalidQuery)", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

func TestQueryAccepts(t *testing.T) {
	const r = "from_date=2020-09-15&to_date=2020-09-17&"
	for _, tc := range []struct {
		name, raw string
		check     func(*Query) bool
	}{
		{"exactly 60 days", "from_date=2020-09-01&to_date=2020-10-31", func(q *Query) bool { return true }},
		{"one day", "from_date=2020-08-20&to_date=2020-08-20", func(q *Query) bool {
			return q.To.End().Equal(time.Date(2020, 8, 20, 23, 59, 59, 999999000, time.UTC))
		}},
		{"datetime inside a date to_date", "from_date=2020-09-17T10:00:00&to_date=2020-09-17", func(q *Query) bool { return !q.From.IsDate() }},
		{"zone converted to UTC", "from_date=2020-09-17T10:00:00%2B02:00&to_date=2020-09-17", func(q *Query) bool {
			return q.From.Start().Equal(time.Date(2020, 9, 17, 8, 0, 0, 0, time.UTC))
		}},
		{"quoted sort_by as in seed 004", r + `sort_by="channel_data.duration:desc"`, func(q *Query) bool {
			return reflect.DeepEqual(q.Sort, []SortField{Desc("channel_data.duration")})
		}},
		{"sort without direction is ascending, case-insensitive, spaces", r + `sort_by=status, session_start_time:DESC`, func(q *Query) bool {
			return reflect.DeepEqual(q.Sort, []SortField{Asc("status"), Desc("session_start_time")})
		}},
		{"project_fields as a plain list", r + `project_fields=agent_information.name,status`, func(q *Query) bool {
			return reflect.DeepEqual(q.Fields, []string{"agent_information.name", "status"})
		}},
		{"empty project_fields is the whole document", r + `project_fields=[]`, func(q *Query) bool { return q.Fields == nil }},
		{"empty filter_by", r + `filter_by=`, func(q *Query) bool { return q.Filter.IsZero() }},
		{"term values of every type", r + `filter_by={"must":[{"term":{"a":"x"}},{"term":{"b":27000}},{"term":{"c":true}},{"term":{"d":1.50}}]}`, func(q *Query) bool {
			m := q.Filter.Must
			return m[0].Value == StringValue("x") && m[1].Value == NumberValue(27000) && m[2].Value == BoolValue(true) && m[3].Value.Text == "1.5"
		}},
		{"match on a non-ID field", r + `filter_by={"must":[{"match":{"transcription.client":"i love this agent!"}}]}`, func(q *Query) bool {
			return q.Filter.Must[0] == Match("transcription.client", "i love this agent!")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseURLQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(q) {
				t.Fatalf("unexpected query %+v", q)
			}
		})
	}
}

func TestQueryValidateBuilt(t *testing.T) {
	ok := Query{From: Day(2020, 9, 15), To: Day(2020, 9, 17)}
	for _, tc := range []struct {
		name string
		mod  func(*Query)
		want error
	}{
		{"valid", func(*Query) {}, nil},
		{"negative page size", func(q *Query) { q.PageSize = -1 }, ErrInvalidPage},
		{"unsupported term value type", func(q *Query) { q.Filter.Must = []Clause{Term("a", []int{1})} }, ErrInvalidFilter},
		{"NaN", func(q *Query) {
			q.Filter.Must = []Clause{Term("a", NumberValue(0)), {Kind: KindTerm, Field: "b", Value: ValueOf(float32(0)) /* ok */}, Term("c", NumberValue(nan()))}
		}, ErrInvalidFilter},
		{"unknown clause kind", func(q *Query) { q.Filter.Should = []Clause{{Kind: "prefix", Field: "a", Value: StringValue("x")}} }, ErrInvalidFilter},
		{"too many clauses", func(q *Query) {
			for range MaxClauses + 1 {
				q.Filter.Should = append(q.Filter.Should, Term("a", 1))
			}
		}, ErrInvalidFilter},
		{"bad projection path", func(q *Query) { q.Fields = []string{".a"} }, ErrInvalidFields},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := ok
			tc.mod(&q)
			err := q.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidQuery) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestFilterJSONRoundTrip(t *testing.T) {
	in := `{"must": [{"term": {"agent_information.id": "1234567"}}, {"match": {"transcription.client": "shut up"}}],
		"must_not": [{"term": {"channel_data.duration": 27000}}], "should": [{"term": {"x": false}}]}`
	f, err := ParseFilter([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(f)
	want := `{"must":[{"term":{"agent_information.id":"1234567"}},{"match":{"transcription.client":"shut up"}}],"must_not":[{"term":{"channel_data.duration":27000}}],"should":[{"term":{"x":false}}]}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	var f2 Filter
	if err := json.Unmarshal(out, &f2); err != nil || !reflect.DeepEqual(f, f2) {
		t.Fatalf("%v: %+v != %+v", err, f, f2)
	}
}

func TestElasticsearchRequest(t *testing.T) {
	q, err := ParseURLQuery(seedURLQueries[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.ElasticsearchRequest("acct-1")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"from":0,"size":100,
	  "query":{"bool":{
	    "filter":[{"range":{"session_start_time":{"gte":"2020-09-15","lte":"2020-09-17"}}},{"term":{"account_id":"acct-1"}}],
	    "must":[{"term":{"status":"ended"}}]}},
	  "sort":[{"session_start_time":{"order":"desc"}}],
	  "_source":{"includes":["agent_information"]}}`
	if !jsonEqual(t, b, []byte(want)) {
		t.Fatalf("got %s", b)
	}
	q = &Query{From: At(time.Date(2020, 8, 20, 10, 0, 0, 500000000, time.UTC)), To: Day(2020, 8, 20), PageNumber: 3,
		Filter: Filter{MustNot: []Clause{Term("flow_data.collected_tags.tag", "invalid")}, Should: []Clause{Term("agent_id", "a1"), Term("agent_id", "a2")}}}
	b, err = q.ElasticsearchRequest("")
	if err != nil {
		t.Fatal(err)
	}
	want = `{"from":30,"size":10,"query":{"bool":{
	  "filter":[{"range":{"session_start_time":{"gte":"2020-08-20T10:00:00.500000","lte":"2020-08-20"}}}],
	  "must_not":[{"term":{"flow_data.collected_tags.tag":"invalid"}}],
	  "should":[{"term":{"agent_id":"a1"}},{"term":{"agent_id":"a2"}}],
	  "minimum_should_match":1}}}`
	if !jsonEqual(t, b, []byte(want)) {
		t.Fatalf("got %s", b)
	}
	if _, err := (&Query{}).ElasticsearchRequest(""); !errors.Is(err, ErrMissingRange) {
		t.Fatalf("invalid query encoded: %v", err)
	}
}

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"I love this agent!", []string{"i", "love", "this", "agent"}},
		{"Shut up, Benjamin!", []string{"shut", "up", "benjamin"}},
		{"don't", []string{"don't"}},
		{"2020-10-08T17:09:27.758983", []string{"2020", "10", "08t17", "09", "27.758983"}},
		{"Grüße aus MÜNCHEN", []string{"grüße", "aus", "münchen"}},
		{"¿Qué tal?", []string{"qué", "tal"}},
		{"会議は3時", []string{"会", "議", "は", "3", "時"}},
		{"snake_case and e-mail", []string{"snake_case", "and", "e", "mail"}},
		{"!!! ...", nil},
		{"", nil},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := Analyze(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Analyze(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestBound(t *testing.T) {
	b, err := ParseBound("2021-01-15T08:09:43.377776")
	if err != nil || b.IsDate() || b.String() != "2021-01-15T08:09:43.377776" || !b.End().Equal(b.Start()) {
		t.Fatalf("%v %v", err, b)
	}
	d := Day(2021, 1, 15)
	var d2 Bound
	if err := d2.UnmarshalText([]byte("2021-01-15")); err != nil || d2 != d {
		t.Fatalf("%v %v", err, d2)
	}
	if txt, _ := d.MarshalText(); string(txt) != "2021-01-15" {
		t.Fatal(string(txt))
	}
	if (Bound{}).String() != "" || !(Bound{}).IsZero() || d.IsZero() {
		t.Fatal("zero bound")
	}
}

func TestValuesLeaveDefaultsOut(t *testing.T) {
	q := Query{From: Day(2020, 1, 1), To: Day(2020, 1, 2)}
	if got := q.Values(); !reflect.DeepEqual(got, url.Values{"from_date": {"2020-01-01"}, "to_date": {"2020-01-02"}}) {
		t.Fatalf("%v", got)
	}
}
