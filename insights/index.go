package insights

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/voicegw/voicegw/insights/driver"
)

// Index is a session index: the portable type over a driver.Driver (the
// in-memory driver of insights/memindex, the SQLite driver of
// insights/sqliteindex, or your own). It validates sessions and queries,
// compiles queries for the driver (text analysis, default sort and tiebreak,
// paging), projects hits, and maps errors. Its methods may be called
// concurrently.
//
// Every method takes an account ID: the index keeps each account's sessions
// apart, keyed by (account_id, id). An empty account ID means every account
// (for single-tenant use and administration).
type Index struct {
	drv    driver.Driver
	closed atomic.Bool
}

// NewIndex returns an Index over drv. Drivers' packages offer constructors
// that call it (memindex.NewIndex, sqliteindex.OpenIndex, sqliteindex.NewIndex).
func NewIndex(drv driver.Driver) *Index { return &Index{drv: drv} }

// Result is one page of a search: the response of GET /insights/sessions.
type Result struct {
	// Total counts every matching session.
	Total int
	// Hits are the sessions of the page, projected when the query has
	// Fields.
	Hits []Hit
	// PageSize and PageNumber echo the query's (effective) values
	// (PageSize 0 for a query with NoHits).
	PageSize, PageNumber int
	// Aggregations holds the results of the query's Aggs, by name; nil
	// when it has none.
	Aggregations AggregationResults
}

// resultJSON is the wire form; seed 004 writes page_size and page_number
// as strings ("10", "0"), so this package does too.
type resultJSON struct {
	Total        int                `json:"total"`
	Hits         []Hit              `json:"hits"`
	PageSize     flexInt            `json:"page_size"`
	PageNumber   flexInt            `json:"page_number"`
	Aggregations AggregationResults `json:"aggregations,omitempty"`
}

// MarshalJSON writes {"total": N, "hits": [...], "page_size": "10",
// "page_number": "0"}: page_size and page_number as strings, as in seed
// 004's example output; with aggregations, "aggregations": {...} as
// Elasticsearch writes them.
func (r Result) MarshalJSON() ([]byte, error) {
	hits := r.Hits
	if hits == nil {
		hits = []Hit{}
	}
	return json.Marshal(resultJSON{Total: r.Total, Hits: hits, PageSize: flexInt(r.PageSize), PageNumber: flexInt(r.PageNumber), Aggregations: r.Aggregations})
}

// UnmarshalJSON reads a result; page_size and page_number may be strings
// or numbers.
func (r *Result) UnmarshalJSON(b []byte) error {
	var v resultJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("insights: search result: %w", err)
	}
	*r = Result{Total: v.Total, Hits: v.Hits, PageSize: int(v.PageSize), PageNumber: int(v.PageNumber), Aggregations: v.Aggregations}
	return nil
}

// flexInt is an int written as a JSON string and read from either form.
type flexInt int

func (n flexInt) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.Itoa(int(n)) + `"`), nil
}

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("insights: %s is not an integer", truncate(b))
	}
	*n = flexInt(v)
	return nil
}

// Hit is one session of a result as JSON: the whole document, or the
// projection the query asked for.
type Hit json.RawMessage

// MarshalJSON returns the hit's JSON.
func (h Hit) MarshalJSON() ([]byte, error) {
	if len(h) == 0 {
		return []byte("null"), nil
	}
	return h, nil
}

// UnmarshalJSON keeps a copy of the JSON.
func (h *Hit) UnmarshalJSON(b []byte) error {
	*h = append((*h)[:0], b...)
	return nil
}

// Session decodes the hit. Fields a projection left out are zero.
func (h Hit) Session() (*Session, error) {
	var s Session
	if err := json.Unmarshal(h, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Put indexes sessions, replacing stored sessions with the same account ID
// and ID. Each needs an ID and a session start time (ErrInvalidSession).
func (x *Index) Put(ctx context.Context, sessions ...*Session) error {
	if x.closed.Load() {
		return ErrClosed
	}
	docs := make([]driver.Document, 0, len(sessions))
	for i, s := range sessions {
		d, err := Document(s)
		if err != nil {
			return fmt.Errorf("insights: put session %d: %w", i, err)
		}
		docs = append(docs, d)
	}
	if err := x.drv.Put(ctx, docs); err != nil {
		return fmt.Errorf("insights: put %d sessions: %w", len(docs), err)
	}
	return nil
}

// Document turns a session into the flattened form drivers index. It is
// exported for drivers' tests and for tools that index elsewhere.
func Document(s *Session) (driver.Document, error) {
	if s == nil {
		return driver.Document{}, fmt.Errorf("%w: nil session", ErrInvalidSession)
	}
	if s.ID == "" {
		return driver.Document{}, fmt.Errorf("%w: no id", ErrInvalidSession)
	}
	if s.SessionStartTime.IsZero() {
		return driver.Document{}, fmt.Errorf("%w: session %q has no session_start_time", ErrInvalidSession, s.ID)
	}
	if s.ChannelData.PlaybackURL != "" {
		// a link expires: the API makes a new one for each answer
		c := *s
		c.ChannelData.PlaybackURL = ""
		s = &c
	}
	b, err := json.Marshal(s)
	if err != nil {
		return driver.Document{}, fmt.Errorf("%w: session %q: %v", ErrInvalidSession, s.ID, err)
	}
	f, err := flatten(b)
	if err != nil {
		return driver.Document{}, fmt.Errorf("%w: session %q: %v", ErrInvalidSession, s.ID, err)
	}
	return driver.Document{
		AccountID: s.AccountID,
		ID:        s.ID,
		Start:     s.SessionStartTime.UnixMicro(),
		JSON:      b,
		Terms:     f.terms,
		Tokens:    f.tokens,
	}, nil
}

// dayRange returns the whole UTC day of a session_start_time: seed 004's
// get and delete need only the day ("this does not have to be precise").
func dayRange(start Bound) (int64, int64) {
	t := start.Start()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return day.UnixMicro(), day.AddDate(0, 0, 1).UnixMicro() - 1
}

// Get returns the session with this ID that started on the day of start
// (a date, or a datetime of which only the UTC day counts), or ErrNotFound.
func (x *Index) Get(ctx context.Context, accountID, id string, start Bound) (*Session, error) {
	raw, err := x.GetJSON(ctx, accountID, id, start)
	if err != nil {
		return nil, err
	}
	return Hit(raw).Session()
}

// GetJSON is Get returning the stored JSON.
func (x *Index) GetJSON(ctx context.Context, accountID, id string, start Bound) (json.RawMessage, error) {
	if x.closed.Load() {
		return nil, ErrClosed
	}
	if start.IsZero() {
		return nil, invalid(ErrMissingRange, "insights: session_start_time is required")
	}
	from, to := dayRange(start)
	raw, err := x.drv.Get(ctx, accountID, id, from, to)
	if err != nil {
		return nil, fmt.Errorf("insights: get session %q on %s: %w", id, start.Start().Format("2006-01-02"), err)
	}
	return bytes.Clone(raw), nil
}

// Find returns the session with this ID whatever day it started, or
// ErrNotFound (GET /insights/sessions/search/{id}).
func (x *Index) Find(ctx context.Context, accountID, id string) (*Session, error) {
	raw, err := x.FindJSON(ctx, accountID, id)
	if err != nil {
		return nil, err
	}
	return Hit(raw).Session()
}

// FindJSON is Find returning the stored JSON.
func (x *Index) FindJSON(ctx context.Context, accountID, id string) (json.RawMessage, error) {
	if x.closed.Load() {
		return nil, ErrClosed
	}
	raw, err := x.drv.Find(ctx, accountID, id)
	if err != nil {
		return nil, fmt.Errorf("insights: find session %q: %w", id, err)
	}
	return bytes.Clone(raw), nil
}

// Delete removes the session with this ID that started on the day of
// start, or returns ErrNotFound.
func (x *Index) Delete(ctx context.Context, accountID, id string, start Bound) error {
	if x.closed.Load() {
		return ErrClosed
	}
	if start.IsZero() {
		return invalid(ErrMissingRange, "insights: session_start_time is required")
	}
	from, to := dayRange(start)
	if err := x.drv.Delete(ctx, accountID, id, from, to); err != nil {
		return fmt.Errorf("insights: delete session %q on %s: %w", id, start.Start().Format("2006-01-02"), err)
	}
	return nil
}

// Search validates q, runs it in the account (all accounts when empty) and
// returns one page, projected when q.Fields is set, and the results of
// q.Aggs over every matching session (the page alone with NoHits).
func (x *Index) Search(ctx context.Context, accountID string, q *Query) (*Result, error) {
	if x.closed.Load() {
		return nil, ErrClosed
	}
	cq, plans, err := compile(accountID, q)
	if err != nil {
		return nil, err
	}
	res := &driver.Result{}
	if !q.NoHits {
		if res, err = x.drv.Search(ctx, cq); err != nil {
			return nil, fmt.Errorf("insights: search: %w", err)
		}
	}
	if len(cq.Aggs) > 0 {
		ar, err := x.drv.Aggregate(ctx, cq)
		if err != nil {
			return nil, fmt.Errorf("insights: aggregate: %w", err)
		}
		if q.NoHits {
			res.Total = ar.Total
		}
		res.Aggs = ar.Aggs
	}
	return finish(q, plans, res)
}

// finish projects the driver's documents into a Result and finishes its
// aggregations.
func finish(q *Query, plans []aggPlan, res *driver.Result) (*Result, error) {
	out := &Result{Total: res.Total, PageSize: q.pageSize(), PageNumber: q.PageNumber, Hits: make([]Hit, 0, len(res.Docs))}
	if q.NoHits {
		out.PageSize = 0
	}
	if len(plans) > 0 {
		aggs, err := finishAggs(plans, res.Aggs)
		if err != nil {
			return nil, err
		}
		out.Aggregations = aggs
	}
	for _, d := range res.Docs {
		if len(q.Fields) > 0 {
			p, err := Project(d, q.Fields)
			if err != nil {
				return nil, err
			}
			d = p
		} else {
			d = bytes.Clone(d) // drivers may hand out their own storage
		}
		out.Hits = append(out.Hits, Hit(d))
	}
	return out, nil
}

// As exposes the driver's native handle (see the driver's package).
func (x *Index) As(i any) bool { return x.drv.As(i) }

// Close closes the driver. Later calls return ErrClosed.
func (x *Index) Close() error {
	if x.closed.Swap(true) {
		return ErrClosed
	}
	return x.drv.Close()
}

// Compile validates q and compiles it for a driver: the date range in
// microseconds, analyzed match clauses, the minimum should match, the sort
// with its default (score, then newest first) and tiebreak (id, then
// account_id), the page's offset and limit, and the aggregations (in name
// order, with their intervals and time zones as driver.Interval).
func Compile(accountID string, q *Query) (*driver.Query, error) {
	cq, _, err := compile(accountID, q)
	return cq, err
}

func compile(accountID string, q *Query) (*driver.Query, []aggPlan, error) {
	if q == nil {
		return nil, nil, invalid(ErrMissingRange, "insights: nil query")
	}
	if err := q.Validate(); err != nil {
		return nil, nil, err
	}
	var plans []aggPlan
	var aggs []driver.Agg
	if len(q.Aggs) > 0 {
		var err error
		if plans, aggs, err = compileAggs(q.Aggs, q.From.Start(), q.To.End()); err != nil {
			return nil, nil, err
		}
	}
	cq := &driver.Query{
		AccountID: accountID,
		From:      q.From.Start().UnixMicro(),
		To:        q.To.End().UnixMicro(),
		Must:      compileClauses(q.Filter.Must),
		MustNot:   compileClauses(q.Filter.MustNot),
		Should:    compileClauses(q.Filter.Should),
		Offset:    q.PageNumber * q.pageSize(),
		Limit:     q.pageSize(),
		Aggs:      aggs,
	}
	if len(cq.Should) > 0 && len(cq.Must) == 0 {
		cq.MinimumShouldMatch = 1
	}
	if len(q.Sort) == 0 {
		cq.Sort = append(cq.Sort, driver.SortKey{Path: driver.ScorePath, Desc: true}, driver.SortKey{Path: "session_start_time", Desc: true})
	}
	for _, s := range q.Sort {
		cq.Sort = append(cq.Sort, driver.SortKey{Path: s.Field, Desc: s.Desc})
	}
	cq.Sort = append(cq.Sort, driver.SortKey{Path: "id"}, driver.SortKey{Path: "account_id"})
	return cq, plans, nil
}

func compileClauses(cs []Clause) []driver.Clause {
	if len(cs) == 0 {
		return nil
	}
	out := make([]driver.Clause, len(cs))
	for i, c := range cs {
		switch c.Kind {
		case KindTerm:
			out[i] = driver.Clause{Kind: driver.Term, Path: c.Field, Values: []driver.Value{c.Value}}
		case KindMatch:
			var vals []driver.Value
			seen := map[string]bool{}
			for _, t := range Analyze(c.Value.Text) {
				if !seen[t] {
					seen[t] = true
					vals = append(vals, StringValue(t))
				}
			}
			out[i] = driver.Clause{Kind: driver.Match, Path: c.Field, Values: vals}
		}
	}
	return out
}
