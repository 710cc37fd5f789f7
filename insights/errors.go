package insights

import (
	"errors"

	"github.com/voicegw/voicegw/insights/driver"
)

// Errors callers can match with errors.Is. Every error returned by this
// package wraps one of them, with context naming the bad value. The HTTP API
// answers 401 for ErrInvalidQuery (and the errors that wrap it) and for
// ErrUnauthorized, and 404 for ErrNotFound, as seed 004 documents; 403 for
// ErrForbidden and 503 for ErrUnavailable.
var (
	// ErrInvalidQuery is wrapped by every validation error of a query.
	ErrInvalidQuery = errors.New("insights: invalid query")
	// ErrInvalidTime: a date or datetime that does not parse.
	ErrInvalidTime = errors.New("insights: invalid date")
	// ErrMissingRange: from_date or to_date is missing.
	ErrMissingRange = errors.New("insights: from_date and to_date are required")
	// ErrRangeTooLong: to_date is more than MaxRange after from_date.
	ErrRangeTooLong = errors.New("insights: date range longer than 60 days")
	// ErrReversedRange: to_date is before from_date.
	ErrReversedRange = errors.New("insights: to_date before from_date")
	// ErrInvalidPage: a page number below 0, a page size outside
	// [1, MaxPageSize], or a page past MaxResultWindow.
	ErrInvalidPage = errors.New("insights: invalid page")
	// ErrInvalidSort: a sort item without a field, with an unknown
	// direction, or on an object field.
	ErrInvalidSort = errors.New("insights: invalid sort")
	// ErrInvalidFilter: filter_by that is not a bool filter of term and
	// match clauses.
	ErrInvalidFilter = errors.New("insights: invalid filter")
	// ErrMatchOnIDField: a match clause on an ID field (term only).
	ErrMatchOnIDField = errors.New("insights: ID fields accept only term")
	// ErrInvalidFields: project_fields that is not a list of field paths.
	ErrInvalidFields = errors.New("insights: invalid project_fields")
	// ErrInvalidAggregation: aggs that are not valid JSON of the
	// supported aggregations, name a field that kind cannot aggregate, or
	// could return more than MaxBuckets buckets. The message names the
	// aggregation by its path (outer>inner).
	ErrInvalidAggregation = errors.New("insights: invalid aggregation")
	// ErrInvalidSession: a session that cannot be indexed (no ID or no
	// start time).
	ErrInvalidSession = errors.New("insights: invalid session")
	// ErrNotFound: no session with that ID (in that day).
	ErrNotFound = driver.ErrNotFound
	// ErrUnauthorized: a missing or rejected X-Vgai-Key.
	ErrUnauthorized = errors.New("insights: unauthorized")
	// ErrForbidden: a valid key that may not do this (it lacks the
	// privilege, or the account is outside its reach). HTTP 403.
	ErrForbidden = errors.New("insights: forbidden")
	// ErrUnavailable: the server could not answer for now (its key store
	// is down); the request may be retried. HTTP 503.
	ErrUnavailable = errors.New("insights: service unavailable")
	// ErrClosed: the index is closed.
	ErrClosed = errors.New("insights: index closed")
)

// queryError wraps a specific error and ErrInvalidQuery.
type queryError struct {
	kind error
	msg  string
}

func (e *queryError) Error() string   { return e.msg }
func (e *queryError) Unwrap() []error { return []error{e.kind, ErrInvalidQuery} }

func invalid(kind error, msg string) error { return &queryError{kind: kind, msg: msg} }
