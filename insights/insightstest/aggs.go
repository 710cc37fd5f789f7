package insightstest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones of the time-zone cases, whatever the machine has

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
)

// This file checks aggregations against expectations computed here, by
// plain loops over the fixtures' Session values: never by the code of an
// evaluator. Results are compared as lines, one per bucket, metric and
// percentile, in the order of the result (terms: most frequent first).

// aggLines writes results as lines: "name[key] doc_count=N" for buckets
// (followed by their sub-aggregations, prefixed "name[key]>"), "name
// other=N" for terms, "name value=V" for metrics and "name P=V" for each
// percentile. Sub-aggregations come in name order.
func aggLines(t *testing.T, rs insights.AggregationResults, prefix string) []string {
	t.Helper()
	var out []string
	names := make([]string, 0, len(rs))
	for n := range rs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		r := rs[name]
		p := prefix + name
		switch r.Kind {
		case insights.AggTerms, insights.AggDateHistogram:
			if r.Buckets == nil {
				t.Errorf("%s: nil buckets", p)
			}
			if r.Kind == insights.AggTerms {
				out = append(out, fmt.Sprintf("%s other=%d", p, r.SumOtherDocCount))
			}
			for _, b := range r.Buckets {
				key := b.KeyAsString
				if r.Kind == insights.AggTerms {
					key = b.Key.Text
					if b.Key.Kind == driver.String {
						key = strconv.Quote(b.Key.Text)
					}
				} else if at, err := time.Parse("2006-01-02T15:04:05.000Z07:00", b.KeyAsString); err != nil || at.UnixMilli() != int64(b.Key.Num) || b.Key.Kind != driver.Number {
					t.Errorf("%s: bucket key %v and key_as_string %q disagree (%v)", p, b.Key, b.KeyAsString, err)
				}
				out = append(out, fmt.Sprintf("%s[%s] doc_count=%d", p, key, b.DocCount))
				out = append(out, aggLines(t, b.Aggregations, p+"["+key+"]>")...)
			}
		case insights.AggPercentiles:
			for _, v := range r.Values {
				out = append(out, fmt.Sprintf("%s %v=%s", p, v.Percent, fmtValue(v.Value)))
			}
		default:
			out = append(out, fmt.Sprintf("%s value=%s", p, fmtValue(r.Value)))
		}
	}
	return out
}

func fmtValue(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmtFloat(*v)
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

// The expectation side: sessions picked by loops, grouped and counted.

// pick returns the fixtures of account ("" for all) that started within
// [from, to] and pass keep (when not nil).
func pick(all []*insights.Session, account string, from, to time.Time, keep func(*insights.Session) bool) []*insights.Session {
	var out []*insights.Session
	for _, s := range all {
		st := s.SessionStartTime.Time
		if (account == "" || s.AccountID == account) && !st.Before(from) && !st.After(to) && (keep == nil || keep(s)) {
			out = append(out, s)
		}
	}
	return out
}

// counted is a terms bucket of the expectation.
type counted struct {
	key   string // as aggLines writes it
	order string // sorts like the key (numbers: zero-padded)
	ss    []*insights.Session
}

// termsOf groups sessions by the distinct values keys returns for each, and
// orders the groups by count descending, then key ascending.
func termsOf(ss []*insights.Session, keys func(*insights.Session) []string) []counted {
	idx := map[string]int{}
	var out []counted
	for _, s := range ss {
		seen := map[string]bool{}
		for _, k := range keys(s) {
			if seen[k] {
				continue
			}
			seen[k] = true
			i, ok := idx[k]
			if !ok {
				i = len(out)
				idx[k] = i
				order := k
				if n, err := strconv.ParseInt(k, 10, 64); err == nil {
					order = fmt.Sprintf("%020d", n) // numbers: numerically (all positive here)
				} else {
					k = strconv.Quote(k)
				}
				out = append(out, counted{key: k, order: order})
			}
			out[i].ss = append(out[i].ss, s)
		}
	}
	slices.SortFunc(out, func(a, b counted) int {
		if len(a.ss) != len(b.ss) {
			return len(b.ss) - len(a.ss)
		}
		return strings.Compare(a.order, b.order)
	})
	return out
}

// termsLines writes a terms aggregation of size over groups, then sub
// lines for each kept bucket.
func termsLines(name string, groups []counted, size int, sub func(prefix string, ss []*insights.Session) []string) []string {
	other := 0
	for _, g := range groups[min(size, len(groups)):] {
		other += len(g.ss)
	}
	out := []string{fmt.Sprintf("%s other=%d", name, other)}
	for _, g := range groups[:min(size, len(groups))] {
		out = append(out, fmt.Sprintf("%s[%s] doc_count=%d", name, g.key, len(g.ss)))
		if sub != nil {
			out = append(out, sub(name+"["+g.key+"]>", g.ss)...)
		}
	}
	return out
}

const esTime = "2006-01-02T15:04:05.000Z07:00"

// dayLines writes a daily histogram of sessions in loc, every day from the
// first to the last with sessions (or from lo to hi when set), then sub
// lines for each day.
func dayLines(name string, ss []*insights.Session, loc *time.Location, lo, hi time.Time, minCount int, sub func(prefix string, ss []*insights.Session) []string) []string {
	byDay := map[string][]*insights.Session{}
	var first, last time.Time
	for _, s := range ss {
		l := s.SessionStartTime.In(loc)
		d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
		k := d.Format(esTime)
		byDay[k] = append(byDay[k], s)
		if first.IsZero() || d.Before(first) {
			first = d
		}
		if d.After(last) {
			last = d
		}
	}
	if !lo.IsZero() && (first.IsZero() || lo.Before(first)) {
		first = lo
	}
	if !hi.IsZero() && hi.After(last) {
		last = hi
	}
	var out []string
	if first.IsZero() {
		return out
	}
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		k := d.Format(esTime)
		if len(byDay[k]) < minCount {
			continue
		}
		out = append(out, fmt.Sprintf("%s[%s] doc_count=%d", name, k, len(byDay[k])))
		if sub != nil {
			out = append(out, sub(name+"["+k+"]>", byDay[k])...)
		}
	}
	return out
}

func durations(ss []*insights.Session) []float64 {
	var out []float64
	for _, s := range ss {
		if s.ChannelData.Duration != 0 {
			out = append(out, float64(s.ChannelData.Duration))
		}
	}
	return out
}

// metricLines writes sum, avg, min and max of values as named.
func metricLines(prefix string, names [4]string, vals []float64) []string {
	var out []string
	sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		sum += v
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	value := func(v float64) string {
		if len(vals) == 0 {
			return "null"
		}
		return fmtFloat(v)
	}
	for i, n := range names {
		switch {
		case n == "":
		case i == 0:
			out = append(out, fmt.Sprintf("%s%s value=%s", prefix, n, fmtFloat(sum)))
		case i == 1:
			out = append(out, fmt.Sprintf("%s%s value=%s", prefix, n, value(sum/float64(len(vals)))))
		case i == 2:
			out = append(out, fmt.Sprintf("%s%s value=%s", prefix, n, value(lo)))
		default:
			out = append(out, fmt.Sprintf("%s%s value=%s", prefix, n, value(hi)))
		}
	}
	return out
}

// percentileLines computes percentiles by the definition (rank p/100·(n−1),
// linear interpolation), written here again.
func percentileLines(name string, vals []float64, percents []float64) []string {
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	var out []string
	for _, p := range percents {
		v := "null"
		if n := len(sorted); n > 0 {
			r := p / 100 * float64(n-1)
			i := int(r)
			x := sorted[i]
			if i+1 < n {
				x += (r - float64(i)) * (sorted[i+1] - sorted[i])
			}
			v = fmtFloat(x)
		}
		out = append(out, fmt.Sprintf("%s %v=%s", name, p, v))
	}
	return out
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
func endOf(t time.Time) time.Time              { return t.AddDate(0, 0, 1).Add(-time.Microsecond) }

type aggCase struct {
	name    string
	account string
	// raw is the URL query, unencoded (a + is written %2B).
	raw  string
	want func(fx []*insights.Session) []string
	// total is the expected total; hits the expected number of hits.
	total, hits int
}

func status(s *insights.Session) []string { return []string{s.Status} }
func agent(s *insights.Session) []string  { return []string{s.AgentID} }
func tags(s *insights.Session) []string {
	var out []string
	for _, t := range s.FlowData.CollectedTags {
		out = append(out, t.Tag)
	}
	return out
}

func aggCases() []aggCase {
	sept := func(extra string) string { return "from_date=2020-09-15&to_date=2020-09-18&" + extra }
	aug20 := func(extra string) string { return "from_date=2020-08-20&to_date=2020-08-20&" + extra }
	septSessions := func(fx []*insights.Session, account string) []*insights.Session {
		return pick(fx, account, day(2020, 9, 15), endOf(day(2020, 9, 18)), nil)
	}
	byStatus := func(prefix string, ss []*insights.Session) []string {
		return termsLines(prefix+"by_status", termsOf(ss, status), 10, nil)
	}
	plus2 := time.FixedZone("+02:00", 2*3600)
	return []aggCase{
		{name: "calls per day by status", account: Account, total: 6, hits: 6,
			raw: sept(`aggs={"calls_per_day":{"date_histogram":{"field":"session_start_time","calendar_interval":"day"},"aggs":{"by_status":{"terms":{"field":"status"}}}}}`),
			want: func(fx []*insights.Session) []string {
				return dayLines("calls_per_day", septSessions(fx, Account), time.UTC, time.Time{}, time.Time{}, 0, byStatus)
			}},
		{name: "calls per day by status in +02:00, no hits", account: Account, total: 6, hits: 0,
			raw: sept(`page_size=0&aggs={"calls_per_day":{"date_histogram":{"field":"session_start_time","calendar_interval":"1d","time_zone":"%2B02:00"},"aggs":{"by_status":{"terms":{"field":"status"}}}}}`),
			want: func(fx []*insights.Session) []string {
				return dayLines("calls_per_day", septSessions(fx, Account), plus2, time.Time{}, time.Time{}, 0, byStatus)
			}},
		{name: "average duration per application", account: Account, total: 35, hits: 10,
			raw: aug20(`aggs={"per_application":{"terms":{"field":"agent_id","size":100},"aggs":{"avg_duration":{"avg":{"field":"channel_data.duration"}}}}}`),
			want: func(fx []*insights.Session) []string {
				ss := pick(fx, Account, day(2020, 8, 20), endOf(day(2020, 8, 20)), nil)
				return termsLines("per_application", termsOf(ss, agent), 100, func(p string, ss []*insights.Session) []string {
					return metricLines(p, [4]string{"", "avg_duration"}, durations(ss))
				})
			}},
		{name: "sum, avg, min, max and percentiles of duration per application, size 2", account: Account, total: 35, hits: 0,
			raw: aug20(`page_size=0&aggs={"apps":{"terms":{"field":"agent_id","size":2},"aggs":{"a_sum":{"sum":{"field":"channel_data.duration"}},"b_avg":{"avg":{"field":"channel_data.duration"}},"c_min":{"min":{"field":"channel_data.duration"}},"d_max":{"max":{"field":"channel_data.duration"}},"e_pct":{"percentiles":{"field":"channel_data.duration","percents":[0,10,50,92.5,100]}}}}}`),
			want: func(fx []*insights.Session) []string {
				ss := pick(fx, Account, day(2020, 8, 20), endOf(day(2020, 8, 20)), nil)
				return termsLines("apps", termsOf(ss, agent), 2, func(p string, ss []*insights.Session) []string {
					out := metricLines(p, [4]string{"a_sum", "b_avg", "c_min", "d_max"}, durations(ss))
					return append(out, percentileLines(p+"e_pct", durations(ss), []float64{0, 10, 50, 92.5, 100})...)
				})
			}},
		{name: "default percentiles over every session of the day", account: Account, total: 35, hits: 0,
			raw: aug20(`page_size=0&aggs={"pct":{"percentiles":{"field":"channel_data.duration"}}}`),
			want: func(fx []*insights.Session) []string {
				ss := pick(fx, Account, day(2020, 8, 20), endOf(day(2020, 8, 20)), nil)
				return percentileLines("pct", durations(ss), []float64{1, 5, 25, 50, 75, 95, 99})
			}},
		{name: "an array field: each tag a bucket, size 2 and the others counted", account: Account, total: 6, hits: 0,
			raw: sept(`page_size=0&aggs={"tags":{"terms":{"field":"flow_data.collected_tags.tag","size":2}}}`),
			want: func(fx []*insights.Session) []string {
				return termsLines("tags", termsOf(septSessions(fx, Account), tags), 2, nil)
			}},
		{name: "terms on a number field orders numbers numerically", account: Account, total: 35, hits: 0,
			raw: aug20(`page_size=0&aggs={"durations":{"terms":{"field":"channel_data.duration","size":4}}}`),
			want: func(fx []*insights.Session) []string {
				ss := pick(fx, Account, day(2020, 8, 20), endOf(day(2020, 8, 20)), nil)
				return termsLines("durations", termsOf(ss, func(s *insights.Session) []string {
					return []string{strconv.FormatInt(s.ChannelData.Duration, 10)}
				}), 4, nil)
			}},
		{name: "aggregations follow the filter", account: Account, total: 5, hits: 0,
			raw: sept(`page_size=0&filter_by={"must":[{"term":{"agent_information.id":"1234567"}}]}&aggs={"by_status":{"terms":{"field":"status"}},"total_duration":{"sum":{"field":"channel_data.duration"}}}`),
			want: func(fx []*insights.Session) []string {
				ss := pick(fx, Account, day(2020, 9, 15), endOf(day(2020, 9, 18)), func(s *insights.Session) bool { return s.AgentInformation.ID == "1234567" })
				out := byStatus("", ss)
				return append(out, metricLines("", [4]string{"total_duration"}, durations(ss))...)
			}},
		{name: "every account, per account per day per status", account: "", total: 7, hits: 0,
			raw: sept(`page_size=0&aggs={"accounts":{"terms":{"field":"account_id"},"aggs":{"days":{"date_histogram":{"field":"session_start_time","calendar_interval":"day"},"aggs":{"by_status":{"terms":{"field":"status"}}}}}}}`),
			want: func(fx []*insights.Session) []string {
				accounts := termsOf(septSessions(fx, ""), func(s *insights.Session) []string { return []string{s.AccountID} })
				return termsLines("accounts", accounts, 10, func(p string, ss []*insights.Session) []string {
					return dayLines(p+"days", ss, time.UTC, time.Time{}, time.Time{}, 0, byStatus)
				})
			}},
		{name: "extended bounds give every day, empty ones with zeros", account: Account, total: 6, hits: 0,
			raw: `from_date=2020-09-10&to_date=2020-09-25&page_size=0&aggs={"days":{"date_histogram":{"field":"session_start_time","calendar_interval":"day","extended_bounds":{"min":"2020-09-12","max":"2020-09-20"}},"aggs":{"by_status":{"terms":{"field":"status"}},"longest":{"max":{"field":"channel_data.duration"}}}}}`,
			want: func(fx []*insights.Session) []string {
				ss := pick(fx, Account, day(2020, 9, 10), endOf(day(2020, 9, 25)), nil)
				return dayLines("days", ss, time.UTC, day(2020, 9, 12), day(2020, 9, 20), 0, func(p string, ss []*insights.Session) []string {
					out := byStatus(p, ss)
					return append(out, metricLines(p, [4]string{"", "", "", "longest"}, durations(ss))...)
				})
			}},
		{name: "min_doc_count drops the quiet days", account: Account, total: 6, hits: 0,
			raw: `from_date=2020-09-10&to_date=2020-09-25&page_size=0&aggs={"days":{"date_histogram":{"field":"session_start_time","calendar_interval":"day","min_doc_count":2}}}`,
			want: func(fx []*insights.Session) []string {
				ss := pick(fx, Account, day(2020, 9, 10), endOf(day(2020, 9, 25)), nil)
				return dayLines("days", ss, time.UTC, time.Time{}, time.Time{}, 2, nil)
			}},
		{name: "nothing matches", account: Account, total: 0, hits: 0,
			raw: `from_date=2021-01-01&to_date=2021-01-02&aggs={"days":{"date_histogram":{"field":"session_start_time","calendar_interval":"hour"}},"st":{"terms":{"field":"status"}},"s":{"sum":{"field":"channel_data.duration"}},"a":{"avg":{"field":"channel_data.duration"}},"p":{"percentiles":{"field":"channel_data.duration","percents":[50]}}}`,
			want: func([]*insights.Session) []string {
				return []string{"a value=null", "p 50=null", "s value=0", "st other=0"}
			}},
		{name: "another account sees only its own", account: OtherAccount, total: 1, hits: 0,
			raw: sept(`page_size=0&aggs={"accounts":{"terms":{"field":"account_id"}}}`),
			want: func([]*insights.Session) []string {
				return []string{"accounts other=0", `accounts["acct-2"] doc_count=1`}
			}},
		{name: "seed document: flow_path.type counts each session once", account: SeedAccount, total: 1, hits: 0,
			raw: `from_date=2020-10-08&to_date=2020-10-08&page_size=0&aggs={"types":{"terms":{"field":"flow_path.type"}},"three":{"sum":{"field":"tags.ddbc05ccbc48431d898104ac5e5b561a.three"}}}`,
			want: func(fx []*insights.Session) []string {
				ss := pick(fx, SeedAccount, day(2020, 10, 8), endOf(day(2020, 10, 8)), nil)
				out := []string{fmt.Sprintf("three value=%d", ss[0].Tags["ddbc05ccbc48431d898104ac5e5b561a"]["three"])}
				return append(out, termsLines("types", termsOf(ss, func(s *insights.Session) []string {
					var out []string
					for _, st := range s.FlowPath {
						out = append(out, st.Type)
					}
					return out
				}), 10, nil)...)
			}},
	}
}

func testAggregations(t *testing.T, open Opener) {
	idx := newIndex(t, open)
	fx := Fixtures()
	for _, tc := range aggCases() {
		t.Run(tc.name, func(t *testing.T) {
			q := parseRaw(t, tc.raw)
			res, err := idx.Search(context.Background(), tc.account, q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != tc.total || len(res.Hits) != tc.hits {
				t.Fatalf("total %d, %d hits; want %d, %d", res.Total, len(res.Hits), tc.total, tc.hits)
			}
			got, want := aggLines(t, res.Aggregations, ""), tc.want(fx)
			if len(want) == 0 {
				t.Fatal("the expectation is empty: the case tests nothing")
			}
			if !slices.Equal(got, want) {
				t.Fatalf("aggregations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			ref, err := insights.Evaluate(fx, tc.account, q)
			if err != nil {
				t.Fatal(err)
			}
			if !sameResult(ref, res) || !reflect.DeepEqual(ref.Aggregations, res.Aggregations) {
				t.Fatalf("differs from insights.Evaluate:\n%s\n%s", mustJSON(res), mustJSON(ref))
			}
		})
	}
}

// dstSessions are sessions every 20 minutes around New York's
// daylight-saving changes of 2021 (14 March and 7 November), with a gap of
// four hours across each change, and two more for the week boundaries, in
// account acct-dst.
func dstSessions() []*insights.Session {
	var out []*insights.Session
	add := func(from, to, gapFrom, gapTo time.Time) {
		for t := from; t.Before(to); t = t.Add(20 * time.Minute) {
			if !t.Before(gapFrom) && t.Before(gapTo) {
				continue
			}
			out = append(out, &insights.Session{ID: fmt.Sprintf("dst-%d", t.Unix()), AccountID: "acct-dst", Status: "ended",
				SessionStartTime: insights.TimeOf(t), ChannelData: insights.ChannelData{Duration: int64(1000 * (len(out)%7 + 1))}})
		}
	}
	h := func(y int, m time.Month, d, hh int) time.Time { return time.Date(y, m, d, hh, 0, 0, 0, time.UTC) }
	add(h(2021, 3, 13, 20), h(2021, 3, 15, 4), h(2021, 3, 14, 5), h(2021, 3, 14, 9)) // change at 07:00Z
	add(h(2021, 11, 6, 20), h(2021, 11, 8, 4), h(2021, 11, 7, 4), h(2021, 11, 7, 8)) // change at 06:00Z
	add(h(2021, 10, 25, 0), h(2021, 10, 25, 1), time.Time{}, time.Time{})            // a Monday
	add(h(2021, 10, 31, 23), h(2021, 11, 1, 0), time.Time{}, time.Time{})            // a Sunday, 19:00 local
	return out
}

// hourLines writes an hourly histogram in loc from the hour of the first
// session to that of the last, walking the instants an hour apart from the
// first local hour, so that an hour skipped by the clocks never appears and
// the repeated one appears once.
func hourLines(name string, ss []*insights.Session, loc *time.Location) []string {
	wall := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15") }
	counts := map[string]int{}
	var first, last time.Time
	for _, s := range ss {
		t := s.SessionStartTime.Time
		counts[wall(t)]++
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	var out []string
	prev := ""
	l := first.In(loc)
	for t := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, loc); !t.After(last); t = t.Add(time.Hour) {
		w := wall(t)
		if w == prev {
			continue // the hour the clocks repeat: one bucket
		}
		prev = w
		l := t.In(loc)
		key := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, loc).Format(esTime)
		out = append(out, fmt.Sprintf("%s[%s] doc_count=%d", name, key, counts[w]))
	}
	return out
}

func testAggregationTimeZones(t *testing.T, open Opener) {
	idx := insights.NewIndex(open(t))
	t.Cleanup(func() { _ = idx.Close() })
	ss := dstSessions()
	if err := idx.Put(context.Background(), ss...); err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	kolkata := time.FixedZone("+05:30", 5*3600+1800)
	hist := func(interval, tz string) string {
		return `{"h":{"date_histogram":{"field":"session_start_time","calendar_interval":"` + interval + `","time_zone":"` + tz + `"}}}`
	}
	within := func(from, to time.Time) []*insights.Session { return pick(ss, "acct-dst", from, to, nil) }
	for _, tc := range []struct {
		name, from, to, aggs string
		want                 func() []string
	}{
		{"hours in New York when clocks go forward", "2021-03-13", "2021-03-15", hist("hour", "America/New_York"), func() []string {
			return hourLines("h", within(day(2021, 3, 13), endOf(day(2021, 3, 15))), ny)
		}},
		{"hours in New York when clocks go back", "2021-11-06", "2021-11-08", hist("hour", "America/New_York"), func() []string {
			return hourLines("h", within(day(2021, 11, 6), endOf(day(2021, 11, 8))), ny)
		}},
		{"days of 23 and 25 hours in New York", "2021-10-20", "2021-11-08", hist("day", "America/New_York"), func() []string {
			return dayLines("h", within(day(2021, 10, 20), endOf(day(2021, 11, 8))), ny, time.Time{}, time.Time{}, 0, nil)
		}},
		{"hours in +05:30", "2021-03-13", "2021-03-15", hist("hour", "%2B05:30"), func() []string {
			return hourLines("h", within(day(2021, 3, 13), endOf(day(2021, 3, 15))), kolkata)
		}},
		{"weeks from Monday in New York", "2021-10-20", "2021-11-08", hist("week", "America/New_York"), func() []string {
			weeks := map[string]int{}
			var keys []string
			for _, s := range within(day(2021, 10, 20), endOf(day(2021, 11, 8))) {
				l := s.SessionStartTime.In(ny)
				mon := time.Date(l.Year(), l.Month(), l.Day()-(int(l.Weekday())+6)%7, 0, 0, 0, 0, ny).Format(esTime)
				if weeks[mon] == 0 {
					keys = append(keys, mon)
				}
				weeks[mon]++
			}
			slices.Sort(keys) // the same offset: the text sorts as the time
			var out []string
			for _, k := range keys {
				out = append(out, fmt.Sprintf("h[%s] doc_count=%d", k, weeks[k]))
			}
			return out
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := parseRaw(t, "from_date="+tc.from+"&to_date="+tc.to+"&page_size=0&aggs="+tc.aggs)
			res, err := idx.Search(context.Background(), "acct-dst", q)
			if err != nil {
				t.Fatal(err)
			}
			got, want := aggLines(t, res.Aggregations, ""), tc.want()
			if len(want) < 2 {
				t.Fatalf("the expectation %q tests too little", want)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("aggregations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// testAggregationsMatchEvaluate compares the driver's aggregations with
// insights.Evaluate's on random sessions and random aggregation trees.
func testAggregationsMatchEvaluate(t *testing.T, open Opener) {
	rng := rand.New(rand.NewPCG(17, 23))
	sessions := RandomSessions(rng, 300)
	idx := insights.NewIndex(open(t))
	t.Cleanup(func() { _ = idx.Close() })
	if err := idx.Put(context.Background(), sessions...); err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		q := RandomQuery(rng)
		q.Aggs = RandomAggregations(rng)
		q.NoHits, q.PageSize = rng.IntN(2) == 0, 0
		account := []string{"", "acct-r0", "acct-r1"}[rng.IntN(3)]
		got, err := idx.Search(context.Background(), account, q)
		if err != nil {
			t.Fatalf("query %d %s: %v", i, q.Encode(), err)
		}
		want, err := insights.Evaluate(sessions, account, q)
		if err != nil {
			t.Fatal(err)
		}
		if got.Total != want.Total || !reflect.DeepEqual(got.Aggregations, want.Aggregations) {
			t.Fatalf("query %d (account %q) %s:\n got %s\nwant %s", i, account, q.Encode(), mustJSON(got.Aggregations), mustJSON(want.Aggregations))
		}
	}
}

// RandomAggregations returns a random, valid aggregation tree over the
// fields of RandomSessions: terms, date histograms in several zones,
// metrics and percentiles, up to three levels.
func RandomAggregations(rng *rand.Rand) insights.Aggregations {
	var gen func(depth int) insights.Aggregations
	gen = func(depth int) insights.Aggregations {
		as := insights.Aggregations{}
		for i := range 1 + rng.IntN(2) {
			var a insights.Aggregation
			switch k := rng.IntN(6); {
			case k <= 1 && depth < 3:
				a = insights.TermsAgg([]string{"status", "agent_id", "source", "flow_data.collected_tags.tag", "channel_data.call_status", "account_id", "channel_data.duration"}[rng.IntN(7)], rng.IntN(4))
			case k == 2 && depth < 3:
				a = insights.DateHistogramAgg("session_start_time", []insights.CalendarInterval{insights.IntervalHour, insights.IntervalDay, insights.IntervalWeek}[rng.IntN(3)])
				a.TimeZone = []string{"", "+05:30", "America/New_York", "Europe/Paris", "-11:00"}[rng.IntN(5)]
				a.MinDocCount = []int{0, 0, 1, 3}[rng.IntN(4)]
				if a.CalendarInterval == insights.IntervalHour && depth > 1 {
					a.CalendarInterval = insights.IntervalDay // stay below MaxBuckets
				}
			case k == 3:
				a = insights.PercentilesAgg("channel_data.duration", []float64{50, 90, 12.5}[:1+rng.IntN(3)]...)
			default:
				a = insights.Aggregation{Kind: []insights.AggKind{insights.AggSum, insights.AggAvg, insights.AggMin, insights.AggMax}[rng.IntN(4)], Field: "channel_data.duration"}
			}
			if (a.Kind == insights.AggTerms || a.Kind == insights.AggDateHistogram) && rng.IntN(2) == 0 {
				a.Aggs = gen(depth + 1)
			}
			as[fmt.Sprintf("a%d_%d", depth, i)] = a
		}
		return as
	}
	return gen(1)
}

// testUsage checks Index.Usage against sessions, minutes and seconds per
// account per UTC day counted here.
func testUsage(t *testing.T, open Opener) {
	idx := newIndex(t, open)
	ctx := context.Background()
	extra := []*insights.Session{
		{ID: "u-61s", AccountID: OtherAccount, SessionStartTime: insights.TimeOf(time.Date(2020, 9, 16, 23, 59, 0, 0, time.UTC)), ChannelData: insights.ChannelData{Duration: 61000}},
		{ID: "u-exact", AccountID: OtherAccount, SessionStartTime: insights.TimeOf(time.Date(2020, 9, 17, 0, 0, 0, 0, time.UTC)), ChannelData: insights.ChannelData{Duration: 120000}},
		{ID: "u-live", AccountID: OtherAccount, Status: "in_progress", SessionStartTime: insights.TimeOf(time.Date(2020, 9, 17, 8, 0, 0, 0, time.UTC))},
		{ID: "u-1ms", AccountID: OtherAccount, SessionStartTime: insights.TimeOf(time.Date(2020, 9, 17, 9, 0, 0, 0, time.UTC)), ChannelData: insights.ChannelData{Duration: 1}},
	}
	if err := idx.Put(ctx, extra...); err != nil {
		t.Fatal(err)
	}
	all := append(Fixtures(), extra...)
	from, to := insights.Day(2020, 8, 15), insights.Day(2020, 10, 10)
	for _, account := range []string{"", Account, OtherAccount, "acct-none"} {
		t.Run("account "+account, func(t *testing.T) {
			rep, err := idx.Usage(ctx, account, from, to)
			if err != nil {
				t.Fatal(err)
			}
			type key struct{ account, date string }
			want := map[key]*insights.DailyUsage{}
			var keys []key
			for _, s := range pick(all, account, from.Start(), to.End(), func(s *insights.Session) bool { return s.AccountID != "" }) {
				k := key{s.AccountID, s.SessionStartTime.UTC().Format("2006-01-02")}
				u := want[k]
				if u == nil {
					u = &insights.DailyUsage{AccountID: k.account, Date: k.date}
					want[k] = u
					keys = append(keys, k)
				}
				u.Sessions++
				ms := s.ChannelData.Duration
				u.Minutes += (ms + 59999) / 60000
				u.Seconds += (ms + 999) / 1000
			}
			slices.SortFunc(keys, func(a, b key) int {
				if a.account != b.account {
					return strings.Compare(a.account, b.account)
				}
				return strings.Compare(a.date, b.date)
			})
			wantDays := []insights.DailyUsage{}
			for _, k := range keys {
				wantDays = append(wantDays, *want[k])
			}
			if account != "acct-none" && len(wantDays) == 0 {
				t.Fatal("the expectation is empty")
			}
			if !reflect.DeepEqual(rep.Days, wantDays) || rep.From != from || rep.To != to {
				t.Fatalf("usage\n%+v\nwant\n%+v", rep.Days, wantDays)
			}
		})
	}
	if _, err := idx.Usage(ctx, "", insights.Day(2020, 8, 1), insights.Day(2020, 10, 10)); err == nil {
		t.Fatal("a usage report over 70 days was accepted")
	}
}
