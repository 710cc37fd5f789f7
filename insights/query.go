package insights

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of a query.
const (
	// MaxRange is the longest span between from_date and to_date (seed
	// 004: "up to 60 days apart").
	MaxRange = 60 * 24 * time.Hour
	// DefaultPageSize is the page size when none is given.
	DefaultPageSize = 10
	// MaxPageSize is the largest page size.
	MaxPageSize = 1000
	// MaxResultWindow bounds (page_number+1)*page_size, as Elasticsearch's
	// index.max_result_window does.
	MaxResultWindow = 10000
)

// Query is a session search: the parameters of GET /insights/sessions.
// Build it as a struct literal or decode it from a URL query with
// ParseURLQuery; Validate (called by every consumer) checks it.
type Query struct {
	// From and To bound session_start_time, both inclusive: a date covers
	// its whole day (Elasticsearch fills the missing parts of an lte date
	// the same way). Both are required; To may be at most MaxRange after
	// From (compared as given: a date counts from its midnight).
	From, To Bound
	// PageNumber counts pages from 0.
	PageNumber int
	// PageSize is the number of hits per page; 0 means DefaultPageSize.
	PageSize int
	// Sort orders the hits; each item is a field path and a direction.
	// With no sort the hits come by score (matched should clauses), then
	// newest first. Every sort ends with the tiebreak id, account_id.
	Sort []SortField
	// Fields projects the hits on these dotted paths (a parent path
	// returns its whole subtree); nil returns whole documents.
	Fields []string
	// Filter is the bool filter of term and match clauses.
	Filter Filter
	// Aggs are aggregations computed over every matching session (not
	// only the page), in Elasticsearch's request and result shapes: see
	// Aggregation and Result.Aggregations. nil computes none.
	Aggs Aggregations
	// NoHits asks for the total and the aggregations only, without hits
	// (page_size=0 in the URL query, as Elasticsearch's "size": 0). It
	// needs Aggs, and PageSize 0; PageNumber, Sort and Fields are then
	// checked but unused.
	NoHits bool
}

// SortField is one item of sort_by: field:asc or field:desc.
type SortField struct {
	Field string
	Desc  bool
}

// String returns field:asc or field:desc.
func (s SortField) String() string {
	if s.Desc {
		return s.Field + ":desc"
	}
	return s.Field + ":asc"
}

// Asc builds an ascending sort item for field.
func Asc(field string) SortField { return SortField{Field: field} }

// Desc builds a descending sort item for field.
func Desc(field string) SortField { return SortField{Field: field, Desc: true} }

// Bound is one end of a date range: a calendar date (a whole UTC day) or an
// instant. The zero Bound is "not given".
type Bound struct {
	t    time.Time
	date bool
}

// Day returns the bound of a whole UTC calendar day.
func Day(year int, month time.Month, day int) Bound {
	return Bound{t: time.Date(year, month, day, 0, 0, 0, 0, time.UTC), date: true}
}

// At returns the bound of an instant (kept to the microsecond).
func At(t time.Time) Bound { return Bound{t: t.UTC().Truncate(time.Microsecond)} }

// ParseBound parses an ISO date ("2020-09-15") or an isoformat datetime
// ("2021-01-15T08:09:43.377776", UTC unless it carries a zone).
func ParseBound(s string) (Bound, error) {
	if len(s) == len("2006-01-02") {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return Bound{}, invalid(ErrInvalidTime, fmt.Sprintf("insights: %q is not an ISO date: %v", s, err))
		}
		return Bound{t: t, date: true}, nil
	}
	t, err := ParseTime(s)
	if err != nil {
		return Bound{}, invalid(ErrInvalidTime, fmt.Sprintf("insights: %q is neither an ISO date (2020-09-15) nor an isoformat datetime (2021-01-15T08:09:43.377776)", s))
	}
	return Bound{t: t.Time}, nil
}

// IsZero reports whether b is the zero (absent) bound.
func (b Bound) IsZero() bool { return b.t.IsZero() && !b.date }

// IsDate reports whether b is a whole day.
func (b Bound) IsDate() bool { return b.date }

// Start is the first instant b covers.
func (b Bound) Start() time.Time { return b.t }

// End is the last instant b covers (to the microsecond).
func (b Bound) End() time.Time {
	if b.date {
		return b.t.AddDate(0, 0, 1).Add(-time.Microsecond)
	}
	return b.t
}

// String returns the date ("2020-09-15") or the isoformat datetime.
func (b Bound) String() string {
	if b.IsZero() {
		return ""
	}
	if b.date {
		return b.t.Format("2006-01-02")
	}
	return Time{b.t}.String()
}

// MarshalText implements encoding.TextMarshaler.
func (b Bound) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *Bound) UnmarshalText(text []byte) error {
	v, err := ParseBound(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// pageSize is the effective page size.
func (q *Query) pageSize() int {
	if q.PageSize == 0 {
		return DefaultPageSize
	}
	return q.PageSize
}

// Validate checks the query and returns the first problem as an error that
// wraps ErrInvalidQuery and one specific error (ErrMissingRange,
// ErrReversedRange, ErrRangeTooLong, ErrInvalidPage, ErrInvalidSort,
// ErrInvalidFields, ErrInvalidFilter, ErrMatchOnIDField or
// ErrInvalidAggregation). Aggregations are checked against the range too:
// the buckets they could return (at most MaxBuckets) and their
// extended_bounds.
func (q *Query) Validate() error {
	if q.From.IsZero() || q.To.IsZero() {
		return invalid(ErrMissingRange, "insights: from_date and to_date are required")
	}
	if q.From.Start().After(q.To.End()) {
		return invalid(ErrReversedRange, fmt.Sprintf("insights: to_date %s is before from_date %s", q.To, q.From))
	}
	if span := q.To.Start().Sub(q.From.Start()); span > MaxRange {
		return invalid(ErrRangeTooLong, fmt.Sprintf("insights: from_date %s and to_date %s are %s apart, more than 60 days", q.From, q.To, fmtSpan(span)))
	}
	if q.PageNumber < 0 {
		return invalid(ErrInvalidPage, fmt.Sprintf("insights: page_number %d is negative (pages count from 0)", q.PageNumber))
	}
	if q.NoHits && len(q.Aggs) == 0 {
		return invalid(ErrInvalidPage, fmt.Sprintf("insights: page_size 0 (no hits) asks for aggregations only, and the query has no aggs; page_size is 1..%d", MaxPageSize))
	}
	if q.NoHits && q.PageSize != 0 {
		return invalid(ErrInvalidPage, fmt.Sprintf("insights: page_size %d with no hits", q.PageSize))
	}
	if q.PageSize < 0 || q.PageSize > MaxPageSize {
		return invalid(ErrInvalidPage, fmt.Sprintf("insights: page_size %d is outside 1..%d", q.PageSize, MaxPageSize))
	}
	if (q.PageNumber+1)*q.pageSize() > MaxResultWindow || q.PageNumber > MaxResultWindow {
		return invalid(ErrInvalidPage, fmt.Sprintf("insights: page_number %d with page_size %d reaches past result %d", q.PageNumber, q.pageSize(), MaxResultWindow))
	}
	for i, s := range q.Sort {
		if err := checkPath(s.Field); err != nil {
			return invalid(ErrInvalidSort, fmt.Sprintf("insights: sort_by item %d: %v", i+1, err))
		}
		if isObjectPath(s.Field) {
			return invalid(ErrInvalidSort, fmt.Sprintf("insights: sort_by %q: %s is an object; sort on one of its fields (for example %s)", s.String(), s.Field, exampleLeaf(s.Field)))
		}
	}
	for i, f := range q.Fields {
		if err := checkPath(f); err != nil {
			return invalid(ErrInvalidFields, fmt.Sprintf("insights: project_fields item %d: %v", i+1, err))
		}
	}
	if err := q.Filter.Validate(); err != nil {
		return err
	}
	if len(q.Aggs) > 0 {
		if _, _, err := compileAggs(q.Aggs, q.From.Start(), q.To.End()); err != nil {
			return err
		}
	}
	return nil
}

func fmtSpan(d time.Duration) string {
	days := d / (24 * time.Hour)
	rest := d - days*24*time.Hour
	if rest == 0 {
		return fmt.Sprintf("%d days", days)
	}
	return fmt.Sprintf("%d days %s", days, rest)
}

// checkPath checks a dotted field path: non-empty segments.
func checkPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty field path")
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("field path %q is not valid UTF-8", p)
	}
	for seg := range strings.SplitSeq(p, ".") {
		if seg == "" {
			return fmt.Errorf("field path %q has an empty segment", p)
		}
	}
	return nil
}

// IDFields returns the ID fields of seed 004, which accept only term
// clauses, plus the ID fields voicegw adds (agent_id,
// channel_data.recording_id, channel_data.sip_call_id and the other
// channel_data fields of a recorded call: see ChannelData and
// Participant). Paths under tags. and parameters. are ID fields too (seed
// 004's tags.<tag_name> and parameters.<parameter_name>), and so are those
// under IDPrefixes (vendor extension data and call attached data).
func IDFields() []string {
	return []string{"api_key", "id", "source", "destination", "account_id", "channel", "agent_information.id", "agent_information.version_id", "agent_information.name", "agent_information.voice", "agent_information.language", "flow_data.collected_tags.tag", "flow_data.collected_tags.category", "flow_data.collected_parameters.name", "flow_data.collected_parameters.type", "flow_data.collected_parameters.audio_url", "flow_path.node_id", "flow_path.request_id", "flow_path.type", "flow_path.tags.tag", "flow_path.tags.category", "flow_path.context.execution_parameters.name", "flow_path.context.execution_parameters.type", "flow_path.context.execution_parameters.audio_url", "flow_path.context.url", "flow_path.request.payload", "flow_path.request.url", "flow_path.request.headers", "flow_path.request.verb", "flow_path.response.payload", "tags_list.tag", "tags_list.category", "tags_list.count", "params_list.name", "params_list.type", "params_list.value", "params_list.audio_url", "flow_path.context.altered_parameters.alteration_source", "flow_path.context.altered_parameters.audio_duration", "flow_path.context.altered_parameters.audio_url", "flow_path.context.altered_parameters.entity", "flow_path.context.altered_parameters.name", "flow_path.context.altered_parameters.value", "flow_path.context.altered_parameters.value_text", "channel_data.audio_url", "channel_data.call_status", "channel_data.duration", "channel_data.status_code", "status", "session_end_time", "agent_id", "channel_data.recording_id", "channel_data.sip_call_id",
		"channel_data.sip_session_ids", "channel_data.playback_url", "channel_data.end_reason", "channel_data.recording_status",
		"channel_data.participants.id", "channel_data.participants.aor", "channel_data.participants.user", "channel_data.participants.aors",
		"channel_data.participants.send", "channel_data.participants.recv"}
}

// IDPrefixes returns the path prefixes under which every field is an ID
// field: seed 004's tags. and parameters., and voicegw's vendor extension
// data (channel_data.extension_data.<key>,
// channel_data.participants.extension_data.<key>) and call attached data
// (call_attached_data.<name>).
func IDPrefixes() []string {
	return []string{"tags.", "parameters.", "channel_data.extension_data.", "channel_data.participants.extension_data.", "call_attached_data."}
}

// IsIDField reports whether path is an ID field: match clauses on it are
// refused with ErrMatchOnIDField.
func IsIDField(path string) bool {
	// the prefixes of IDPrefixes, without allocating (flatten calls this
	// for every leaf)
	if strings.HasPrefix(path, "tags.") || strings.HasPrefix(path, "parameters.") || strings.HasPrefix(path, "call_attached_data.") ||
		strings.HasPrefix(path, "channel_data.extension_data.") || strings.HasPrefix(path, "channel_data.participants.extension_data.") {
		return true
	}
	switch path {
	case "api_key",
		"id",
		"source",
		"destination",
		"account_id",
		"channel",
		"agent_information.id",
		"agent_information.version_id",
		"agent_information.name",
		"agent_information.voice",
		"agent_information.language",
		"flow_data.collected_tags.tag",
		"flow_data.collected_tags.category",
		"flow_data.collected_parameters.name",
		"flow_data.collected_parameters.type",
		"flow_data.collected_parameters.audio_url",
		"flow_path.node_id",
		"flow_path.request_id",
		"flow_path.type",
		"flow_path.tags.tag",
		"flow_path.tags.category",
		"flow_path.context.execution_parameters.name",
		"flow_path.context.execution_parameters.type",
		"flow_path.context.execution_parameters.audio_url",
		"flow_path.context.url",
		"flow_path.request.payload",
		"flow_path.request.url",
		"flow_path.request.headers",
		"flow_path.request.verb",
		"flow_path.response.payload",
		"tags_list.tag",
		"tags_list.category",
		"tags_list.count",
		"params_list.name",
		"params_list.type",
		"params_list.value",
		"params_list.audio_url",
		"flow_path.context.altered_parameters.alteration_source",
		"flow_path.context.altered_parameters.audio_duration",
		"flow_path.context.altered_parameters.audio_url",
		"flow_path.context.altered_parameters.entity",
		"flow_path.context.altered_parameters.name",
		"flow_path.context.altered_parameters.value",
		"flow_path.context.altered_parameters.value_text",
		"channel_data.audio_url",
		"channel_data.call_status",
		"channel_data.duration",
		"channel_data.status_code",
		"status",
		"session_end_time",
		"agent_id",
		"channel_data.recording_id",
		"channel_data.sip_call_id",
		"channel_data.sip_session_ids",
		"channel_data.playback_url",
		"channel_data.end_reason",
		"channel_data.recording_status",
		"channel_data.participants.id",
		"channel_data.participants.aor",
		"channel_data.participants.user",
		"channel_data.participants.aors",
		"channel_data.participants.send",
		"channel_data.participants.recv":
		return true
	}
	return false
}

// objectLeaf reports whether p is a path of Session that holds objects (or
// arrays of objects), which cannot be sorted on, and names a leaf under it.
func objectLeaf(p string) (string, bool) {
	switch p {
	case "agent_information":
		return "agent_information.name", true
	case "channel_data":
		return "channel_data.duration", true
	case "flow_data":
		return "flow_data.collected_tags.tag", true
	case "flow_data.collected_tags":
		return "flow_data.collected_tags.tag", true
	case "flow_data.collected_parameters":
		return "flow_data.collected_parameters.name", true
	case "flow_data.injected_parameters":
		return "flow_data.injected_parameters.name", true
	case "flow_path":
		return "flow_path.type", true
	case "flow_path.request":
		return "flow_path.request.url", true
	case "flow_path.response":
		return "flow_path.response.code", true
	case "flow_path.context":
		return "flow_path.context.url", true
	case "flow_path.context.status":
		return "flow_path.context.status.code", true
	case "flow_path.context.execution_parameters":
		return "flow_path.context.execution_parameters.name", true
	case "flow_path.context.altered_parameters":
		return "flow_path.context.altered_parameters.name", true
	case "flow_path.tags":
		return "flow_path.tags.tag", true
	case "transcription":
		return "transcription.user", true
	case "tags":
		return "tags.<category>.<tag>", true
	case "tags_list":
		return "tags_list.tag", true
	case "params":
		return "params.<name>.value", true
	case "params_list":
		return "params_list.name", true
	case "channel_data.participants":
		return "channel_data.participants.aor", true
	case "channel_data.extension_data":
		return "channel_data.extension_data.<key>", true
	case "channel_data.participants.extension_data":
		return "channel_data.participants.extension_data.<key>", true
	case "call_attached_data":
		return "call_attached_data.<name>", true
	}
	return "", false
}

func isObjectPath(p string) bool {
	if _, ok := objectLeaf(p); ok {
		return true
	}
	for _, prefix := range []string{"tags.", "params."} {
		if rest, ok := strings.CutPrefix(p, prefix); ok && !strings.Contains(rest, ".") {
			return true
		}
	}
	return false
}

func exampleLeaf(p string) string {
	if l, ok := objectLeaf(p); ok {
		return l
	}
	if strings.HasPrefix(p, "params.") {
		return p + ".value"
	}
	return p + ".<tag>"
}
