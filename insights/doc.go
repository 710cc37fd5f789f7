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
//   - Query.Values / Query.Encode and ParseURLQuery / QueryFromValues
//     convert to and from the URL query (RFC 3986 percent-encoding of the
//     JSON in filter_by and project_fields); Query.ElasticsearchRequest
//     writes the _search body (bool query, from/size, sort, _source).
//   - Index is the portable index type over a driver.Driver: memindex (in
//     memory, inverted indexes; memindex.NewIndex) and sqliteindex
//     (durable, SQLite; sqliteindex.OpenIndex, or NewIndex over a shared
//     database). Both pass insightstest.RunConformanceTests, which runs
//     every example query of seed 004 against fixtures with their expected
//     hits, and queries at the clause limit (MaxClauses). Evaluate runs a
//     query over a slice of sessions by a full scan: the reference
//     semantics.
//   - NewHandler serves GET /insights/sessions,
//     GET /insights/sessions/{id}/parameters, GET
//     /insights/sessions/search/{id} and DELETE /insights/sessions/{id},
//     checking X-Vgai-Key through a KeyVerifier (the rbac package's API
//     keys plug in), scoping every request to the key's account (or, for a
//     service provider's or administrator's key, the account named in
//     X-Vgai-Account within its reach) and authorizing it with rbac:
//     Interaction Read to search, get and find, Interaction Delete to
//     delete (403 otherwise; 503 when the key store is down). A source
//     address that sends too many missing or wrong keys gets 429 with
//     Retry-After (an rbac.FailureLimiter), its keys unchecked until it
//     waited. Client calls the same API.
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
//
// References: seed 004 (the Insights API); RFC 8259 (JSON); RFC 3986 (URL
// query encoding); RFC 3339 and ISO 8601 (dates and times); Unicode UAX #29
// (word boundaries); Elasticsearch's bool, term and match queries.
package insights
