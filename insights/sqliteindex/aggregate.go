package sqliteindex

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
)

// Aggregate implements driver.Driver in SQL: one GROUP BY query per
// aggregation of the tree, over the matching sessions (the same FROM and
// WHERE as Search) joined with insights_terms once per terms level (the
// insights_terms_sid index covers the join). A date histogram's bucket is
// integer arithmetic on the start time (the time zone's offsets as a CASE
// over the few instants they change); a terms level keeps its top buckets
// per parent bucket with row_number() over the counts, and sum() over the
// same partition gives the count of the others; metrics are count, total,
// min and max, restricted to numbers with typeof. Percentiles read the
// sorted values of each bucket. Every query runs in one read transaction,
// so the levels agree with each other and with Total.
func (d *Driver) Aggregate(ctx context.Context, q *driver.Query) (*driver.Result, error) {
	// The order of the hits is of no use here (and a score would cost joins).
	unsorted := *q
	unsorted.Sort = nil
	q = &unsorted
	conn, err := d.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// A deferred transaction: one snapshot, no write lock (BeginTx would
	// take it: the database is opened with _txlock=immediate).
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, fmt.Errorf("sqliteindex: aggregate: %w", err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			// Never hand the pool a connection inside a transaction.
			_ = conn.Raw(func(any) error { return sqldriver.ErrBadConn })
		}
	}()
	src, err := d.source(ctx, conn, q)
	if err != nil {
		return nil, fmt.Errorf("sqliteindex: aggregate: %w", err)
	}
	e := &aggEval{d: d, conn: conn, q: q, src: src}
	res := &driver.Result{Aggs: make([]driver.AggResult, len(q.Aggs))}
	var b sqlBuilder
	from, where := b.from(d, q, src), b.where(d, q, src)
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM `+from+` WHERE `+where, b.args...).Scan(&res.Total); err != nil {
		return nil, fmt.Errorf("sqliteindex: aggregate: count: %w", err)
	}
	for i := range q.Aggs {
		if err := e.node(ctx, nil, &q.Aggs[i], map[string]*driver.AggResult{"": &res.Aggs[i]}); err != nil {
			return nil, fmt.Errorf("sqliteindex: aggregate: %w", err)
		}
	}
	return res, nil
}

// aggEval evaluates one request's aggregations.
type aggEval struct {
	d    *Driver
	conn *sql.Conn
	q    *driver.Query
	src  int
}

// level is one bucket level above an aggregation: a terms level joins
// insights_terms as t<i>; a date histogram level reads the local time h<i>
// computed with the matching sessions (am).
type level struct {
	terms bool
	pid   int64
	iv    *driver.Interval
	// restrict, for terms, lists the values of the buckets kept at this
	// level, when they are few and the buckets left out hold more
	// sessions than they do, to skip the others' rows early.
	restrict []any
}

// maxRestrict bounds the IN list of a level's kept values.
const maxRestrict = 500

// query builds a SELECT of cols over the matching sessions joined with
// the levels' fields (and join, when set), with the levels' restrictions.
func (e *aggEval) query(levels []level, cols, join, tail string) (string, []any) {
	var b sqlBuilder
	from, where := b.from(e.d, e.q, e.src), b.where(e.d, e.q, e.src)
	var sb strings.Builder
	sb.WriteString("SELECT " + cols + " FROM (SELECT s.sid AS sid")
	for i, l := range levels {
		if !l.terms {
			fmt.Fprintf(&sb, ", s.start + %s - %d AS h%d", offsetSQL(l.iv), l.iv.Origin, i)
		}
	}
	sb.WriteString(" FROM " + from + " WHERE " + where + ") am")
	for i, l := range levels {
		if l.terms {
			// CROSS JOIN keeps the matching sessions the outer loop:
			// with statistics of a large index, SQLite would rather read
			// the field's postings and look every session up by rowid
			// (random reads of the documents' table; 7× slower at 1M).
			fmt.Fprintf(&sb, " CROSS JOIN insights_terms t%d ON t%d.sid = am.sid AND t%d.pid = %d", i, i, i, l.pid)
		}
	}
	sb.WriteString(join)
	args := b.args
	var conds []string
	for i, l := range levels {
		if l.terms && l.restrict != nil {
			// The unary + keeps the plan: filter the joined rows, do not
			// start from the postings of these values (a slower plan
			// when they hold most sessions).
			conds = append(conds, fmt.Sprintf("+t%d.v IN (%s)", i, placeholders(len(l.restrict))))
			args = append(args, l.restrict...)
		}
	}
	if len(conds) > 0 {
		sb.WriteString(" WHERE " + strings.Join(conds, " AND "))
	}
	sb.WriteString(tail)
	return sb.String(), args
}

// offsetSQL is the time zone's UTC offset at s.start, in microseconds.
func offsetSQL(iv *driver.Interval) string {
	n := len(iv.Offsets)
	if n == 0 {
		return "0"
	}
	if n == 1 {
		return strconv.FormatInt(iv.Offsets[0].Offset, 10)
	}
	var sb strings.Builder
	sb.WriteString("(CASE")
	for i := n - 1; i >= 1; i-- {
		fmt.Fprintf(&sb, " WHEN s.start >= %d THEN %d", iv.Offsets[i].From, iv.Offsets[i].Offset)
	}
	fmt.Fprintf(&sb, " ELSE %d END)", iv.Offsets[0].Offset)
	return sb.String()
}

// keySQL is the bucket key of level i: a terms value, or a slot (the floor
// of the local time divided by the width; SQL's % truncates).
func keySQL(i int, l level) string {
	if l.terms {
		return fmt.Sprintf("t%d.v", i)
	}
	w := l.iv.Width
	return fmt.Sprintf("((am.h%d - ((am.h%d %% %d) + %d) %% %d) / %d)", i, i, w, w, w, w)
}

// keyCols returns "k0 expr AS k0, …" and "k0, k1, …" for the levels.
func keyCols(levels []level) (sel, names []string) {
	for i, l := range levels {
		sel = append(sel, keySQL(i, l)+" AS k"+strconv.Itoa(i))
		names = append(names, "k"+strconv.Itoa(i))
	}
	return sel, names
}

// node evaluates aggregation a under levels; targets maps each kept bucket
// of the levels (its key string) to the result a fills there.
func (e *aggEval) node(ctx context.Context, levels []level, a *driver.Agg, targets map[string]*driver.AggResult) error {
	if len(targets) == 0 {
		return nil
	}
	switch a.Kind {
	case driver.AggTerms, driver.AggDateHistogram:
		return e.buckets(ctx, levels, a, targets)
	case driver.AggPercentiles:
		return e.percentiles(ctx, levels, a, targets)
	default:
		return e.metrics(ctx, levels, a, targets)
	}
}

func (e *aggEval) buckets(ctx context.Context, levels []level, a *driver.Agg, targets map[string]*driver.AggResult) error {
	self := level{iv: &a.Interval}
	if a.Kind == driver.AggTerms {
		pid, ok := e.d.pid(a.Path)
		if !ok {
			return nil // no session has the field: no buckets
		}
		self = level{terms: true, pid: pid}
	}
	all := append(append([]level(nil), levels...), self)
	sel, names := keyCols(all)
	d := len(levels)
	prefix := strings.Join(names[:d], ", ")
	var text string
	var args []any
	if a.Kind == driver.AggTerms {
		part := ""
		if d > 0 {
			part = "PARTITION BY " + prefix + " "
		}
		inner, iargs := e.query(all, strings.Join(sel, ", ")+", count(*) AS c", "", " GROUP BY "+strings.Join(names, ", "))
		order := "rn"
		if d > 0 {
			order = prefix + ", rn"
		}
		text = "SELECT " + strings.Join(names, ", ") + ", c, tot FROM (SELECT *, row_number() OVER (" + part + "ORDER BY c DESC, k" + strconv.Itoa(d) +
			") AS rn, sum(c) OVER (" + part + ") AS tot FROM (" + inner + ")) WHERE rn <= " + strconv.Itoa(a.Size) + " ORDER BY " + order
		args = iargs
	} else {
		text, args = e.query(all, strings.Join(sel, ", ")+", count(*) AS c", "", " GROUP BY "+strings.Join(names, ", ")+" ORDER BY "+strings.Join(names, ", "))
	}
	rows, err := e.conn.QueryContext(ctx, text, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]any, d+3)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if a.Kind != driver.AggTerms {
		ptrs = ptrs[:d+2]
	}
	totals := map[*driver.AggResult]int64{}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		t := targets[keyString(vals[:d])]
		if t == nil {
			continue // under a bucket that was not kept
		}
		count, _ := vals[d+1].(int64)
		b := driver.Bucket{DocCount: int(count)}
		if a.Kind == driver.AggTerms {
			v, ok := valueOf(vals[d])
			if !ok {
				return fmt.Errorf("terms on %q: unexpected value %T", a.Path, vals[d])
			}
			b.Key = v
			totals[t], _ = vals[d+2].(int64)
		} else {
			slot, ok := vals[d].(int64)
			if !ok {
				return fmt.Errorf("date histogram: slot %T", vals[d])
			}
			b.Slot = slot
		}
		t.Buckets = append(t.Buckets, b)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	for t, tot := range totals {
		kept := 0
		for _, b := range t.Buckets {
			kept += b.DocCount
		}
		t.Other = int(tot) - kept
	}
	if len(a.Subs) == 0 {
		return nil
	}
	children := make([]map[string]*driver.AggResult, len(a.Subs))
	for j := range children {
		children[j] = map[string]*driver.AggResult{}
	}
	var kept []any
	seen := map[string]bool{}
	keptDocs, otherDocs := 0, 0
	for prefix, t := range targets {
		otherDocs += t.Other
		for bi := range t.Buckets {
			keptDocs += t.Buckets[bi].DocCount
			b := &t.Buckets[bi]
			b.Subs = make([]driver.AggResult, len(a.Subs))
			var own any = b.Slot
			if a.Kind == driver.AggTerms {
				own = sqlValue(b.Key)
			}
			ks := keyString([]any{own})
			if a.Kind == driver.AggTerms && !seen[ks] {
				seen[ks] = true
				kept = append(kept, own)
			}
			for j := range a.Subs {
				children[j][prefix+ks] = &b.Subs[j]
			}
		}
	}
	if a.Kind == driver.AggTerms && len(kept) <= maxRestrict && otherDocs > keptDocs {
		all[d].restrict = kept // the sub-aggregations skip most rows early
	}
	for j := range a.Subs {
		if err := e.node(ctx, all, &a.Subs[j], children[j]); err != nil {
			return err
		}
	}
	return nil
}

// valueSQL is the value a metric reads: the number, or its rounded count.
func valueSQL(a *driver.Agg) string {
	if a.RoundUp <= 0 {
		return "x.v"
	}
	r := strconv.FormatFloat(a.RoundUp, 'f', -1, 64)
	if !strings.ContainsAny(r, ".e") {
		r += ".0"
	}
	q := "(x.v / " + r + ")"
	return "(CASE WHEN x.v > 0 THEN CAST(" + q + " AS INTEGER) + (" + q + " > CAST(" + q + " AS INTEGER)) ELSE 0 END)"
}

const numbersOnly = " AND typeof(x.v) IN ('integer', 'real')"

func (e *aggEval) metrics(ctx context.Context, levels []level, a *driver.Agg, targets map[string]*driver.AggResult) error {
	pid, ok := e.d.pid(a.Path)
	if !ok {
		return nil
	}
	sel, names := keyCols(levels)
	cols := append(sel, "count(x.v)", "total("+valueSQL(a)+")", "min(x.v)", "max(x.v)")
	tail := ""
	if len(names) > 0 {
		tail = " GROUP BY " + strings.Join(names, ", ")
	}
	text, args := e.query(levels, strings.Join(cols, ", "), " CROSS JOIN insights_terms x ON x.sid = am.sid AND x.pid = "+strconv.FormatInt(pid, 10)+numbersOnly, tail)
	rows, err := e.conn.QueryContext(ctx, text, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	d := len(levels)
	vals := make([]any, d+4)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		t := targets[keyString(vals[:d])]
		if t == nil {
			continue
		}
		count, _ := vals[d].(int64)
		if count == 0 {
			continue
		}
		t.Count = int(count)
		t.Sum, _ = number(vals[d+1])
		t.Min, _ = number(vals[d+2])
		t.Max, _ = number(vals[d+3])
	}
	return rows.Err()
}

func (e *aggEval) percentiles(ctx context.Context, levels []level, a *driver.Agg, targets map[string]*driver.AggResult) error {
	pid, ok := e.d.pid(a.Path)
	if !ok {
		return nil
	}
	sel, names := keyCols(levels)
	cols := append(sel, "x.v")
	text, args := e.query(levels, strings.Join(cols, ", "), " CROSS JOIN insights_terms x ON x.sid = am.sid AND x.pid = "+strconv.FormatInt(pid, 10)+numbersOnly,
		" ORDER BY "+strings.Join(append(names, "x.v"), ", "))
	rows, err := e.conn.QueryContext(ctx, text, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	d := len(levels)
	vals := make([]any, d+1)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var cur *driver.AggResult
	var acc []float64
	flush := func() {
		if cur != nil {
			*cur = driver.PercentilesResult(acc, a.Percents)
		}
		cur, acc = nil, nil
	}
	curKey := ""
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		k := keyString(vals[:d])
		if cur == nil || k != curKey {
			flush()
			cur, curKey = targets[k], k
		}
		if cur == nil {
			continue
		}
		if v, ok := number(vals[d]); ok {
			acc = append(acc, v)
		}
	}
	flush()
	return rows.Err()
}

// keyString encodes SQL values as a map key, keeping their types apart.
func keyString(vals []any) string {
	var sb strings.Builder
	for _, v := range vals {
		switch x := v.(type) {
		case int64:
			sb.WriteString("i" + strconv.FormatInt(x, 10))
		case float64:
			sb.WriteString("f" + strconv.FormatFloat(x, 'g', -1, 64))
		case string:
			sb.WriteString("s" + strconv.Itoa(len(x)) + ":" + x)
		case []byte:
			sb.WriteString("b" + hex.EncodeToString(x))
		default:
			sb.WriteString("n")
		}
		sb.WriteByte('|')
	}
	return sb.String()
}

// valueOf turns a value of insights_terms back into a driver.Value.
func valueOf(v any) (driver.Value, bool) {
	switch x := v.(type) {
	case int64:
		return insights.ValueOf(x), true
	case float64:
		return insights.NumberValue(x), true
	case string:
		return insights.StringValue(x), true
	case []byte:
		if len(x) == 1 {
			return insights.BoolValue(x[0] == 1), true
		}
	}
	return driver.Value{}, false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
