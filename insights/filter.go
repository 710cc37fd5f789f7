package insights

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/voicegw/voicegw/insights/driver"
)

// MaxClauses bounds the number of clauses of a filter (Elasticsearch's
// default indices.query.bool.max_clause_count is 1024).
const MaxClauses = 1024

// Value is a scalar value of a term or match clause (or of a document
// leaf): a string, a number or a boolean, kept in canonical text form.
type Value = driver.Value

// StringValue, NumberValue and BoolValue build clause values.
func StringValue(s string) Value { return Value{Kind: driver.String, Text: s} }

// NumberValue returns the value of a number (NaN and infinities have no
// JSON form and are refused by Validate).
func NumberValue(f float64) Value {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{}
	}
	return Value{Kind: driver.Number, Text: formatNumber(f), Num: f}
}

// BoolValue returns the value of a boolean.
func BoolValue(b bool) Value {
	if b {
		return Value{Kind: driver.Bool, Text: "true", Num: 1}
	}
	return Value{Kind: driver.Bool, Text: "false"}
}

// ValueOf converts a Go string, integer, float, bool or json.Number to a
// Value; any other type gives the zero Value, which Validate refuses.
func ValueOf(v any) Value {
	switch x := v.(type) {
	case Value:
		return x
	case string:
		return StringValue(x)
	case bool:
		return BoolValue(x)
	case int:
		return intValue(int64(x))
	case int32:
		return intValue(int64(x))
	case int64:
		return intValue(x)
	case uint32:
		return intValue(int64(x))
	case float32:
		return NumberValue(float64(x))
	case float64:
		return NumberValue(x)
	case json.Number:
		v, err := numberValue(string(x))
		if err != nil {
			return Value{}
		}
		return v
	}
	return Value{}
}

func intValue(i int64) Value {
	return Value{Kind: driver.Number, Text: strconv.FormatInt(i, 10), Num: float64(i)}
}

// numberValue parses a JSON number into its canonical Value.
func numberValue(s string) (Value, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return intValue(i), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return Value{}, fmt.Errorf("number %s out of range", s)
	}
	return NumberValue(f), nil
}

// formatNumber is the canonical text of a number: integral values below
// 2^53 without fraction or exponent, others in the shortest 'g' form.
func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// valueJSON writes a Value as JSON.
func valueJSON(v Value) []byte {
	switch v.Kind {
	case driver.Number, driver.Bool:
		return []byte(v.Text)
	default:
		b, _ := json.Marshal(v.Text)
		return b
	}
}

// ClauseKind is term or match.
type ClauseKind string

// The clause kinds of seed 004.
const (
	// KindTerm is an exact comparison with the whole value of a field
	// (keyword semantics; a number matches its canonical text).
	KindTerm ClauseKind = "term"
	// KindMatch analyzes the text (Unicode word segmentation, lowercase)
	// and matches a field holding any of its tokens.
	KindMatch ClauseKind = "match"
)

// Clause is one term or match clause: {"term": {"<field>": <value>}}.
type Clause struct {
	Kind  ClauseKind
	Field string
	Value Value
}

// Term builds a term clause; value is a string, number, bool or Value.
func Term(field string, value any) Clause {
	return Clause{Kind: KindTerm, Field: field, Value: ValueOf(value)}
}

// Match builds a match clause.
func Match(field, text string) Clause {
	return Clause{Kind: KindMatch, Field: field, Value: StringValue(text)}
}

// MarshalJSON writes {"term": {"<field>": <value>}} or the match form.
func (c Clause) MarshalJSON() ([]byte, error) {
	f, err := json.Marshal(c.Field)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`{"`)
	b.WriteString(string(c.Kind))
	b.WriteString(`":{`)
	b.Write(f)
	b.WriteByte(':')
	b.Write(valueJSON(c.Value))
	b.WriteString(`}}`)
	return b.Bytes(), nil
}

// String returns the JSON form.
func (c Clause) String() string {
	b, _ := c.MarshalJSON()
	return string(b)
}

// Filter is the bool filter of filter_by: must is AND, must_not excludes,
// should requires at least one match when there is no must clause and
// otherwise only raises the score.
type Filter struct {
	Must    []Clause
	MustNot []Clause
	Should  []Clause
}

// IsZero reports whether the filter has no clause.
func (f Filter) IsZero() bool { return len(f.Must)+len(f.MustNot)+len(f.Should) == 0 }

// MarshalJSON writes {"must": [...], "must_not": [...], "should": [...]},
// leaving out empty lists.
func (f Filter) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, l := range []struct {
		key string
		cs  []Clause
	}{{"must", f.Must}, {"must_not", f.MustNot}, {"should", f.Should}} {
		if len(l.cs) == 0 {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(`"` + l.key + `":[`)
		for i, c := range l.cs {
			if i > 0 {
				b.WriteByte(',')
			}
			cb, err := c.MarshalJSON()
			if err != nil {
				return nil, err
			}
			b.Write(cb)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON parses a filter strictly (see ParseFilter).
func (f *Filter) UnmarshalJSON(b []byte) error {
	v, err := ParseFilter(b)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// ParseFilter parses the JSON of filter_by: an object whose keys are must,
// must_not and should, each a list (or, as Elasticsearch allows, a single
// object) of {"term": {"<field>": <value>}} and {"match": {"<field>":
// <text>}} clauses. The long forms {"term": {"<field>": {"value": v}}} and
// {"match": {"<field>": {"query": t}}} are accepted too. The JSON must be
// valid: seed 004's `{"should" [` (no colon) is refused with an error naming
// the offset. The filter is validated (see Filter.Validate).
func ParseFilter(b []byte) (Filter, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return Filter{}, jsonError("filter_by", b, err)
	}
	if top == nil {
		return Filter{}, invalid(ErrInvalidFilter, "insights: filter_by must be a JSON object, not null")
	}
	var f Filter
	for key, raw := range top {
		var dst *[]Clause
		switch key {
		case "must":
			dst = &f.Must
		case "must_not":
			dst = &f.MustNot
		case "should":
			dst = &f.Should
		default:
			return Filter{}, invalid(ErrInvalidFilter, fmt.Sprintf("insights: filter_by key %q is not must, must_not or should", key))
		}
		items, err := clauseList(key, raw)
		if err != nil {
			return Filter{}, err
		}
		for i, item := range items {
			c, err := parseClause(item)
			if err != nil {
				return Filter{}, invalid(ErrInvalidFilter, fmt.Sprintf("insights: filter_by %s[%d]: %v", key, i, err))
			}
			*dst = append(*dst, c)
		}
	}
	if err := f.Validate(); err != nil {
		return Filter{}, err
	}
	return f, nil
}

func clauseList(key string, raw json.RawMessage) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		return []json.RawMessage{raw}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, invalid(ErrInvalidFilter, fmt.Sprintf("insights: filter_by %s must be a list of clauses, not %s", key, truncate(raw)))
	}
	return items, nil
}

func parseClause(raw json.RawMessage) (Clause, error) {
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(raw, &outer); err != nil || len(outer) != 1 {
		return Clause{}, fmt.Errorf("clause %s must be an object with one key, term or match", truncate(raw))
	}
	for kind, body := range outer {
		if kind != string(KindTerm) && kind != string(KindMatch) {
			return Clause{}, fmt.Errorf("clause kind %q is not term or match", kind)
		}
		var inner map[string]json.RawMessage
		if err := json.Unmarshal(body, &inner); err != nil || len(inner) != 1 {
			return Clause{}, fmt.Errorf("%s clause %s must name exactly one field", kind, truncate(body))
		}
		for field, rv := range inner {
			v, err := parseScalar(ClauseKind(kind), rv)
			if err != nil {
				return Clause{}, fmt.Errorf("%s on %q: %v", kind, field, err)
			}
			return Clause{Kind: ClauseKind(kind), Field: field, Value: v}, nil
		}
	}
	return Clause{}, errors.New("unreachable")
}

// parseScalar reads a clause value: a JSON string, number or boolean, or
// the long form {"value": v} (term) / {"query": v} (match).
func parseScalar(kind ClauseKind, raw json.RawMessage) (Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return Value{}, errors.New("missing value")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Value{}, err
		}
		return StringValue(s), nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return Value{}, err
		}
		return BoolValue(b), nil
	case '{':
		want := "value"
		if kind == KindMatch {
			want = "query"
		}
		var long map[string]json.RawMessage
		if err := json.Unmarshal(raw, &long); err != nil || len(long) != 1 || long[want] == nil {
			return Value{}, fmt.Errorf("value %s: the long form is {%q: <value>}", truncate(raw), want)
		}
		if b := bytes.TrimSpace(long[want]); len(b) > 0 && b[0] == '{' {
			return Value{}, fmt.Errorf("value %s is not a string, number or boolean", truncate(raw))
		}
		return parseScalar(kind, long[want])
	case 'n':
		return Value{}, errors.New("value is null")
	case '[':
		return Value{}, fmt.Errorf("value %s is a list; use one clause per value in should", truncate(raw))
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return Value{}, err
	}
	return numberValue(string(n))
}

// Validate checks every clause: a known kind, a field path, a value of a
// JSON scalar type, and no match on an ID field (ErrMatchOnIDField).
func (f Filter) Validate() error {
	if n := len(f.Must) + len(f.MustNot) + len(f.Should); n > MaxClauses {
		return invalid(ErrInvalidFilter, fmt.Sprintf("insights: filter_by has %d clauses, more than %d", n, MaxClauses))
	}
	for _, l := range []struct {
		key string
		cs  []Clause
	}{{"must", f.Must}, {"must_not", f.MustNot}, {"should", f.Should}} {
		for i, c := range l.cs {
			if c.Kind != KindTerm && c.Kind != KindMatch {
				return invalid(ErrInvalidFilter, fmt.Sprintf("insights: filter_by %s[%d]: clause kind %q is not term or match", l.key, i, c.Kind))
			}
			if err := checkPath(c.Field); err != nil {
				return invalid(ErrInvalidFilter, fmt.Sprintf("insights: filter_by %s[%d]: %v", l.key, i, err))
			}
			if c.Value.Kind < driver.Number || c.Value.Kind > driver.Bool {
				return invalid(ErrInvalidFilter, fmt.Sprintf("insights: filter_by %s[%d]: %s on %q has no string, number or boolean value", l.key, i, c.Kind, c.Field))
			}
			if c.Value.Kind == driver.String && !utf8.ValidString(c.Value.Text) {
				return invalid(ErrInvalidFilter, fmt.Sprintf("insights: filter_by %s[%d]: value %q is not valid UTF-8", l.key, i, c.Value.Text))
			}
			if c.Kind == KindMatch && IsIDField(c.Field) {
				return invalid(ErrMatchOnIDField, fmt.Sprintf("insights: filter_by %s[%d]: %s is an ID field and accepts only term, not match", l.key, i, c.Field))
			}
		}
	}
	return nil
}

// jsonError turns a JSON syntax error into an ErrInvalidFilter or
// ErrInvalidFields error naming the offset and what is there.
func jsonError(param string, b []byte, err error) error {
	kind := ErrInvalidFilter
	switch param {
	case ParamProjectFields:
		kind = ErrInvalidFields
	case ParamAggs:
		kind = ErrInvalidAggregation
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, the bad one included: report the
		// bad byte's own 0-based offset.
		off := max(0, int(se.Offset)-1)
		lo := max(0, off-12)
		hi := min(len(b), off+8)
		return invalid(kind, fmt.Sprintf("insights: %s is not valid JSON at offset %d (near %q): %v", param, off, string(b[lo:hi]), err))
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return invalid(kind, fmt.Sprintf("insights: %s: %s %s at offset %d, want %s", param, te.Value, truncate(b), te.Offset, te.Type))
	}
	return invalid(kind, fmt.Sprintf("insights: %s %s: %v", param, truncate(b), err))
}
