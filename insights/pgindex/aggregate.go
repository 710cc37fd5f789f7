package pgindex

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/voicegw/voicegw/insights/driver"
)

// Aggregate implements driver.Driver in SQL: one GROUP BY query per
// aggregation of the tree, over the matching sessions (the conditions of
// Search), in one read-only snapshot so that every level agrees with the
// total. A date histogram's bucket is integer arithmetic on the start time
// (the time zone's offsets as a CASE over the instants they change); a
// terms level groups by the path's facets (the session's distinct values
// there, one jsonb array: no expansion of every session's keys in SQL) and
// is expanded here, a session counting in the bucket of each of its
// values, before the top buckets are kept (driver.TopTerms); a path with a
// dimension column (dimPaths) is read from it instead of from the facets,
// so that a date range's aggregation is an index-only scan; metrics are
// count, sum, min and max of the numbers of the path's facets, computed per
// group; percentiles gather the sorted numbers of each group.
func (d *Driver) Aggregate(ctx context.Context, q *driver.Query) (*driver.Result, error) {
	unsorted := *q
	unsorted.Sort = nil // the order of hits is of no use here (and a score would cost joins)
	q = &unsorted
	b, err := d.compile(ctx, q)
	if err != nil {
		return nil, err
	}
	var names []string
	aggPaths(q.Aggs, func(p string) { names = append(names, p) })
	paths, err := d.prefixes(ctx, names)
	if err != nil {
		return nil, err
	}
	res := &driver.Result{Aggs: make([]driver.AggResult, len(q.Aggs))}
	err = pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM insights_sessions s `+b.joins+` WHERE `+b.where(), oneShot(b.args)...).Scan(&res.Total); err != nil {
			return fmt.Errorf("count: %w", err)
		}
		e := &aggEval{tx: tx, b: b, paths: paths, noDims: d.noDims}
		for i := range q.Aggs {
			if err := e.node(ctx, nil, &q.Aggs[i], map[string]*driver.AggResult{"": &res.Aggs[i]}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgindex: aggregate: %w", err)
	}
	return res, nil
}

// aggPaths calls fn with every path the aggregations read.
func aggPaths(aggs []driver.Agg, fn func(string)) {
	for i := range aggs {
		if aggs[i].Kind != driver.AggDateHistogram {
			fn(aggs[i].Path)
		}
		aggPaths(aggs[i].Subs, fn)
	}
}

// aggEval evaluates one request's aggregations.
type aggEval struct {
	tx     pgx.Tx
	b      *builder
	paths  map[string]pathID
	noDims bool // read every path from the facets (Driver.noDims)
}

// dimColumn returns the dimension column of path, "" when it has none (or
// when the columns are not to be read).
func (e *aggEval) dimColumn(path string) string {
	if e.noDims {
		return ""
	}
	return dimColumn(path)
}

// level is one bucket level above an aggregation: the values of a path
// (terms) or a date histogram's slot.
type level struct {
	key string           // terms: the path's facets key
	col string           // terms: the path's dimension column, "" when none
	iv  *driver.Interval // date histogram
}

// expr is the SQL of a level's group key.
func (l level) expr(args *[]any) string {
	if l.iv == nil && l.col != "" {
		return "s." + l.col
	}
	if l.iv == nil {
		*args = append(*args, l.key)
		return facetsSQL + "->$" + strconv.Itoa(len(*args)) + "::text"
	}
	w := strconv.FormatInt(l.iv.Width, 10)
	h := "(s.start + " + offsetSQL(l.iv) + " - " + strconv.FormatInt(l.iv.Origin, 10) + ")"
	return "((" + h + " - ((" + h + " % " + w + ") + " + w + ") % " + w + ") / " + w + ")"
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

// groupRow is one row of a level query: its levels' keys as read (a terms
// level's facets array, a histogram's slot), and what it aggregated.
type groupRow struct {
	levels [][]string // per level, the bucket keys the row belongs to
	own    []string   // terms: the row's values of the path; histogram: its slot
	count  int
	m      driver.Metrics
	vals   []float64
}

// query runs one GROUP BY over the matching sessions: the levels' keys
// (and own, a key of the aggregation itself, when not ""), then cols.
func (e *aggEval) query(ctx context.Context, levels []level, own *level, cols string, from string) ([]groupRow, error) {
	args := slices.Clone(e.b.args)
	var keys []string
	for _, l := range levels {
		keys = append(keys, l.expr(&args))
	}
	if own != nil {
		keys = append(keys, own.expr(&args))
	}
	sel := strings.Join(append(slices.Clone(keys), cols), ", ")
	sql := `SELECT ` + sel + ` FROM insights_sessions s ` + e.b.joins + from + ` WHERE ` + e.b.where()
	if len(keys) > 0 {
		var pos []string
		for i := range keys {
			pos = append(pos, strconv.Itoa(i+1))
		}
		sql += ` GROUP BY ` + strings.Join(pos, ", ")
	}
	rows, err := e.tx.Query(ctx, sql, oneShot(args)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	all := append(slices.Clone(levels), level{})
	if own != nil {
		all[len(levels)] = *own
	}
	var out []groupRow
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		var g groupRow
		for i := range keys {
			k, ok, err := levelKeys(all[i], vals[i])
			if err != nil {
				return nil, err
			}
			if !ok {
				g.levels = nil
				break // a session without the path: in no bucket
			}
			if i < len(levels) {
				g.levels = append(g.levels, k)
			} else {
				g.own = k
			}
		}
		if len(levels) > 0 && len(g.levels) < len(levels) || own != nil && g.own == nil {
			continue
		}
		if err := scanAgg(&g, vals[len(keys):]); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// levelKeys returns the bucket keys of a level's value: a terms level's
// facets (ok is false when the session has none), a histogram's slot.
func levelKeys(l level, v any) ([]string, bool, error) {
	if l.iv != nil {
		n, ok := v.(int64)
		if !ok {
			return nil, false, fmt.Errorf("date histogram: slot %T", v)
		}
		return []string{"s" + strconv.FormatInt(n, 10)}, true, nil
	}
	if v == nil {
		return nil, false, nil
	}
	var facets []string
	switch x := v.(type) {
	case []any:
		for _, f := range x {
			s, ok := f.(string)
			if !ok {
				return nil, false, fmt.Errorf("terms: facet %T", f)
			}
			facets = append(facets, s)
		}
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, false, err
		}
		if err := json.Unmarshal(b, &facets); err != nil {
			return nil, false, fmt.Errorf("terms: facets: %w", err)
		}
	}
	return facets, len(facets) > 0, nil
}

// scanAgg reads the aggregate columns of a group: count, or count, sum,
// min and max, or the sorted values.
func scanAgg(g *groupRow, vals []any) error {
	num := func(v any) float64 {
		switch x := v.(type) {
		case float64:
			return x
		case int64:
			return float64(x)
		case int32:
			return float64(x)
		case pgtype.Numeric:
			f, _ := x.Float64Value()
			return f.Float64
		}
		return 0
	}
	switch len(vals) {
	case 1:
		if arr, ok := vals[0].([]any); ok {
			for _, v := range arr {
				g.vals = append(g.vals, num(v))
			}
			return nil
		}
		g.count = int(num(vals[0]))
	case 4:
		g.m = driver.Metrics{Count: int(num(vals[0])), Sum: num(vals[1]), Min: num(vals[2]), Max: num(vals[3])}
	default:
		return fmt.Errorf("%d aggregate columns", len(vals))
	}
	return nil
}

// targetsOf calls fn with the key of every bucket of the levels a group
// belongs to: one per combination of its levels' keys.
func targetsOf(levels [][]string, fn func(key string)) {
	var walk func(i int, prefix string)
	walk = func(i int, prefix string) {
		if i == len(levels) {
			fn(prefix)
			return
		}
		for _, k := range levels[i] {
			walk(i+1, prefix+k+"\x00")
		}
	}
	walk(0, "")
}

// node evaluates aggregation a under levels; targets maps each kept bucket
// of the levels (its key) to the result a fills there.
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
	own := level{iv: &a.Interval}
	if a.Kind == driver.AggTerms {
		id, ok := e.paths[a.Path]
		if !ok {
			return nil // no session has the field: no buckets
		}
		own = level{key: id.key, col: e.dimColumn(a.Path)}
	}
	groups, err := e.query(ctx, levels, &own, "count(*)", "")
	if err != nil {
		return err
	}
	// Per target, the documents of each own key.
	counts := map[*driver.AggResult]map[string]int{}
	for _, g := range groups {
		targetsOf(g.levels, func(k string) {
			t := targets[k]
			if t == nil {
				return // under a bucket that was not kept
			}
			c := counts[t]
			if c == nil {
				c = map[string]int{}
				counts[t] = c
			}
			for _, o := range g.own {
				c[o] += g.count
			}
		})
	}
	children := make([]map[string]*driver.AggResult, len(a.Subs))
	for j := range children {
		children[j] = map[string]*driver.AggResult{}
	}
	for prefix, t := range targets {
		c := counts[t]
		bs := make([]driver.Bucket, 0, len(c))
		for k, n := range c {
			b := driver.Bucket{DocCount: n}
			if a.Kind == driver.AggTerms {
				v, ok := decodeFacetText(k)
				if !ok {
					return fmt.Errorf("terms on %q: unreadable value %q", a.Path, k)
				}
				b.Key = v
			} else {
				slot, err := strconv.ParseInt(k[1:], 10, 64)
				if err != nil {
					return fmt.Errorf("date histogram: slot %q", k)
				}
				b.Slot = slot
			}
			bs = append(bs, b)
		}
		if a.Kind == driver.AggTerms {
			bs, t.Other = driver.TopTerms(bs, a.Size)
		} else {
			slices.SortFunc(bs, func(x, y driver.Bucket) int { return cmpInt(x.Slot, y.Slot) })
		}
		t.Buckets = bs
		if len(a.Subs) == 0 {
			continue
		}
		for bi := range t.Buckets {
			b := &t.Buckets[bi]
			b.Subs = make([]driver.AggResult, len(a.Subs))
			k := "s" + strconv.FormatInt(b.Slot, 10)
			if a.Kind == driver.AggTerms {
				k = facetText(b.Key)
			}
			for j := range a.Subs {
				children[j][prefix+k+"\x00"] = &b.Subs[j]
			}
		}
	}
	all := append(slices.Clone(levels), own)
	for j := range a.Subs {
		if err := e.node(ctx, all, &a.Subs[j], children[j]); err != nil {
			return err
		}
	}
	return nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// numbersOf returns the SQL of a lateral join of the numbers among the
// facets of path key k (or of the dimension column col): x.v, float8, one
// row per distinct number.
func (e *aggEval) numbersOf(k, col string, args *[]any) string {
	if col != "" {
		return ` CROSS JOIN LATERAL (SELECT substr(f, 18)::float8 AS v FROM unnest(s.` + col + `) f WHERE f < '2') x`
	}
	*args = append(*args, k)
	return ` CROSS JOIN LATERAL (SELECT substr(f, 18)::float8 AS v FROM jsonb_array_elements_text(` + facetsSQL + `->$` +
		strconv.Itoa(len(*args)) + `::text) f WHERE f < '2') x`
}

// facetsOf returns the SQL of a lateral join reading the facets of path key
// k once per session: m.arr.
func (e *aggEval) facetsOf(k string, args *[]any) string {
	*args = append(*args, k)
	return ` CROSS JOIN LATERAL (SELECT ` + facetsSQL + `->$` + strconv.Itoa(len(*args)) + `::text AS arr OFFSET 0) m`
}

// facetArray is the SQL of a session's facets at one path: a jsonb array
// (facetsOf's m.arr) or a dimension column (text[]).
type facetArray struct {
	arr, first, length, elems string
}

var jsonbFacets = facetArray{arr: "m.arr", first: "(m.arr->>0)", length: "jsonb_array_length(m.arr)", elems: "jsonb_array_elements_text(m.arr)"}

func columnFacets(col string) facetArray {
	c := "s." + col
	return facetArray{arr: c, first: c + "[1]", length: "cardinality(" + c + ")", elems: "unnest(" + c + ")"}
}

// metricCols returns count, sum, min and max of the numbers of fa per
// group. A session's one value (the usual case) is read directly; only a
// session with several values expands them.
func metricCols(a *driver.Agg, fa facetArray) string {
	first := fa.first
	one := `substr(` + first + `, 18)::float8`
	many := ` FROM ` + fa.elems + ` f WHERE f < '2')`
	const each = `substr(f, 18)::float8`
	sum := func(v string) string {
		if a.RoundUp <= 0 {
			return v
		}
		r := strconv.FormatFloat(a.RoundUp, 'g', -1, 64) + "::float8"
		return "(CASE WHEN " + v + " > 0 THEN ceil(" + v + " / " + r + ") ELSE 0 END)"
	}
	col := func(agg, single, multi string) string {
		return agg + `(CASE WHEN ` + fa.arr + ` IS NULL THEN NULL WHEN ` + fa.length + ` = 1 THEN (CASE WHEN ` + first +
			` < '2' THEN ` + single + ` END) ELSE (SELECT ` + multi + many + ` END)`
	}
	return strings.Join([]string{
		"coalesce(" + col("sum", "1", "count(*)::int") + ", 0)::bigint",
		"coalesce(" + col("sum", sum(one), "sum("+sum(each)+")") + ", 0)",
		"coalesce(" + col("min", one, "min("+each+")") + ", 0)",
		"coalesce(" + col("max", one, "max("+each+")") + ", 0)",
	}, ", ")
}

func (e *aggEval) metrics(ctx context.Context, levels []level, a *driver.Agg, targets map[string]*driver.AggResult) error {
	id, ok := e.paths[a.Path]
	if !ok {
		return nil
	}
	saved := e.b.args
	defer func() { e.b.args = saved }()
	args := slices.Clone(e.b.args)
	from, fa := "", columnFacets(e.dimColumn(a.Path))
	if e.dimColumn(a.Path) == "" {
		from, fa = e.facetsOf(id.key, &args), jsonbFacets
	}
	e.b.args = args
	groups, err := e.query(ctx, levels, nil, metricCols(a, fa), from)
	if err != nil {
		return err
	}
	acc := map[*driver.AggResult]*driver.Metrics{}
	for _, g := range groups {
		if g.m.Count == 0 {
			continue
		}
		targetsOf(g.levels, func(k string) {
			t := targets[k]
			if t == nil {
				return
			}
			m := acc[t]
			if m == nil {
				m = &driver.Metrics{Min: g.m.Min, Max: g.m.Max}
				acc[t] = m
			}
			m.Count += g.m.Count
			m.Sum += g.m.Sum
			m.Min, m.Max = min(m.Min, g.m.Min), max(m.Max, g.m.Max)
		})
	}
	for t, m := range acc {
		*t = m.Result()
	}
	return nil
}

func (e *aggEval) percentiles(ctx context.Context, levels []level, a *driver.Agg, targets map[string]*driver.AggResult) error {
	id, ok := e.paths[a.Path]
	if !ok {
		return nil
	}
	saved := e.b.args
	defer func() { e.b.args = saved }()
	args := slices.Clone(e.b.args)
	from := e.numbersOf(id.key, e.dimColumn(a.Path), &args)
	e.b.args = args
	groups, err := e.query(ctx, levels, nil, "array_agg(x.v)", from)
	if err != nil {
		return err
	}
	acc := map[*driver.AggResult][]float64{}
	for _, g := range groups {
		targetsOf(g.levels, func(k string) {
			if t := targets[k]; t != nil {
				acc[t] = append(acc[t], g.vals...)
			}
		})
	}
	for t, vals := range acc {
		*t = driver.PercentilesResult(vals, a.Percents)
	}
	return nil
}
