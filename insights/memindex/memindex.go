// Package memindex is the in-memory session index driver: inverted indexes
// of every leaf value (term) and of every analyzed token (match) per field
// path, a time-ordered list of sessions, and sort columns and per-session
// value lists (for aggregations) built on demand, so a query touches only the
// sessions its most selective clause (or its date range) names, and never
// decodes JSON. It holds everything in memory and
// loses it on exit: use it for tests, development and caches, and
// insights/sqliteindex for durable storage.
//
// Replaced and deleted sessions leave their postings behind, marked dead;
// memory is reclaimed only by rebuilding the index.
package memindex

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
)

// NewIndex returns an empty in-memory index: insights.NewIndex(NewDriver()).
func NewIndex() *insights.Index { return insights.NewIndex(NewDriver()) }

// NewDriver returns the driver itself, for conformance suites and wrapping.
func NewDriver() *Driver {
	return &Driver{
		keys:     map[docKey]uint32{},
		paths:    map[string]uint32{},
		accounts: map[string]uint32{"": 0},
		accNames: []string{""},
		cols:     map[uint32]*column{},
		fwd:      map[uint32]*forward{},
	}
}

type docKey struct{ account, id string }

// valKey is a posting key: a value's kind and canonical text.
type valKey struct {
	kind driver.Kind
	text string
}

// column holds, per document, the smallest and largest value of one path.
type column struct {
	lo, hi []driver.Value
	has    []bool
}

// Driver implements driver.Driver in memory. Use NewIndex for an *insights.Index.
type Driver struct {
	mu     sync.RWMutex
	closed bool

	// Per document ordinal.
	start   []int64
	account []uint32
	ids     []string
	docs    [][]byte
	alive   []bool

	keys     map[docKey]uint32
	accounts map[string]uint32
	accNames []string

	paths  map[string]uint32
	terms  []map[valKey][]uint32 // per path ID
	tokens []map[string][]uint32 // per path ID

	// byTime holds live and dead ordinals sorted by (start, ordinal);
	// pending holds ordinals not yet merged into it.
	byTime  []uint32
	pending []uint32

	cols map[uint32]*column
	// fwd holds, per path ID, every document's values (for aggregations),
	// built on first use and kept up to date by put.
	fwd map[uint32]*forward
	// bufs holds *[]uint32 for aggregations' lists of documents, reused
	// so that a large query does not allocate (and fault in) fresh memory.
	bufs sync.Pool
}

func (d *Driver) pathID(p string) uint32 {
	if id, ok := d.paths[p]; ok {
		return id
	}
	id := uint32(len(d.terms))
	d.paths[p] = id
	d.terms = append(d.terms, map[valKey][]uint32{})
	d.tokens = append(d.tokens, map[string][]uint32{})
	return id
}

func (d *Driver) accountID(a string) uint32 {
	if id, ok := d.accounts[a]; ok {
		return id
	}
	id := uint32(len(d.accNames))
	d.accounts[a] = id
	d.accNames = append(d.accNames, a)
	return id
}

// Put implements driver.Driver.
func (d *Driver) Put(ctx context.Context, docs []driver.Document) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return insights.ErrClosed
	}
	for i := range docs {
		d.put(&docs[i])
	}
	return nil
}

func (d *Driver) put(doc *driver.Document) {
	ord := uint32(len(d.start))
	k := docKey{doc.AccountID, doc.ID}
	if old, ok := d.keys[k]; ok {
		d.alive[old] = false
	}
	d.keys[k] = ord
	d.start = append(d.start, doc.Start)
	d.account = append(d.account, d.accountID(doc.AccountID))
	d.ids = append(d.ids, doc.ID)
	d.docs = append(d.docs, doc.JSON)
	d.alive = append(d.alive, true)
	for _, f := range doc.Terms {
		m := d.terms[d.pathID(f.Path)]
		vk := valKey{f.Value.Kind, f.Value.Text}
		p := m[vk]
		if n := len(p); n == 0 || p[n-1] != ord {
			m[vk] = append(p, ord)
		}
	}
	for _, f := range doc.Tokens {
		m := d.tokens[d.pathID(f.Path)]
		p := m[f.Value.Text]
		if n := len(p); n == 0 || p[n-1] != ord {
			m[f.Value.Text] = append(p, ord)
		}
	}
	for pid, c := range d.cols {
		c.lo = append(c.lo, driver.Value{})
		c.hi = append(c.hi, driver.Value{})
		c.has = append(c.has, false)
		for _, f := range doc.Terms {
			if d.paths[f.Path] == pid {
				c.add(ord, f.Value)
			}
		}
	}
	if len(d.fwd) > 0 {
		d.putForward(doc)
	}
	if n := len(d.byTime); len(d.pending) == 0 && (n == 0 || d.start[d.byTime[n-1]] <= doc.Start) {
		d.byTime = append(d.byTime, ord)
	} else {
		d.pending = append(d.pending, ord)
	}
}

func (c *column) add(ord uint32, v driver.Value) {
	if !c.has[ord] {
		c.lo[ord], c.hi[ord], c.has[ord] = v, v, true
		return
	}
	if driver.Compare(v, c.lo[ord]) < 0 {
		c.lo[ord] = v
	}
	if driver.Compare(v, c.hi[ord]) > 0 {
		c.hi[ord] = v
	}
}

// prepare merges pending ordinals into byTime and builds the sort columns
// q needs. It takes the write lock only when there is work.
func (d *Driver) prepare(q *driver.Query) {
	need := func() bool {
		if len(d.pending) > 0 {
			return true
		}
		for _, k := range q.Sort {
			if !d.special(k.Path) {
				if pid, ok := d.paths[k.Path]; ok && d.cols[pid] == nil {
					return true
				}
			}
		}
		return false
	}
	d.mu.RLock()
	work := need()
	d.mu.RUnlock()
	if !work {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pending) > 0 {
		slices.SortFunc(d.pending, d.timeOrder)
		merged := make([]uint32, 0, len(d.byTime)+len(d.pending))
		i, j := 0, 0
		for i < len(d.byTime) || j < len(d.pending) {
			if j == len(d.pending) || (i < len(d.byTime) && d.timeOrder(d.byTime[i], d.pending[j]) <= 0) {
				merged = append(merged, d.byTime[i])
				i++
			} else {
				merged = append(merged, d.pending[j])
				j++
			}
		}
		d.byTime, d.pending = merged, nil
	}
	for _, k := range q.Sort {
		if d.special(k.Path) {
			continue
		}
		pid, ok := d.paths[k.Path]
		if !ok || d.cols[pid] != nil {
			continue
		}
		n := len(d.start)
		c := &column{lo: make([]driver.Value, n), hi: make([]driver.Value, n), has: make([]bool, n)}
		for vk, post := range d.terms[pid] {
			v := value(vk)
			for _, ord := range post {
				c.add(ord, v)
			}
		}
		d.cols[pid] = c
	}
}

func value(vk valKey) driver.Value {
	v := driver.Value{Kind: vk.kind, Text: vk.text}
	switch vk.kind {
	case driver.Number:
		v.Num, _ = strconv.ParseFloat(vk.text, 64)
	case driver.Bool:
		if vk.text == "true" {
			v.Num = 1
		}
	}
	return v
}

func (d *Driver) timeOrder(a, b uint32) int {
	switch {
	case d.start[a] < d.start[b]:
		return -1
	case d.start[a] > d.start[b]:
		return 1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// special reports the paths answered from per-document arrays.
func (d *Driver) special(p string) bool {
	return p == driver.ScorePath || p == "session_start_time" || p == "id" || p == "account_id"
}

// postings returns the posting lists a clause's values name: for a term,
// the value under each kind its text can have; for a match, each token.
func (d *Driver) postings(c *driver.Clause) [][]uint32 {
	pid, ok := d.paths[c.Path]
	if !ok {
		return nil
	}
	var out [][]uint32
	if c.Kind == driver.Match {
		for _, v := range c.Values {
			if p := d.tokens[pid][v.Text]; len(p) > 0 {
				out = append(out, p)
			}
		}
		return out
	}
	for _, v := range c.Values {
		for _, k := range kindsOf(v.Text) {
			if p := d.terms[pid][valKey{k, v.Text}]; len(p) > 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// kindsOf lists the kinds whose canonical text can be t.
func kindsOf(t string) []driver.Kind {
	switch t {
	case "true", "false":
		return []driver.Kind{driver.String, driver.Bool}
	}
	if v := insights.ValueOf(json.Number(t)); v.Kind == driver.Number && v.Text == t {
		return []driver.Kind{driver.String, driver.Number}
	}
	return []driver.Kind{driver.String}
}

func size(ps [][]uint32) int {
	n := 0
	for _, p := range ps {
		n += len(p)
	}
	return n
}

func contains(ps [][]uint32, ord uint32) bool {
	for _, p := range ps {
		i := sort.Search(len(p), func(i int) bool { return p[i] >= ord })
		if i < len(p) && p[i] == ord {
			return true
		}
	}
	return false
}

func union(lists ...[][]uint32) []uint32 {
	var out []uint32
	for _, ps := range lists {
		for _, p := range ps {
			out = append(out, p...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

type hit struct {
	ord   uint32
	score int
}

// Search implements driver.Driver.
func (d *Driver) Search(ctx context.Context, q *driver.Query) (*driver.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.prepare(q)
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, insights.ErrClosed
	}
	var hits []hit
	d.match(q, func(ord uint32, score int) { hits = append(hits, hit{ord, score}) })
	res := &driver.Result{Total: len(hits)}
	if q.Offset >= len(hits) {
		return res, nil
	}
	d.sort(hits, q)
	for _, h := range hits[q.Offset:min(len(hits), q.Offset+q.Limit)] {
		res.Docs = append(res.Docs, d.docs[h.ord])
	}
	return res, nil
}

// match calls fn with every live document q matches and its score. The
// caller holds the read lock.
func (d *Driver) match(q *driver.Query, fn func(ord uint32, score int)) {
	acc, accOK := uint32(0), true
	if q.AccountID != "" {
		acc, accOK = d.accounts[q.AccountID]
	}
	if !accOK {
		return
	}
	must := make([][][]uint32, len(q.Must))
	for i := range q.Must {
		must[i] = d.postings(&q.Must[i])
	}
	mustNot := make([][][]uint32, len(q.MustNot))
	for i := range q.MustNot {
		mustNot[i] = d.postings(&q.MustNot[i])
	}
	should := make([][][]uint32, len(q.Should))
	for i := range q.Should {
		should[i] = d.postings(&q.Should[i])
	}

	lo := sort.Search(len(d.byTime), func(i int) bool { return d.start[d.byTime[i]] >= q.From })
	hi := sort.Search(len(d.byTime), func(i int) bool { return d.start[d.byTime[i]] > q.To })
	// Pick the smallest source of candidates: the date range, the most
	// selective must clause, or the union of the should clauses.
	var cands []uint32
	best, src := hi-lo, -1
	for i, ps := range must {
		if n := size(ps); n < best {
			best, src = n, i
		}
	}
	if len(must) == 0 && q.MinimumShouldMatch > 0 {
		n := 0
		for _, ps := range should {
			n += size(ps)
		}
		if n < best {
			src = -2
		}
	}
	switch src {
	case -1:
		cands = d.byTime[lo:hi]
		if len(d.pending) > 0 {
			// Put after prepare: not merged yet, filtered by time below.
			cands = append(slices.Clip(cands), d.pending...)
		}
	case -2:
		cands = union(should...)
	default:
		cands = union(must[src])
	}

	for _, ord := range cands {
		if !d.alive[ord] || (q.AccountID != "" && d.account[ord] != acc) || d.start[ord] < q.From || d.start[ord] > q.To {
			continue
		}
		ok := true
		for i, ps := range must {
			if i != src && !contains(ps, ord) {
				ok = false
				break
			}
		}
		for _, ps := range mustNot {
			if !ok {
				break
			}
			if contains(ps, ord) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		score := 0
		for _, ps := range should {
			if contains(ps, ord) {
				score++
			}
		}
		if score < q.MinimumShouldMatch {
			continue
		}
		fn(ord, score)
	}
}

// sort orders hits by q.Sort (which ends with a unique tiebreak).
func (d *Driver) sort(hits []hit, q *driver.Query) {
	cmp := func(a, b hit) int {
		for _, k := range q.Sort {
			if c := d.compare(a, b, k); c != 0 {
				return c
			}
		}
		return 0
	}
	slices.SortFunc(hits, cmp)
}

func (d *Driver) compare(a, b hit, k driver.SortKey) int {
	var c int
	switch k.Path {
	case driver.ScorePath:
		c = a.score - b.score
	case "session_start_time":
		c = cmpInt(d.start[a.ord], d.start[b.ord])
	case "id":
		c = cmpString(d.ids[a.ord], d.ids[b.ord])
	case "account_id":
		an, bn := d.accNames[d.account[a.ord]], d.accNames[d.account[b.ord]]
		switch {
		case an == "" && bn == "":
			return 0
		case an == "":
			return 1 // missing last
		case bn == "":
			return -1
		}
		c = cmpString(an, bn)
	default:
		pid, ok := d.paths[k.Path]
		if !ok {
			return 0
		}
		col := d.cols[pid]
		if col == nil {
			return 0 // the path appeared after prepare (a concurrent Put): ties
		}
		av, bv := col.lo, col.lo
		if k.Desc {
			av, bv = col.hi, col.hi
		}
		return driver.CompareKeys(av[a.ord], col.has[a.ord], bv[b.ord], col.has[b.ord], k.Desc)
	}
	if k.Desc {
		return -c
	}
	return c
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

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lookup returns the live ordinals with this ID (in the account, or in
// every account when it is empty).
func (d *Driver) lookup(account, id string) []uint32 {
	if account != "" {
		if ord, ok := d.keys[docKey{account, id}]; ok && d.alive[ord] {
			return []uint32{ord}
		}
		return nil
	}
	var out []uint32
	if pid, ok := d.paths["id"]; ok {
		for _, ord := range d.terms[pid][valKey{driver.String, id}] {
			if d.alive[ord] {
				out = append(out, ord)
			}
		}
	}
	return out
}

// Get implements driver.Driver.
func (d *Driver) Get(ctx context.Context, account, id string, from, to int64) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, insights.ErrClosed
	}
	for _, ord := range d.lookup(account, id) {
		if d.start[ord] >= from && d.start[ord] <= to {
			return d.docs[ord], nil
		}
	}
	return nil, driver.ErrNotFound
}

// Find implements driver.Driver.
func (d *Driver) Find(ctx context.Context, account, id string) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, insights.ErrClosed
	}
	for _, ord := range d.lookup(account, id) {
		return d.docs[ord], nil
	}
	return nil, driver.ErrNotFound
}

// Delete implements driver.Driver.
func (d *Driver) Delete(ctx context.Context, account, id string, from, to int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return insights.ErrClosed
	}
	n := 0
	for _, ord := range d.lookup(account, id) {
		if d.start[ord] >= from && d.start[ord] <= to {
			d.alive[ord] = false
			d.docs[ord] = nil
			delete(d.keys, docKey{d.accNames[d.account[ord]], id})
			n++
		}
	}
	if n == 0 {
		return driver.ErrNotFound
	}
	return nil
}

// Len returns the number of live sessions.
func (d *Driver) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.keys)
}

// As implements driver.Driver: *Driver gives access to this driver.
func (d *Driver) As(i any) bool {
	p, ok := i.(**Driver)
	if ok {
		*p = d
	}
	return ok
}

// Close implements driver.Driver; it drops everything.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.start, d.account, d.ids, d.docs, d.alive = nil, nil, nil, nil, nil
	d.keys, d.paths, d.terms, d.tokens, d.byTime, d.pending, d.cols, d.fwd = nil, nil, nil, nil, nil, nil, nil, nil
	return nil
}
