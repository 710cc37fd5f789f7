// Package insights is the queryable record of every session, after the
// "Insights" API of seed 004: the session document, a session query builder
// with encoders to the Insights URL query and to an Elasticsearch/OpenSearch
// request body, evaluation with Elasticsearch's semantics, session indexes
// over a driver interface, and the Insights HTTP API with its Go client.
//
// # The pieces
//
//   - Session is the document of seed 004 (flow_path, transcription,
//     tags, params, channel_data, agent_information, …) plus what a
//     recording gateway knows of a call (channel_data.recording_id,
//     channel_data.sip_call_id, agent_id). It marshals to exactly the seed's
//     JSON; NewCallSession builds one from a CallRecord, as a SIPREC
//     recording server does at the end of a call.
//   - Query holds the parameters of GET /insights/sessions: from_date and
//     to_date (Bound: an ISO date or an isoformat datetime, at most 60 days
//     apart), page_number from 0, page_size, sort_by, project_fields and
//     filter_by (Filter: must / must_not / should lists of term and match
//     Clauses). Validate returns typed errors (ErrRangeTooLong,
//     ErrReversedRange, ErrMatchOnIDField, ErrInvalidSort, ErrInvalidPage,
//     ErrInvalidFilter, ErrInvalidFields, ErrMissingRange, all wrapping
//     ErrInvalidQuery) whose messages name the bad value.
//   - Query.Aggs asks for aggregations over every matching session, in
//     Elasticsearch's request shape (Aggregations of Aggregation: terms,
//     date_histogram, sum, avg, min, max, percentiles, with
//     sub-aggregations); Result.Aggregations answers in Elasticsearch's
//     response shape. Query.NoHits (page_size=0) leaves the hits out. See
//     "Aggregations" below.
//   - Query.Values / Query.Encode and ParseURLQuery / QueryFromValues
//     convert to and from the URL query (RFC 3986 percent-encoding of the
//     JSON in filter_by, project_fields and aggs); Query.ElasticsearchRequest
//     writes the _search body (bool query, from/size, sort, _source, aggs).
//   - Index is the portable index type over a driver.Driver: memindex (in
//     memory, inverted indexes; memindex.NewIndex) and sqliteindex
//     (durable, SQLite; sqliteindex.OpenIndex, or NewIndex over a shared
//     database). Both pass insightstest.RunConformanceTests, which runs
//     every example query of seed 004 against fixtures with their expected
//     hits, queries at the clause limit (MaxClauses), and aggregation cases
//     whose results the suite computes by its own loops over the fixtures.
//     Evaluate runs a query over a slice of sessions by a full scan: the
//     reference semantics.
//   - Index.Usage reports the minutes and sessions of each account per day
//     (seed 002's Usage entity; minutes billed per session rounded up, as
//     tenancy bills them), computed as an aggregation by the driver.
//   - NewHandler serves GET /insights/sessions,
//     GET /insights/sessions/{id}/parameters, GET
//     /insights/sessions/search/{id} and DELETE /insights/sessions/{id},
//     checking X-Vgai-Key through a KeyVerifier (the rbac package's API
//     keys plug in), scoping every request to the key's account (or, for a
//     service provider's or administrator's key, the account named in
//     X-Vgai-Account within its reach) and authorizing it with rbac:
//     Interaction Read to search (aggregations included), get and find,
//     Interaction Delete to delete (403 otherwise; 503 when the key store
//     is down). GET /insights/usage serves Index.Usage to keys with Usage
//     Read (a service provider's key without X-Vgai-Account sees every
//     account of its provider). A source address that sends too many
//     missing or wrong keys gets 429 with Retry-After (an
//     rbac.FailureLimiter), its keys unchecked until it waited. Client
//     calls the same API.
//
// # Aggregations
//
// The aggs parameter of GET /insights/sessions (and Query.Aggs) takes
// Elasticsearch's request shape,
//
//	{"<name>": {"<kind>": {"field": "<field>", <parameters>}, "aggs": {<sub-aggregations>}}}
//
// and the response gains "aggregations" in Elasticsearch's response shape:
// terms and date_histogram {"buckets": [{"key": …, "key_as_string": …,
// "doc_count": n, "<sub-aggregation>": {…}}]} (terms add
// doc_count_error_upper_bound, always 0, and sum_other_doc_count), metrics
// {"value": v}, percentiles {"values": {"50.0": v}}. The kinds, and the
// fields each takes:
//
//   - terms (field, size = 10): the most frequent values of a keyword field,
//     which is an ID field (IDFields: status, agent_id, account_id, source,
//     destination, channel_data.call_status, flow_data.collected_tags.tag,
//     …, and tags.<category>.<tag>); free-text fields are analyzed for match
//     and cannot be bucketed.
//   - date_histogram (field, calendar_interval, time_zone, min_doc_count,
//     extended_bounds): session_start_time per hour, day or week (weeks
//     start on Monday), in UTC unless time_zone names an IANA zone or an
//     offset; key is the start of the interval in epoch milliseconds and
//     key_as_string the same instant in the zone
//     ("2020-09-15T00:00:00.000+02:00"). As in Elasticsearch, the empty
//     intervals between the first and last non-empty ones are returned
//     (min_doc_count 0); extended_bounds widens them to a range of dates.
//   - sum, avg, min, max, percentiles (field, percents = 1, 5, 25, 50, 75,
//     95, 99): numeric fields (NumericFields: channel_data.duration in
//     milliseconds, status codes, execution times, tag counts).
//
// Example URL queries (unencoded; page_size=0 returns no hits):
//
//	calls per day by status, last 30 days:
//	from_date=2025-03-02&to_date=2025-03-31&page_size=0&aggs={"calls_per_day":{"date_histogram":{"field":"session_start_time","calendar_interval":"day","extended_bounds":{"min":"2025-03-02","max":"2025-03-31"}},"aggs":{"by_status":{"terms":{"field":"status"}}}}}
//
//	average duration per application:
//	from_date=2025-03-01&to_date=2025-03-31&page_size=0&aggs={"per_application":{"terms":{"field":"agent_id","size":100},"aggs":{"avg_duration":{"avg":{"field":"channel_data.duration"}}}}}
//
// Bounds, so that no request can exhaust memory: at most MaxAggregations
// aggregations, nested MaxAggDepth deep, and at most MaxBuckets buckets,
// counted before the query runs (terms count their size, a histogram the
// intervals of the query's range, at most 60 days; sub-aggregations count
// once per bucket). Where the indexes differ from Elasticsearch: counts are
// exact (not per shard) and percentiles exact (linear interpolation between
// the closest ranks, PostgreSQL's percentile_cont; Elasticsearch's TDigest
// approximates it); a session holding the same value twice in an array
// counts it once in a metric (as the indexes store values); terms take no
// order, min_doc_count or missing; calendar intervals stop at week (a
// 60-day range makes months and years of little use), and fixed_interval,
// date math ("now-30d") and histogram of other time fields are refused with
// errors naming the parameter.
//
// # Semantics (Elasticsearch's)
//
// A term clause compares the whole value of a field exactly (keyword
// semantics); numbers and booleans compare by their canonical text, so
// "27000" matches 27000. A match clause analyzes its text as
// Elasticsearch's standard analyzer does (Unicode word segmentation, UAX
// #29, then lowercase) and matches a field holding any of the tokens; text
// without tokens matches nothing. Arrays are flattened: a clause on
// flow_data.collected_tags.tag matches if any element does. must is AND,
// must_not excludes, should requires at least one match when the filter has
// no must clause and otherwise only raises the score (the number of should
// clauses matched). Sorting works on any field: an array sorts by its
// smallest value ascending and its largest descending, a missing value sorts
// last, values of different JSON types order numbers, strings, booleans.
// Without sort_by, hits come by score, then newest first; every sort ends
// with the tiebreak id, account_id, so pages never overlap. Projection keeps
// dotted paths, a parent path returning its whole subtree. A date to_date
// covers its whole day (as Elasticsearch reads an lte date); times are UTC
// (RFC 3339 zones are converted), kept to the microsecond.
//
// # Where this package departs from seed 004's text, and why
//
//   - Seed 004's `{"should" [` (no colon) is invalid JSON: filter_by is
//     parsed strictly and the error names the offset; the example runs with
//     the colon.
//   - Seed 004's sort `agent_information:asc` sorts on an object, which
//     Elasticsearch refuses: ErrInvalidSort, naming agent_information.name.
//   - Seed 004 describes should as "must contain at least one"; that holds
//     only without must (Elasticsearch), and this package follows
//     Elasticsearch, so "source X, request 22 or 44" returns every call from
//     X with requests 22 or 44 ranked first.
//   - sort_by may be wrapped in double quotes (the seed writes
//     sort_by = "channel_data.duration:desc"); an item without direction is
//     ascending. project_fields may be a comma-separated list. Unknown or
//     repeated URL parameters are errors.
//   - page_size and page_number are written as strings in the response, as
//     in the seed's example output ({"page_size": "10", "page_number":
//     "0"}); the client reads both forms.
//   - Every 4xx of seed 004 is kept: 401 for invalid parameters as well as
//     for a bad key, 404 for a session not found. get and delete need only
//     the day of session_start_time ("this does not have to be precise").
//   - agent_id, used by the seed's examples but absent from its model, is a
//     top-level field; voicegw's ID fields agent_id,
//     channel_data.recording_id and channel_data.sip_call_id are term-only
//     like the seed's (see IDFields).
//   - aggs and /insights/usage are voicegw's additions to seed 004, which
//     promises sessions "queried and aggregated in a dynamic way" without
//     documenting how; page_size=0 is accepted only with aggs.
//
// References: seed 004 (the Insights API); seed 002 (the Usage entity);
// Elasticsearch's bool, term and match queries and its terms,
// date_histogram, metrics and percentiles aggregations; RFC 8259 (JSON);
// RFC 3986 (URL query encoding); RFC 3339 and ISO 8601 (dates and times);
// Unicode UAX #29 (word boundaries).
package insights
