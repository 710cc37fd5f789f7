package insights

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of aggregations: together they bound what one request may cost,
// whatever the index holds.
const (
	// DefaultTermsSize is the number of terms buckets when Size is 0
	// (Elasticsearch's default).
	DefaultTermsSize = 10
	// MaxBuckets bounds the buckets one request may return, counted over
	// the whole tree before it runs: a terms aggregation counts Size, a
	// date histogram the intervals its range holds, and each bucket counts
	// its sub-aggregations' buckets again (Elasticsearch's
	// search.max_buckets default). A calendar_interval hour over 60 days
	// (1,465 buckets) with a terms sub-aggregation of size 10 fits.
	MaxBuckets = 65536
	// MaxAggregations bounds the aggregations of one request, counted at
	// every level: each is one pass (or one SQL query) over the matching
	// sessions.
	MaxAggregations = 32
	// MaxAggDepth bounds the nesting of sub-aggregations (1 is no
	// sub-aggregation).
	MaxAggDepth = 4
	// MaxPercents bounds the percents of one percentiles aggregation.
	MaxPercents = 100
	// maxAggName bounds the length of an aggregation's name in bytes.
	maxAggName = 256
)

// AggKind is the kind of an aggregation, named as in Elasticsearch's
// request.
type AggKind string

// The aggregation kinds.
const (
	// AggTerms buckets sessions by the values of a keyword field, most
	// frequent first (doc_count descending, then key ascending); Size
	// buckets are returned and sum_other_doc_count counts the sessions of
	// the others. A session holding several values (an array field) is in
	// each of their buckets.
	AggTerms AggKind = "terms"
	// AggDateHistogram buckets sessions by session_start_time per
	// calendar hour, day or week (weeks start on Monday) of a time zone
	// (UTC by default). Empty buckets between the first and the last
	// non-empty one are returned (min_doc_count 0, as in Elasticsearch).
	AggDateHistogram AggKind = "date_histogram"
	// AggSum, AggAvg, AggMin and AggMax compute one value of a numeric
	// field: {"value": v}. With no value, sum is 0 and the others null.
	AggSum AggKind = "sum"
	AggAvg AggKind = "avg"
	AggMin AggKind = "min"
	AggMax AggKind = "max"
	// AggPercentiles computes percentiles of a numeric field exactly, by
	// linear interpolation between the closest ranks (PostgreSQL's
	// percentile_cont; Elasticsearch's TDigest approximates the same):
	// {"values": {"50.0": v, …}}.
	AggPercentiles AggKind = "percentiles"
)

func (k AggKind) known() bool {
	switch k {
	case AggTerms, AggDateHistogram, AggSum, AggAvg, AggMin, AggMax, AggPercentiles:
		return true
	}
	return false
}

// buckets reports whether k makes buckets (and may have sub-aggregations).
func (k AggKind) buckets() bool { return k == AggTerms || k == AggDateHistogram }

// CalendarInterval is the interval of a date histogram.
type CalendarInterval string

// The calendar intervals. ParseCalendarInterval also reads Elasticsearch's
// short forms 1h, 1d and 1w.
const (
	IntervalHour CalendarInterval = "hour"
	IntervalDay  CalendarInterval = "day"
	// IntervalWeek is a week from Monday 00:00 (ISO 8601), as in
	// Elasticsearch.
	IntervalWeek CalendarInterval = "week"
)

// ParseCalendarInterval reads hour, day, week (or 1h, 1d, 1w).
func ParseCalendarInterval(s string) (CalendarInterval, error) {
	switch s {
	case "hour", "1h":
		return IntervalHour, nil
	case "day", "1d":
		return IntervalDay, nil
	case "week", "1w":
		return IntervalWeek, nil
	}
	return "", fmt.Errorf("calendar_interval %q is not hour, day or week (1h, 1d, 1w)", s)
}

// width returns the interval's width and origin in microseconds of local
// time (weeks start on Monday 1970-01-05, four days after the epoch).
func (c CalendarInterval) width() (width, origin int64, ok bool) {
	const hour = int64(time.Hour / time.Microsecond)
	switch c {
	case IntervalHour:
		return hour, 0, true
	case IntervalDay:
		return 24 * hour, 0, true
	case IntervalWeek:
		return 7 * 24 * hour, 4 * 24 * hour, true
	}
	return 0, 0, false
}

// DefaultPercents returns the percents of a percentiles aggregation without
// Percents (Elasticsearch's): 1, 5, 25, 50, 75, 95, 99.
func DefaultPercents() []float64 { return []float64{1, 5, 25, 50, 75, 95, 99} }

// ExtendedBounds makes a date histogram return its buckets from Min to Max
// even when empty (with MinDocCount 0). A zero bound is not set. Both must lie
// within the query's range (their buckets, at least).
type ExtendedBounds struct {
	Min, Max Bound
}

// IsZero reports whether neither bound is set.
func (e ExtendedBounds) IsZero() bool { return e.Min.IsZero() && e.Max.IsZero() }

// Aggregation is one aggregation of a request, in Elasticsearch's shape:
// {"<kind>": {"field": …, <parameters>}, "aggs": {<sub-aggregations>}}.
// Which parameters apply depends on Kind; the others must stay zero.
//
// Aggregatable fields: terms takes an ID field (see IDFields: keyword
// fields such as status, agent_id, account_id, source, channel_data.call_status,
// flow_data.collected_tags.tag; tags.<category>.<tag>); date_histogram takes
// session_start_time, the time the query's range bounds; sum, avg, min, max
// and percentiles take a numeric field (see NumericFields: channel_data.duration
// in milliseconds, and the other counts and codes of the document).
type Aggregation struct {
	// Kind is what the aggregation computes.
	Kind AggKind
	// Field is the field it reads.
	Field string
	// Size (terms) is the number of buckets returned; 0 means
	// DefaultTermsSize.
	Size int
	// CalendarInterval (date_histogram): IntervalHour, IntervalDay or
	// IntervalWeek.
	CalendarInterval CalendarInterval
	// TimeZone (date_histogram) is where hours, days and weeks begin: an
	// IANA name ("Europe/Paris", read from the system's time zone
	// database or a program's time/tzdata), a UTC offset ("+02:00",
	// "-0530"), or "" and "UTC" for UTC. Buckets are calendar units of
	// local time: a day with a daylight-saving change lasts 23 or 25
	// hours, and the local hour repeated when clocks go back is one bucket.
	TimeZone string
	// MinDocCount (date_histogram) leaves out buckets with fewer sessions.
	// 0 (the default, as in Elasticsearch) returns the empty buckets
	// between the first and last non-empty ones and within ExtendedBounds.
	MinDocCount int
	// ExtendedBounds (date_histogram) widens the returned buckets to this
	// range, with MinDocCount 0 ("every day of the last 30, with zeros").
	ExtendedBounds ExtendedBounds
	// Percents (percentiles), each in [0, 100]; nil means
	// DefaultPercents.
	Percents []float64
	// Aggs are sub-aggregations, computed within each bucket (terms and
	// date_histogram only).
	Aggs Aggregations
}

// Aggregations are named aggregations: the "aggs" object of an
// Elasticsearch request. Names may not be empty nor contain '[', ']' or '>'
// (Elasticsearch's rule; '>' separates the levels of a path in errors), and a
// sub-aggregation may not be named key, key_as_string or doc_count, which
// its bucket already holds.
type Aggregations map[string]Aggregation

// TermsAgg returns a terms aggregation of field with size buckets (0:
// DefaultTermsSize).
func TermsAgg(field string, size int) Aggregation {
	return Aggregation{Kind: AggTerms, Field: field, Size: size}
}

// DateHistogramAgg returns a date histogram of field (session_start_time)
// per interval, in UTC (set TimeZone for another zone).
func DateHistogramAgg(field string, interval CalendarInterval) Aggregation {
	return Aggregation{Kind: AggDateHistogram, Field: field, CalendarInterval: interval}
}

// SumAgg returns the sum of a numeric field.
func SumAgg(field string) Aggregation { return Aggregation{Kind: AggSum, Field: field} }

// AvgAgg returns the average of a numeric field.
func AvgAgg(field string) Aggregation { return Aggregation{Kind: AggAvg, Field: field} }

// MinAgg returns the smallest value of a numeric field.
func MinAgg(field string) Aggregation { return Aggregation{Kind: AggMin, Field: field} }

// MaxAgg returns the largest value of a numeric field.
func MaxAgg(field string) Aggregation { return Aggregation{Kind: AggMax, Field: field} }

// PercentilesAgg returns percentiles of a numeric field (none given:
// DefaultPercents).
func PercentilesAgg(field string, percents ...float64) Aggregation {
	return Aggregation{Kind: AggPercentiles, Field: field, Percents: percents}
}

// Sub returns a copy of a with the sub-aggregation sub named name added.
func (a Aggregation) Sub(name string, sub Aggregation) Aggregation {
	subs := make(Aggregations, len(a.Aggs)+1)
	for k, v := range a.Aggs {
		subs[k] = v
	}
	subs[name] = sub
	a.Aggs = subs
	return a
}

// NumericFields returns the numeric fields of the session document, which
// sum, avg, min, max and percentiles take; tags.<category>.<tag> (a tag's
// count) is numeric too.
func NumericFields() []string {
	return []string{"channel_data.duration", "channel_data.status_code", "flow_path.execution_time",
		"flow_path.response.code", "flow_path.context.status.code", "tags_list.count",
		"flow_data.injected_parameters.audio_duration", "flow_data.collected_parameters.audio_duration",
		"params_list.audio_duration", "flow_path.context.execution_parameters.audio_duration",
		"flow_path.context.altered_parameters.audio_duration"}
}

// IsNumericField reports whether path is a numeric field (see
// NumericFields).
func IsNumericField(path string) bool {
	if rest, ok := strings.CutPrefix(path, "tags."); ok {
		cat, tag, ok := strings.Cut(rest, ".")
		return ok && cat != "" && tag != "" && !strings.Contains(tag, ".")
	}
	return slices.Contains(NumericFields(), path)
}

// TimeField is the field a date histogram buckets: the session start time,
// which the query's range bounds (so the number of buckets is known before
// the query runs).
const TimeField = "session_start_time"

// names returns the aggregations' names in order: results and errors come
// in this order.
func (as Aggregations) names() []string {
	out := make([]string, 0, len(as))
	for k := range as {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Validate checks the aggregations without a query range: names, kinds,
// fields and parameters, the number of aggregations and their depth. The
// error wraps ErrInvalidAggregation (and ErrInvalidQuery) and names the
// aggregation by its path (outer>inner). Query.Validate also checks the
// buckets against MaxBuckets and ExtendedBounds against the range.
func (as Aggregations) Validate() error {
	n := 0
	return as.validate("", 1, &n)
}

func aggError(path, format string, a ...any) error {
	return invalid(ErrInvalidAggregation, fmt.Sprintf("insights: aggs %q: ", path)+fmt.Sprintf(format, a...))
}

func (as Aggregations) validate(parent string, depth int, n *int) error {
	for _, name := range as.names() {
		path := name
		if parent != "" {
			path = parent + ">" + name
		}
		if err := checkAggName(name, parent != ""); err != nil {
			return invalid(ErrInvalidAggregation, fmt.Sprintf("insights: aggs %q: %v", path, err))
		}
		if *n++; *n > MaxAggregations {
			return aggError(path, "more than %d aggregations in one request", MaxAggregations)
		}
		if depth > MaxAggDepth {
			return aggError(path, "nested %d deep, more than %d", depth, MaxAggDepth)
		}
		a := as[name]
		if err := a.validate(path); err != nil {
			return err
		}
		if len(a.Aggs) > 0 {
			if !a.Kind.buckets() {
				return aggError(path, "a %s aggregation has no buckets, so no sub-aggregations", a.Kind)
			}
			if err := a.Aggs.validate(path, depth+1, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkAggName(name string, sub bool) error {
	switch {
	case name == "":
		return fmt.Errorf("an aggregation needs a name")
	case len(name) > maxAggName:
		return fmt.Errorf("name is longer than %d bytes", maxAggName)
	case !utf8.ValidString(name):
		return fmt.Errorf("name is not valid UTF-8")
	case strings.ContainsAny(name, "[]>"):
		return fmt.Errorf("name may not contain '[', ']' or '>'")
	case sub && (name == "key" || name == "key_as_string" || name == "doc_count"):
		return fmt.Errorf("a sub-aggregation may not be named %s: its bucket holds that key", name)
	}
	return nil
}

// validate checks one aggregation (not its sub-aggregations).
func (a *Aggregation) validate(path string) error {
	if !a.Kind.known() {
		return aggError(path, "kind %q is not terms, date_histogram, sum, avg, min, max or percentiles", a.Kind)
	}
	if err := checkPath(a.Field); err != nil {
		return aggError(path, "%s field: %v", a.Kind, err)
	}
	if a.Kind != AggTerms && a.Size != 0 {
		return aggError(path, "size applies to terms, not %s", a.Kind)
	}
	if a.Kind != AggDateHistogram && (a.CalendarInterval != "" || a.TimeZone != "" || a.MinDocCount != 0 || !a.ExtendedBounds.IsZero()) {
		return aggError(path, "calendar_interval, time_zone, min_doc_count and extended_bounds apply to date_histogram, not %s", a.Kind)
	}
	if a.Kind != AggPercentiles && a.Percents != nil {
		return aggError(path, "percents apply to percentiles, not %s", a.Kind)
	}
	switch a.Kind {
	case AggTerms:
		if !IsIDField(a.Field) {
			return aggError(path, "terms on %q: not an aggregatable keyword field (terms takes an ID field, see IDFields)", a.Field)
		}
		if a.Size < 0 || a.Size > MaxBuckets {
			return aggError(path, "terms size %d is outside 1..%d", a.Size, MaxBuckets)
		}
	case AggDateHistogram:
		if a.Field != TimeField {
			return aggError(path, "date_histogram on %q: only %s can be bucketed by time (the field the range bounds)", a.Field, TimeField)
		}
		if _, _, ok := a.CalendarInterval.width(); !ok {
			return aggError(path, "date_histogram calendar_interval %q is not hour, day or week", a.CalendarInterval)
		}
		if _, err := loadZone(a.TimeZone); err != nil {
			return aggError(path, "date_histogram %v", err)
		}
		if a.MinDocCount < 0 {
			return aggError(path, "date_histogram min_doc_count %d is negative", a.MinDocCount)
		}
		if e := a.ExtendedBounds; !e.Min.IsZero() && !e.Max.IsZero() && e.Max.End().Before(e.Min.Start()) {
			return aggError(path, "date_histogram extended_bounds max %s is before min %s", e.Max, e.Min)
		}
	default:
		if !IsNumericField(a.Field) {
			return aggError(path, "%s on %q: not a numeric field (see NumericFields)", a.Kind, a.Field)
		}
		if a.Kind == AggPercentiles && a.Percents != nil {
			if len(a.Percents) == 0 || len(a.Percents) > MaxPercents {
				return aggError(path, "percentiles needs 1 to %d percents, not %d", MaxPercents, len(a.Percents))
			}
			seen := map[string]bool{}
			for _, p := range a.Percents {
				if !(p >= 0 && p <= 100) {
					return aggError(path, "percent %v is outside 0..100", p)
				}
				k := percentKey(p)
				if seen[k] {
					return aggError(path, "percent %s given twice", k)
				}
				seen[k] = true
			}
		}
	}
	return nil
}

// percentKey is a percent as Elasticsearch names it in a result: Java's
// Double.toString ("50.0", "99.9").
func percentKey(p float64) string {
	s := strconv.FormatFloat(p, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// loadZone reads a date histogram's time_zone: "" or UTC, a UTC offset
// (+02:00, -0530, +05), or an IANA name. "Local" is refused: a query's
// meaning must not depend on the server's settings.
func loadZone(tz string) (*time.Location, error) {
	switch tz {
	case "", "UTC", "Z":
		return time.UTC, nil
	case "Local":
		return nil, fmt.Errorf("time_zone %q: name a zone (the server's local zone is not one)", tz)
	}
	if tz[0] == '+' || tz[0] == '-' {
		off, ok := parseOffset(tz[1:])
		if !ok {
			return nil, fmt.Errorf("time_zone %q is not a UTC offset from -18:00 to +18:00", tz)
		}
		if tz[0] == '-' {
			off = -off
		}
		return time.FixedZone(tz, off), nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time_zone %q is not a time zone this server knows (an IANA name such as Europe/Paris, or an offset such as +02:00)", tz)
	}
	return loc, nil
}

// parseOffset reads HH, HH:MM or HHMM (up to 18:00) as seconds.
func parseOffset(s string) (int, bool) {
	var hh, mm string
	switch {
	case len(s) == 2:
		hh = s
	case len(s) == 5 && s[2] == ':':
		hh, mm = s[:2], s[3:]
	case len(s) == 4:
		hh, mm = s[:2], s[2:]
	default:
		return 0, false
	}
	digits := func(x string) (int, bool) {
		n := 0
		for i := 0; i < len(x); i++ {
			if x[i] < '0' || x[i] > '9' {
				return 0, false
			}
			n = n*10 + int(x[i]-'0')
		}
		return n, true
	}
	h, ok := digits(hh)
	if !ok {
		return 0, false
	}
	m := 0
	if mm != "" {
		if m, ok = digits(mm); !ok || m > 59 {
			return 0, false
		}
	}
	if h*60+m > 18*60 {
		return 0, false
	}
	return h*3600 + m*60, true
}
