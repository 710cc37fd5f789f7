package insights

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The URL query parameters of GET /insights/sessions (seed 004).
const (
	ParamFromDate      = "from_date"
	ParamToDate        = "to_date"
	ParamPageNumber    = "page_number"
	ParamPageSize      = "page_size"
	ParamSortBy        = "sort_by"
	ParamProjectFields = "project_fields"
	ParamFilterBy      = "filter_by"
	// ParamAggs carries aggregations as JSON in Elasticsearch's request
	// shape (see ParseAggregations); with it, page_size may be 0 for the
	// aggregations without hits. A voicegw extension of seed 004.
	ParamAggs = "aggs"
	// ParamSessionStartTime is the parameter of get and delete.
	ParamSessionStartTime = "session_start_time"
)

// Values encodes q as the URL query of seed 004: from_date and to_date as
// given (date or isoformat), page_number and page_size when set, sort_by as
// "field:dir,field:dir", project_fields as a JSON array and filter_by as a
// JSON object. url.Values.Encode percent-encodes the braces and quotes, as
// the seed asks.
func (q *Query) Values() url.Values {
	v := url.Values{}
	if !q.From.IsZero() {
		v.Set(ParamFromDate, q.From.String())
	}
	if !q.To.IsZero() {
		v.Set(ParamToDate, q.To.String())
	}
	if q.PageNumber != 0 {
		v.Set(ParamPageNumber, strconv.Itoa(q.PageNumber))
	}
	if q.PageSize != 0 {
		v.Set(ParamPageSize, strconv.Itoa(q.PageSize))
	}
	if q.NoHits {
		v.Set(ParamPageSize, "0")
	}
	if len(q.Sort) > 0 {
		v.Set(ParamSortBy, FormatSort(q.Sort))
	}
	if len(q.Fields) > 0 {
		b, _ := json.Marshal(q.Fields)
		v.Set(ParamProjectFields, string(b))
	}
	if !q.Filter.IsZero() {
		b, _ := q.Filter.MarshalJSON()
		v.Set(ParamFilterBy, string(b))
	}
	if len(q.Aggs) > 0 {
		if b, err := q.Aggs.MarshalJSON(); err == nil {
			v.Set(ParamAggs, string(b))
		}
	}
	return v
}

// Encode returns the encoded URL query (without "?").
func (q *Query) Encode() string { return q.Values().Encode() }

// ParseURLQuery decodes the raw URL query of GET /insights/sessions and
// validates the result. See QueryFromValues for what it accepts.
func ParseURLQuery(rawQuery string) (*Query, error) {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, invalid(ErrInvalidQuery, fmt.Sprintf("insights: malformed URL query: %v", err))
	}
	return QueryFromValues(v)
}

// QueryFromValues decodes and validates the parameters of seed 004.
//
// Accepted forms, beyond the canonical ones Values writes:
//   - from_date / to_date: an ISO date or an isoformat datetime, with an
//     optional zone (UTC when absent).
//   - sort_by: items separated by commas, spaces around them ignored; an
//     item without direction is ascending; one pair of double quotes around
//     the whole value is removed (seed 004 writes sort_by =
//     "channel_data.duration:desc"). asc/desc are case-insensitive; any
//     other direction is ErrInvalidSort. Sorting on an object, as in seed
//     004's agent_information:asc, is ErrInvalidSort naming a leaf to use.
//   - project_fields: a JSON array of strings, or a plain comma-separated
//     list.
//   - filter_by: strict JSON (see ParseFilter); an empty value is no filter.
//   - aggs: strict JSON (see ParseAggregations); an empty value or {} is no
//     aggregation. With aggs, page_size=0 asks for no hits (NoHits).
//
// A parameter given twice is an error, as are parameters this API does not
// know (so a misspelt filter does not silently return everything).
func QueryFromValues(v url.Values) (*Query, error) {
	q := &Query{}
	for k, vs := range v {
		switch k {
		case ParamFromDate, ParamToDate, ParamPageNumber, ParamPageSize, ParamSortBy, ParamProjectFields, ParamFilterBy, ParamAggs:
		default:
			return nil, invalid(ErrInvalidQuery, fmt.Sprintf("insights: unknown parameter %q", k))
		}
		if len(vs) > 1 {
			return nil, invalid(ErrInvalidQuery, fmt.Sprintf("insights: parameter %q given %d times", k, len(vs)))
		}
	}
	var err error
	if s := v.Get(ParamFromDate); s != "" {
		if q.From, err = ParseBound(s); err != nil {
			return nil, invalid(ErrInvalidTime, "insights: from_date: "+strings.TrimPrefix(err.Error(), "insights: "))
		}
	}
	if s := v.Get(ParamToDate); s != "" {
		if q.To, err = ParseBound(s); err != nil {
			return nil, invalid(ErrInvalidTime, "insights: to_date: "+strings.TrimPrefix(err.Error(), "insights: "))
		}
	}
	if s, ok := v[ParamPageNumber]; ok {
		if q.PageNumber, err = parseInt(ParamPageNumber, s[0]); err != nil {
			return nil, err
		}
	}
	if s := strings.TrimSpace(v.Get(ParamAggs)); s != "" {
		if q.Aggs, err = ParseAggregations([]byte(s)); err != nil {
			return nil, err
		}
	}
	if s, ok := v[ParamPageSize]; ok {
		if q.PageSize, err = parseInt(ParamPageSize, s[0]); err != nil {
			return nil, err
		}
		if q.PageSize == 0 {
			if len(q.Aggs) == 0 {
				return nil, invalid(ErrInvalidPage, fmt.Sprintf("insights: page_size 0 is outside 1..%d (0, for no hits, needs aggs)", MaxPageSize))
			}
			q.NoHits = true
		}
	}
	if s := v.Get(ParamSortBy); s != "" {
		if q.Sort, err = ParseSort(s); err != nil {
			return nil, err
		}
	}
	if s, ok := v[ParamProjectFields]; ok {
		if q.Fields, err = ParseFields(s[0]); err != nil {
			return nil, err
		}
	}
	if s := strings.TrimSpace(v.Get(ParamFilterBy)); s != "" {
		if q.Filter, err = ParseFilter([]byte(s)); err != nil {
			return nil, err
		}
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return q, nil
}

func parseInt(name, s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, invalid(ErrInvalidPage, fmt.Sprintf("insights: %s %q is not an integer", name, s))
	}
	return n, nil
}

// ParseSort parses sort_by: "session_start_time:desc,agent_information.id:asc".
func ParseSort(s string) ([]SortField, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	var out []SortField
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		field, dir, hasDir := strings.Cut(item, ":")
		field, dir = strings.TrimSpace(field), strings.TrimSpace(dir)
		if err := checkPath(field); err != nil {
			return nil, invalid(ErrInvalidSort, fmt.Sprintf("insights: sort_by item %d %q: %v", i+1, item, err))
		}
		sf := SortField{Field: field}
		switch {
		case !hasDir || strings.EqualFold(dir, "asc"):
		case strings.EqualFold(dir, "desc"):
			sf.Desc = true
		default:
			return nil, invalid(ErrInvalidSort, fmt.Sprintf("insights: sort_by item %d %q: direction %q is not asc or desc", i+1, item, dir))
		}
		out = append(out, sf)
	}
	return out, nil
}

// FormatSort writes sort items as sort_by: "field:dir,field:dir".
func FormatSort(s []SortField) string {
	parts := make([]string, len(s))
	for i, f := range s {
		parts[i] = f.String()
	}
	return strings.Join(parts, ",")
}

// ParseFields parses project_fields: a JSON array of strings
// (["agent_information.name","status"]) or a comma-separated list.
func ParseFields(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	var out []string
	if strings.HasPrefix(s, "[") {
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, jsonError(ParamProjectFields, []byte(s), err)
		}
	} else if s != "" {
		for f := range strings.SplitSeq(s, ",") {
			out = append(out, strings.TrimSpace(f))
		}
	}
	if len(out) == 0 {
		return nil, nil // no projection: whole documents
	}
	for i, f := range out {
		if err := checkPath(f); err != nil {
			return nil, invalid(ErrInvalidFields, fmt.Sprintf("insights: project_fields item %d: %v", i+1, err))
		}
	}
	return out, nil
}
