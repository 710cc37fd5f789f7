// Package driver defines the interface that session index backends
// implement, in the style of gocloud.dev's driver packages: the portable type
// insights.Index owns validation, query compilation (text analysis, default
// sort, tiebreak, paging, aggregation intervals and time zones) and
// projection, and hands a driver documents that are already flattened and
// queries that are already analyzed. A driver only stores, filters, counts,
// sorts, pages and aggregates (groups and counts, sums, percentiles).
//
// Every driver must pass insights/insightstest.RunConformanceTests.
package driver

import (
	"context"
	"errors"
	"strings"
)

// ErrNotFound is returned by Get, Find and Delete when no session matches.
// Its text names no package: the insights Index wraps it in an error that
// does ("insights: get session ...: session not found").
var ErrNotFound = errors.New("session not found")

// Kind is the JSON type of a leaf value. Kinds order values of different
// types in a sort: numbers, then strings, then booleans (the order SQLite
// gives INTEGER/REAL, TEXT and BLOB values).
type Kind uint8

// The kinds of leaf values.
const (
	Number Kind = iota + 1
	String
	Bool
)

// Value is one leaf value of a document or of a term clause.
type Value struct {
	Kind Kind
	// Text is the canonical text of the value: the string itself, the
	// canonical form of a number (integers without exponent or fraction,
	// other numbers in Go's shortest 'g' form), or "true"/"false". A term
	// clause matches a leaf whose Text is equal, whatever the kinds: this is
	// how Elasticsearch compares "27000" with the number 27000.
	Text string
	// Num is the value of a Number (and 0 or 1 for a Bool).
	Num float64
}

// Compare orders two values for sorting: by Kind first (see Kind), then
// numerically for numbers, bytewise for strings, false before true.
func Compare(a, b Value) int {
	if a.Kind != b.Kind {
		if a.Kind < b.Kind {
			return -1
		}
		return 1
	}
	switch a.Kind {
	case Number, Bool:
		switch {
		case a.Num < b.Num:
			return -1
		case a.Num > b.Num:
			return 1
		}
		return 0
	default:
		return strings.Compare(a.Text, b.Text)
	}
}

// Field is one leaf of a flattened document: its dotted path (array
// indexes are not part of paths, as in Elasticsearch objects) and its value.
type Field struct {
	Path  string
	Value Value
}

// Document is one session ready to index.
type Document struct {
	AccountID string
	ID        string
	// Start is session_start_time in microseconds since the Unix epoch, UTC.
	Start int64
	// JSON is the session document, returned as is by Get, Find and Search.
	JSON []byte
	// Terms holds every non-null leaf of the document (a path may repeat).
	Terms []Field
	// Tokens holds the analyzed tokens of every leaf that match clauses may
	// search (Value.Kind is String and Value.Text the token), without
	// duplicates per path.
	Tokens []Field
}

// ClauseKind says how a clause compares.
type ClauseKind uint8

// The clause kinds.
const (
	// Term matches a document with a leaf at Path whose Text equals
	// Values[0].Text.
	Term ClauseKind = iota + 1
	// Match matches a document with a token at Path equal to any of
	// Values (already analyzed). A Match clause without values matches no
	// document (Elasticsearch's zero_terms_query "none").
	Match
)

// Clause is one term or match clause of a bool query.
type Clause struct {
	Kind   ClauseKind
	Path   string
	Values []Value
}

// ScorePath is the sort path of the relevance score: the number of should
// clauses a document matches.
const ScorePath = "_score"

// SortKey is one key of a sort. A path with several values sorts by the
// smallest value ascending and by the largest descending; documents without a
// value sort last in both directions (Elasticsearch's defaults).
type SortKey struct {
	Path string
	Desc bool
}

// Query is a compiled query. The portable type always ends Sort with a
// unique tiebreak (id, then account_id), so drivers return one order.
type Query struct {
	// AccountID restricts the search to one account; "" searches all.
	AccountID string
	// From and To bound session_start_time, both inclusive, in
	// microseconds since the Unix epoch.
	From, To int64
	Must     []Clause
	MustNot  []Clause
	Should   []Clause
	// MinimumShouldMatch is 1 when the query has should clauses and no
	// must clause, else 0 (should clauses then only raise the score).
	MinimumShouldMatch int
	Sort               []SortKey
	Offset, Limit      int
	// Aggs are the aggregations Aggregate evaluates over every matching
	// document (Search ignores them).
	Aggs []Agg
}

// Result is one page of a search.
type Result struct {
	// Total counts every matching document, not only this page.
	Total int
	// Docs holds the JSON of the documents of the page, in order.
	Docs [][]byte
	// Aggs holds Aggregate's results, one per Query.Aggs, in order.
	Aggs []AggResult
}

// Driver is a session index backend. Methods may be called concurrently.
type Driver interface {
	// Put stores documents, replacing any stored document with the same
	// account ID and ID.
	Put(ctx context.Context, docs []Document) error
	// Get returns the document with this ID whose start time lies in
	// [from, to] (microseconds, inclusive), or ErrNotFound. An empty
	// account matches every account.
	Get(ctx context.Context, accountID, id string, from, to int64) ([]byte, error)
	// Find returns the document with this ID whatever its start time, or
	// ErrNotFound.
	Find(ctx context.Context, accountID, id string) ([]byte, error)
	// Delete removes the documents with this ID whose start time lies in
	// [from, to]; ErrNotFound when there is none.
	Delete(ctx context.Context, accountID, id string, from, to int64) error
	// Search runs a compiled query.
	Search(ctx context.Context, q *Query) (*Result, error)
	// Aggregate counts the documents q matches (Total) and evaluates
	// q.Aggs over them (Aggs, one result per aggregation); it ignores
	// Sort, Offset and Limit and returns no Docs. See Agg for what each
	// kind computes. A SQL driver runs it as GROUP BY queries, one per
	// aggregation of the tree, joining each bucket level's field.
	Aggregate(ctx context.Context, q *Query) (*Result, error)
	// As gives access to the backend's own handle (see each driver).
	As(i any) bool
	// Close releases the driver's resources.
	Close() error
}

// Pick returns the value a multi-valued field sorts by: the smallest
// ascending, the largest descending; ok is false when there is none.
func Pick(values []Value, desc bool) (v Value, ok bool) {
	for i, x := range values {
		if i == 0 {
			v, ok = x, true
			continue
		}
		if c := Compare(x, v); (c < 0 && !desc) || (c > 0 && desc) {
			v = x
		}
	}
	return v, ok
}

// CompareKeys compares two documents' values for one sort key: a missing
// value sorts last in both directions.
func CompareKeys(a Value, aok bool, b Value, bok bool, desc bool) int {
	switch {
	case !aok && !bok:
		return 0
	case !aok:
		return 1
	case !bok:
		return -1
	}
	c := Compare(a, b)
	if desc {
		return -c
	}
	return c
}
