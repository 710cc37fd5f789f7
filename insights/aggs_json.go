package insights

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// member is one member of a JSON object, in document order.
type member struct {
	name string
	raw  json.RawMessage
}

// objectMembers splits a JSON object into its members, refusing anything
// else, duplicate names and trailing data.
func objectMembers(b []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s is not a JSON object", truncate(b))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%s is not a JSON object", truncate(b))
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", truncate(b), err)
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s: %v", truncate(b), err)
		}
		if seen[name] {
			return nil, fmt.Errorf("%q is given twice", name)
		}
		seen[name] = true
		out = append(out, member{name, raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%s: %v", truncate(b), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the object", truncate(b))
	}
	return out, nil
}

// ParseAggregations parses the JSON of aggs: Elasticsearch's request shape,
//
//	{"<name>": {"<kind>": {"field": "<field>", <parameters>},
//	            "aggs": {<sub-aggregations>}}, …}
//
// with the kinds terms (parameters field, size), date_histogram (field,
// calendar_interval, time_zone, min_doc_count, extended_bounds {min, max} as
// dates, isoformat datetimes or epoch milliseconds), sum, avg, min, max
// (field) and percentiles (field, percents). "aggregations" may stand for
// "aggs". Parsing is strict: invalid JSON (the error names the offset),
// duplicate names, unknown kinds or parameters, and parameters of the wrong
// type are errors wrapping ErrInvalidAggregation that name the aggregation.
// The result is validated (Aggregations.Validate); {} gives nil.
func ParseAggregations(b []byte) (Aggregations, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, jsonError(ParamAggs, b, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, invalid(ErrInvalidAggregation, fmt.Sprintf("insights: aggs must be a JSON object of named aggregations, not %s", truncate(b)))
	}
	n := 0
	as, err := parseAggs(b, "", 1, &n)
	if err != nil {
		return nil, err
	}
	if err := as.Validate(); err != nil {
		return nil, err
	}
	return as, nil
}

// UnmarshalJSON parses aggregations strictly (see ParseAggregations).
func (as *Aggregations) UnmarshalJSON(b []byte) error {
	v, err := ParseAggregations(b)
	if err != nil {
		return err
	}
	*as = v
	return nil
}

func parseAggs(b []byte, parent string, depth int, n *int) (Aggregations, error) {
	ms, err := objectMembers(b)
	if err != nil {
		if parent == "" {
			return nil, invalid(ErrInvalidAggregation, fmt.Sprintf("insights: aggs: %v", err))
		}
		return nil, aggError(parent, "aggs: %v", err)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	as := make(Aggregations, len(ms))
	for _, m := range ms {
		path := m.name
		if parent != "" {
			path = parent + ">" + m.name
		}
		if *n++; *n > MaxAggregations {
			return nil, aggError(path, "more than %d aggregations in one request", MaxAggregations)
		}
		if depth > MaxAggDepth {
			return nil, aggError(path, "nested %d deep, more than %d", depth, MaxAggDepth)
		}
		a, err := parseAgg(m.raw, path, depth, n)
		if err != nil {
			return nil, err
		}
		as[m.name] = a
	}
	return as, nil
}

func parseAgg(b []byte, path string, depth int, n *int) (Aggregation, error) {
	var a Aggregation
	ms, err := objectMembers(b)
	if err != nil {
		return a, aggError(path, `must be an object such as {"terms": {"field": "status"}}: %v`, err)
	}
	var body json.RawMessage
	subs := ""
	for _, m := range ms {
		switch m.name {
		case "aggs", "aggregations":
			if subs != "" {
				return a, aggError(path, "both %s and %s", subs, m.name)
			}
			subs = m.name
			if a.Aggs, err = parseAggs(m.raw, path, depth+1, n); err != nil {
				return a, err
			}
		default:
			k := AggKind(m.name)
			if !k.known() {
				return a, aggError(path, "%q is not an aggregation this API supports (terms, date_histogram, sum, avg, min, max, percentiles) nor aggs", m.name)
			}
			if a.Kind != "" {
				return a, aggError(path, "two kinds, %s and %s: one aggregation per name", a.Kind, k)
			}
			a.Kind, body = k, m.raw
		}
	}
	if a.Kind == "" {
		return a, aggError(path, "names no aggregation (terms, date_histogram, sum, avg, min, max or percentiles)")
	}
	params, err := objectMembers(body)
	if err != nil {
		return a, aggError(path, "%s parameters: %v", a.Kind, err)
	}
	for _, p := range params {
		if err := a.parseParam(p); err != nil {
			return a, aggError(path, "%s %s: %v", a.Kind, p.name, err)
		}
	}
	if a.Field == "" {
		return a, aggError(path, "%s needs a field", a.Kind)
	}
	return a, nil
}

// parseParam reads one parameter of a's kind.
func (a *Aggregation) parseParam(p member) error {
	var err error
	hist := a.Kind == AggDateHistogram
	switch {
	case p.name == "field":
		a.Field, err = jsonString(p.raw)
		if err == nil && a.Field == "" {
			err = errors.New("empty field")
		}
	case p.name == "size" && a.Kind == AggTerms:
		if a.Size, err = jsonInt(p.raw); err == nil && a.Size <= 0 {
			err = fmt.Errorf("%d is not positive", a.Size)
		}
	case p.name == "calendar_interval" && hist:
		var s string
		if s, err = jsonString(p.raw); err == nil {
			a.CalendarInterval, err = ParseCalendarInterval(s)
		}
	case p.name == "time_zone" && hist:
		a.TimeZone, err = jsonString(p.raw)
	case p.name == "min_doc_count" && hist:
		if a.MinDocCount, err = jsonInt(p.raw); err == nil && a.MinDocCount < 0 {
			err = fmt.Errorf("%d is negative", a.MinDocCount)
		}
	case p.name == "extended_bounds" && hist:
		a.ExtendedBounds, err = parseExtendedBounds(p.raw)
	case p.name == "percents" && a.Kind == AggPercentiles:
		var nums []json.Number
		if err = json.Unmarshal(p.raw, &nums); err != nil || nums == nil {
			return fmt.Errorf("%s is not a list of numbers", truncate(p.raw))
		}
		a.Percents = make([]float64, len(nums))
		for i, s := range nums {
			if a.Percents[i], err = strconv.ParseFloat(string(s), 64); err != nil {
				return fmt.Errorf("%s is not a number", s)
			}
		}
	default:
		return fmt.Errorf("parameter not supported (%s takes %s)", a.Kind, paramsOf(a.Kind))
	}
	return err
}

func paramsOf(k AggKind) string {
	switch k {
	case AggTerms:
		return "field and size"
	case AggDateHistogram:
		return "field, calendar_interval, time_zone, min_doc_count and extended_bounds"
	case AggPercentiles:
		return "field and percents"
	}
	return "field"
}

func jsonString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || bytes.TrimSpace(raw)[0] != '"' {
		return "", fmt.Errorf("%s is not a string", truncate(raw))
	}
	return s, nil
}

func jsonInt(raw json.RawMessage) (int, error) {
	var num json.Number
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] == '"' || json.Unmarshal(t, &num) != nil {
		return 0, fmt.Errorf("%s is not an integer", truncate(raw))
	}
	i, err := strconv.ParseInt(string(num), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer below 2^31", num)
	}
	return int(i), nil
}

// The epoch milliseconds extended_bounds accepts: years 1970 to 9999.
const maxEpochMillis = 253402300799999

func parseExtendedBounds(raw json.RawMessage) (ExtendedBounds, error) {
	var e ExtendedBounds
	ms, err := objectMembers(raw)
	if err != nil {
		return e, err
	}
	for _, m := range ms {
		var dst *Bound
		switch m.name {
		case "min":
			dst = &e.Min
		case "max":
			dst = &e.Max
		default:
			return e, fmt.Errorf("%q is not min or max", m.name)
		}
		if s, err := jsonString(m.raw); err == nil {
			if *dst, err = ParseBound(s); err != nil {
				return e, fmt.Errorf("%s: %s", m.name, strings.TrimPrefix(err.Error(), "insights: "))
			}
			continue
		}
		var num json.Number
		if err := json.Unmarshal(m.raw, &num); err != nil {
			return e, fmt.Errorf("%s %s is not a date, a datetime or epoch milliseconds", m.name, truncate(m.raw))
		}
		ms, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || ms < 0 || ms > maxEpochMillis {
			return e, fmt.Errorf("%s %s is not epoch milliseconds of years 1970 to 9999", m.name, num)
		}
		*dst = At(time.UnixMilli(ms))
	}
	return e, nil
}

// MarshalJSON writes the aggregations in Elasticsearch's request shape,
// names in order, only the parameters that are set.
func (as Aggregations) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := as.appendJSON(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

func (as Aggregations) appendJSON(b *bytes.Buffer) error {
	b.WriteByte('{')
	for i, name := range as.names() {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, name)
		b.WriteString(":{")
		a := as[name]
		writeJSONString(b, string(a.Kind))
		b.WriteString(`:{"field":`)
		writeJSONString(b, a.Field)
		if a.Size != 0 {
			b.WriteString(`,"size":` + strconv.Itoa(a.Size))
		}
		if a.CalendarInterval != "" {
			b.WriteString(`,"calendar_interval":`)
			writeJSONString(b, string(a.CalendarInterval))
		}
		if a.TimeZone != "" {
			b.WriteString(`,"time_zone":`)
			writeJSONString(b, a.TimeZone)
		}
		if a.MinDocCount != 0 {
			b.WriteString(`,"min_doc_count":` + strconv.Itoa(a.MinDocCount))
		}
		if e := a.ExtendedBounds; !e.IsZero() {
			b.WriteString(`,"extended_bounds":{`)
			if !e.Min.IsZero() {
				b.WriteString(`"min":`)
				writeJSONString(b, e.Min.String())
			}
			if !e.Max.IsZero() {
				if !e.Min.IsZero() {
					b.WriteByte(',')
				}
				b.WriteString(`"max":`)
				writeJSONString(b, e.Max.String())
			}
			b.WriteByte('}')
		}
		if a.Percents != nil {
			b.WriteString(`,"percents":[`)
			for j, p := range a.Percents {
				if math.IsNaN(p) || math.IsInf(p, 0) {
					return fmt.Errorf("insights: aggs %q: percent %v has no JSON form", name, p)
				}
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatFloat(p, 'g', -1, 64))
			}
			b.WriteByte(']')
		}
		b.WriteByte('}')
		if len(a.Aggs) > 0 {
			b.WriteString(`,"aggs":`)
			if err := a.Aggs.appendJSON(b); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return nil
}

// AggregationResults are the results of named aggregations: the
// "aggregations" object of an Elasticsearch response.
type AggregationResults map[string]AggregationResult

// AggregationResult is the result of one aggregation, in Elasticsearch's
// response shape (see MarshalJSON).
type AggregationResult struct {
	// Kind is the aggregation's kind. Results decoded from JSON by
	// Client.Search have it from the request; decoded alone, a metric's
	// kind is unknown ("").
	Kind AggKind
	// Buckets of terms (most frequent first) or date_histogram (in time
	// order). Never nil for those kinds.
	Buckets []Bucket
	// DocCountErrorUpperBound (terms) is always 0 here: counts are exact.
	DocCountErrorUpperBound int
	// SumOtherDocCount (terms) counts the sessions of the buckets past
	// Size.
	SumOtherDocCount int
	// Value of sum, avg, min or max; nil (JSON null) when there was no
	// value (a sum of nothing is 0).
	Value *float64
	// Values of percentiles, in the order asked.
	Values []PercentileValue
}

// PercentileValue is one percentile of a result.
type PercentileValue struct {
	Percent float64
	// Value is nil (JSON null) when there was no value.
	Value *float64
}

// Bucket is one bucket of a terms or date_histogram result.
type Bucket struct {
	// Key is the bucket's value (terms), or the start of its interval in
	// epoch milliseconds (date_histogram).
	Key Value
	// KeyAsString (date_histogram) is the start of the interval in the
	// aggregation's time zone, "2020-09-15T00:00:00.000Z".
	KeyAsString string
	// DocCount counts the bucket's sessions.
	DocCount int
	// Aggregations holds the sub-aggregations' results.
	Aggregations AggregationResults
}

// Time returns the start of a date_histogram bucket's interval, in UTC.
func (b Bucket) Time() time.Time { return time.UnixMilli(int64(b.Key.Num)).UTC() }

// MarshalJSON writes the result as Elasticsearch does: terms
// {"doc_count_error_upper_bound": 0, "sum_other_doc_count": n, "buckets":
// […]}, date_histogram {"buckets": […]}, metrics {"value": v} and
// percentiles {"values": {"50.0": v, …}}.
func (r AggregationResult) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := r.appendJSON(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func appendFloat(b *bytes.Buffer, v *float64) error {
	if v == nil {
		b.WriteString("null")
		return nil
	}
	if math.IsNaN(*v) || math.IsInf(*v, 0) {
		return fmt.Errorf("insights: aggregation value %v has no JSON form", *v)
	}
	b.WriteString(strconv.FormatFloat(*v, 'g', -1, 64))
	return nil
}

func (r *AggregationResult) appendJSON(b *bytes.Buffer) error {
	kind := r.Kind
	if kind == "" {
		switch {
		case r.Values != nil:
			kind = AggPercentiles
		case r.Buckets != nil:
			kind = AggDateHistogram
		}
	}
	switch kind {
	case AggTerms, AggDateHistogram:
		b.WriteByte('{')
		if kind == AggTerms {
			fmt.Fprintf(b, `"doc_count_error_upper_bound":%d,"sum_other_doc_count":%d,`, r.DocCountErrorUpperBound, r.SumOtherDocCount)
		}
		b.WriteString(`"buckets":[`)
		for i := range r.Buckets {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := r.Buckets[i].appendJSON(b); err != nil {
				return err
			}
		}
		b.WriteString("]}")
	case AggPercentiles:
		b.WriteString(`{"values":{`)
		for i, v := range r.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, percentKey(v.Percent))
			b.WriteByte(':')
			if err := appendFloat(b, v.Value); err != nil {
				return err
			}
		}
		b.WriteString("}}")
	default:
		b.WriteString(`{"value":`)
		if err := appendFloat(b, r.Value); err != nil {
			return err
		}
		b.WriteByte('}')
	}
	return nil
}

// MarshalJSON writes {"key_as_string": …, "key": …, "doc_count": n,
// "<sub-aggregation>": {…}, …}.
func (bk Bucket) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := bk.appendJSON(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (bk *Bucket) appendJSON(b *bytes.Buffer) error {
	b.WriteByte('{')
	if bk.KeyAsString != "" {
		b.WriteString(`"key_as_string":`)
		writeJSONString(b, bk.KeyAsString)
		b.WriteByte(',')
	}
	b.WriteString(`"key":`)
	b.Write(valueJSON(bk.Key))
	b.WriteString(`,"doc_count":` + strconv.Itoa(bk.DocCount))
	for _, name := range bk.Aggregations.names() {
		r := bk.Aggregations[name]
		b.WriteByte(',')
		writeJSONString(b, name)
		b.WriteByte(':')
		if err := r.appendJSON(b); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

func (rs AggregationResults) names() []string {
	out := make([]string, 0, len(rs))
	for k := range rs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// UnmarshalJSON reads a result of any kind; see AggregationResult.Kind.
func (r *AggregationResult) UnmarshalJSON(b []byte) error {
	ms, err := objectMembers(b)
	if err != nil {
		return fmt.Errorf("insights: aggregation result: %w", err)
	}
	var out AggregationResult
	for _, m := range ms {
		switch m.name {
		case "buckets":
			if err := json.Unmarshal(m.raw, &out.Buckets); err != nil {
				return err
			}
			if out.Buckets == nil {
				out.Buckets = []Bucket{}
			}
			if out.Kind == "" {
				out.Kind = AggDateHistogram
			}
		case "doc_count_error_upper_bound", "sum_other_doc_count":
			dst := &out.SumOtherDocCount
			if m.name == "doc_count_error_upper_bound" {
				dst = &out.DocCountErrorUpperBound
			}
			if err := json.Unmarshal(m.raw, dst); err != nil {
				return fmt.Errorf("insights: aggregation result %s: %w", m.name, err)
			}
			out.Kind = AggTerms
		case "value":
			if err := json.Unmarshal(m.raw, &out.Value); err != nil {
				return fmt.Errorf("insights: aggregation result value: %w", err)
			}
		case "values":
			vs, err := objectMembers(m.raw)
			if err != nil {
				return fmt.Errorf("insights: aggregation result values: %w", err)
			}
			out.Kind, out.Values = AggPercentiles, []PercentileValue{}
			for _, v := range vs {
				p, err := strconv.ParseFloat(v.name, 64)
				if err != nil {
					return fmt.Errorf("insights: aggregation result values: %q is not a percent", v.name)
				}
				pv := PercentileValue{Percent: p}
				if err := json.Unmarshal(v.raw, &pv.Value); err != nil {
					return fmt.Errorf("insights: aggregation result values %q: %w", v.name, err)
				}
				out.Values = append(out.Values, pv)
			}
		}
	}
	// A bucket aggregation without key_as_string on its buckets and
	// without sum_other_doc_count is not a date histogram of this API.
	if out.Kind == AggDateHistogram && len(out.Buckets) > 0 && out.Buckets[0].KeyAsString == "" {
		out.Kind = AggTerms
	}
	*r = out
	return nil
}

// UnmarshalJSON reads a bucket: key, key_as_string, doc_count, and every
// other member holding an object as a sub-aggregation's result.
func (bk *Bucket) UnmarshalJSON(b []byte) error {
	ms, err := objectMembers(b)
	if err != nil {
		return fmt.Errorf("insights: bucket: %w", err)
	}
	var out Bucket
	for _, m := range ms {
		switch m.name {
		case "key":
			if out.Key, err = parseScalar(KindTerm, m.raw); err != nil {
				return fmt.Errorf("insights: bucket key: %w", err)
			}
		case "key_as_string":
			if out.KeyAsString, err = jsonString(m.raw); err != nil {
				return fmt.Errorf("insights: bucket key_as_string: %w", err)
			}
		case "doc_count":
			if err := json.Unmarshal(m.raw, &out.DocCount); err != nil {
				return fmt.Errorf("insights: bucket doc_count: %w", err)
			}
		default:
			if raw := bytes.TrimSpace(m.raw); len(raw) == 0 || raw[0] != '{' {
				continue
			}
			var sub AggregationResult
			if err := json.Unmarshal(m.raw, &sub); err != nil {
				return err
			}
			if out.Aggregations == nil {
				out.Aggregations = AggregationResults{}
			}
			out.Aggregations[m.name] = sub
		}
	}
	*bk = out
	return nil
}

// applyKinds sets the kinds of results decoded from JSON from the request
// that produced them.
func (rs AggregationResults) applyKinds(req Aggregations) {
	for name, r := range rs {
		a, ok := req[name]
		if !ok {
			continue
		}
		r.Kind = a.Kind
		for i := range r.Buckets {
			r.Buckets[i].Aggregations.applyKinds(a.Aggs)
		}
		rs[name] = r
	}
}

// keyOfSlot is a date histogram bucket's key: epoch milliseconds.
func keyOfSlot(t time.Time) Value { return intValue(t.UnixMilli()) }
