package memindex

import (
	"context"
	"math"
	"slices"
	"sort"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
)

// forward is one path's values per document, for aggregations: the values
// of document ord are dict[ids[off[ord]]], …, dict[ids[off[ord+1]-1]],
// without duplicates. It is built from the path's postings on first use and
// extended by every later put.
type forward struct {
	off   []uint32
	ids   []uint32
	dict  []driver.Value
	num   []float64 // the dict value when it is a number, NaN otherwise
	index map[valKey]uint32
}

func (f *forward) intern(vk valKey) uint32 {
	if id, ok := f.index[vk]; ok {
		return id
	}
	id := uint32(len(f.dict))
	f.index[vk] = id
	v := value(vk)
	f.dict = append(f.dict, v)
	n := math.NaN()
	if v.Kind == driver.Number {
		n = v.Num
	}
	f.num = append(f.num, n)
	return id
}

// values returns the value IDs of document ord.
func (f *forward) values(ord uint32) []uint32 { return f.ids[f.off[ord]:f.off[ord+1]] }

// buildForward builds the forward column of path ID pid from its postings.
// The caller holds the write lock.
func (d *Driver) buildForward(pid uint32) *forward {
	n := len(d.start)
	f := &forward{index: map[valKey]uint32{}, off: make([]uint32, n+1)}
	for vk, post := range d.terms[pid] {
		f.intern(vk)
		for _, ord := range post {
			f.off[ord+1]++
		}
	}
	for i := 1; i <= n; i++ {
		f.off[i] += f.off[i-1]
	}
	f.ids = make([]uint32, f.off[n])
	pos := slices.Clone(f.off[:n])
	for vk, post := range d.terms[pid] {
		id := f.index[vk]
		for _, ord := range post {
			f.ids[pos[ord]] = id
			pos[ord]++
		}
	}
	return f
}

// putForward adds the document just appended to every forward column.
func (d *Driver) putForward(doc *driver.Document) {
	for _, fld := range doc.Terms {
		f := d.fwd[d.paths[fld.Path]]
		if f == nil {
			continue
		}
		id := f.intern(valKey{fld.Value.Kind, fld.Value.Text})
		start := f.off[len(f.off)-1]
		if !slices.Contains(f.ids[start:], id) {
			f.ids = append(f.ids, id)
		}
	}
	for _, f := range d.fwd {
		f.off = append(f.off, uint32(len(f.ids)))
	}
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

// prepareAggs merges pending documents and builds the forward columns q's
// aggregations need, under the write lock when there is work.
func (d *Driver) prepareAggs(q *driver.Query) {
	d.prepare(q)
	need := false
	d.mu.RLock()
	aggPaths(q.Aggs, func(p string) {
		if pid, ok := d.paths[p]; ok && d.fwd[pid] == nil {
			need = true
		}
	})
	d.mu.RUnlock()
	if !need {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	aggPaths(q.Aggs, func(p string) {
		if pid, ok := d.paths[p]; ok && d.fwd[pid] == nil {
			d.fwd[pid] = d.buildForward(pid)
		}
	})
}

// Aggregate implements driver.Driver: it matches as Search does, then
// evaluates the aggregations over the matching documents with their
// forward columns: a terms aggregation counts value IDs in an array, a date
// histogram counts slots in an array over the range of slots, and each
// bucket's documents are gathered (a counting sort) only when it has
// sub-aggregations.
func (d *Driver) Aggregate(ctx context.Context, q *driver.Query) (*driver.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.prepareAggs(q)
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, insights.ErrClosed
	}
	// Every match lies in the date range: its size bounds the list.
	lo := sort.Search(len(d.byTime), func(i int) bool { return d.start[d.byTime[i]] >= q.From })
	hi := sort.Search(len(d.byTime), func(i int) bool { return d.start[d.byTime[i]] > q.To })
	buf := d.getBuf(hi - lo + len(d.pending))
	defer d.bufs.Put(buf)
	docs := (*buf)[:0]
	d.match(q, func(ord uint32, _ int) { docs = append(docs, ord) })
	*buf = docs
	return &driver.Result{Total: len(docs), Aggs: d.aggregate(docs, q.Aggs)}, nil
}

// getBuf returns an empty list with room for n documents, from the pool
// when it has one that large. Put it back when done with what it holds.
func (d *Driver) getBuf(n int) *[]uint32 {
	if p, ok := d.bufs.Get().(*[]uint32); ok && cap(*p) >= n {
		*p = (*p)[:0]
		return p
	}
	b := make([]uint32, 0, n)
	return &b
}

func (d *Driver) aggregate(docs []uint32, aggs []driver.Agg) []driver.AggResult {
	out := make([]driver.AggResult, len(aggs))
	for i := range aggs {
		a := &aggs[i]
		switch a.Kind {
		case driver.AggTerms:
			out[i] = d.termsAgg(docs, a)
		case driver.AggDateHistogram:
			out[i] = d.histogram(docs, a)
		default:
			out[i] = d.metric(docs, a)
		}
	}
	return out
}

// column returns the forward column of a path (nil when no document has
// it, or when it appeared after prepareAggs: a concurrent Put).
func (d *Driver) column(path string) *forward {
	pid, ok := d.paths[path]
	if !ok {
		return nil
	}
	f := d.fwd[pid]
	if f != nil && len(f.off) != len(d.start)+1 {
		return nil // cannot happen: put keeps every column in step
	}
	return f
}

func (d *Driver) termsAgg(docs []uint32, a *driver.Agg) driver.AggResult {
	f := d.column(a.Path)
	if f == nil {
		return driver.AggResult{}
	}
	// Count in an array when the dictionary is not much larger than the
	// documents, else in a map (a high-cardinality field in a few).
	var buckets []driver.Bucket
	dense := len(f.dict) <= 4*len(docs)+1024
	if dense {
		counts := make([]int32, len(f.dict))
		for _, ord := range docs {
			for _, id := range f.values(ord) {
				counts[id]++
			}
		}
		for id, n := range counts {
			if n > 0 {
				buckets = append(buckets, driver.Bucket{Key: f.dict[id], Slot: int64(id), DocCount: int(n)})
			}
		}
	} else {
		counts := map[uint32]int{}
		for _, ord := range docs {
			for _, id := range f.values(ord) {
				counts[id]++
			}
		}
		for id, n := range counts {
			buckets = append(buckets, driver.Bucket{Key: f.dict[id], Slot: int64(id), DocCount: n})
		}
	}
	kept, other := driver.TopTerms(buckets, a.Size)
	if len(a.Subs) > 0 {
		// A value ID's kept bucket: from an array when the counts were,
		// else from a map.
		var posArr []int32
		var posMap map[uint32]int32
		if dense {
			posArr = make([]int32, len(f.dict))
			for i := range posArr {
				posArr[i] = -1
			}
		} else {
			posMap = make(map[uint32]int32, len(kept))
		}
		for k, b := range kept {
			if dense {
				posArr[b.Slot] = int32(k)
			} else {
				posMap[uint32(b.Slot)] = int32(k)
			}
		}
		bucketOf := func(id uint32) (int32, bool) {
			if dense {
				k := posArr[id]
				return k, k >= 0
			}
			k, ok := posMap[id]
			return k, ok
		}
		if onlyMetrics(a.Subs) {
			d.metricsByBucket(docs, f, bucketOf, kept, a.Subs)
		} else {
			d.gather(docs, f, bucketOf, kept, a.Subs)
		}
	}
	for k := range kept {
		kept[k].Slot = 0 // it carried the value ID
	}
	return driver.AggResult{Buckets: kept, Other: other}
}

func onlyMetrics(aggs []driver.Agg) bool {
	for i := range aggs {
		if aggs[i].Kind == driver.AggTerms || aggs[i].Kind == driver.AggDateHistogram {
			return false
		}
	}
	return true
}

// metricsByBucket evaluates metric sub-aggregations of the kept terms
// buckets in one pass over docs, in their order: the columns are read in
// sequence, where evaluating bucket after bucket would read them scattered
// once per bucket (a cache miss per session at a million sessions).
func (d *Driver) metricsByBucket(docs []uint32, f *forward, bucketOf func(uint32) (int32, bool), kept []driver.Bucket, subs []driver.Agg) {
	cols := make([]*forward, len(subs))
	ms := make([][]driver.Metrics, len(subs))
	vals := make([][][]float64, len(subs))
	for j := range subs {
		cols[j] = d.column(subs[j].Path)
		ms[j] = make([]driver.Metrics, len(kept))
		if subs[j].Kind == driver.AggPercentiles {
			vals[j] = make([][]float64, len(kept))
		}
	}
	for _, ord := range docs {
		for _, id := range f.values(ord) {
			k, ok := bucketOf(id)
			if !ok {
				continue
			}
			for j := range subs {
				c := cols[j]
				if c == nil {
					continue
				}
				for _, vid := range c.values(ord) {
					v := c.num[vid]
					switch {
					case math.IsNaN(v):
					case vals[j] != nil:
						vals[j][k] = append(vals[j][k], v)
					default:
						if subs[j].RoundUp > 0 {
							v = driver.CeilDiv(v, subs[j].RoundUp)
						}
						ms[j][k].Add(v)
					}
				}
			}
		}
	}
	for k := range kept {
		kept[k].Subs = make([]driver.AggResult, len(subs))
		for j := range subs {
			if vals[j] != nil {
				kept[k].Subs[j] = driver.PercentilesResult(vals[j][k], subs[j].Percents)
			} else {
				kept[k].Subs[j] = ms[j][k].Result()
			}
		}
	}
}

// gather collects the documents of each kept terms bucket (a counting
// sort) and evaluates the sub-aggregations over each.
func (d *Driver) gather(docs []uint32, f *forward, bucketOf func(uint32) (int32, bool), kept []driver.Bucket, subs []driver.Agg) {
	total := 0
	for _, b := range kept {
		total += b.DocCount
	}
	buf := d.getBuf(total)
	defer d.bufs.Put(buf)
	all := (*buf)[:total]
	lists := make([][]uint32, len(kept))
	at := 0
	for k, b := range kept {
		lists[k] = all[at : at : at+b.DocCount]
		at += b.DocCount
	}
	for _, ord := range docs {
		for _, id := range f.values(ord) {
			if k, ok := bucketOf(id); ok {
				lists[k] = append(lists[k], ord)
			}
		}
	}
	for k := range kept {
		kept[k].Subs = d.aggregate(lists[k], subs)
	}
}

func (d *Driver) histogram(docs []uint32, a *driver.Agg) driver.AggResult {
	if len(docs) == 0 {
		return driver.AggResult{}
	}
	iv := &a.Interval
	utc := len(iv.Offsets) == 0
	slot := func(ord uint32) int64 {
		if utc {
			return driver.FloorDiv(d.start[ord]-iv.Origin, iv.Width)
		}
		return iv.Slot(d.start[ord])
	}
	// Documents from a range scan come in time order, and then (in every
	// zone but those whose clocks go back across a bucket boundary) their
	// slots never decrease: each bucket is a run of docs, found in one pass.
	var r driver.AggResult
	var starts []int
	inOrder := true
	for i, ord := range docs {
		s := slot(ord)
		if n := len(r.Buckets); n > 0 {
			if last := &r.Buckets[n-1]; last.Slot == s {
				last.DocCount++
				continue
			} else if s < last.Slot {
				inOrder = false
				break
			}
		}
		r.Buckets = append(r.Buckets, driver.Bucket{Slot: s, DocCount: 1})
		starts = append(starts, i)
	}
	if inOrder {
		if len(a.Subs) > 0 {
			for i := range r.Buckets {
				b := &r.Buckets[i]
				b.Subs = d.aggregate(docs[starts[i]:starts[i]+b.DocCount], a.Subs)
			}
		}
		return r
	}
	r = driver.AggResult{}
	lo, hi := slot(docs[0]), slot(docs[0])
	for _, ord := range docs[1:] {
		s := slot(ord)
		lo, hi = min(lo, s), max(hi, s)
	}
	counts := make([]int, hi-lo+2)
	for _, ord := range docs {
		counts[slot(ord)-lo+1]++
	}
	for i, n := range counts[1:] {
		if n > 0 {
			r.Buckets = append(r.Buckets, driver.Bucket{Slot: lo + int64(i), DocCount: n})
		}
	}
	if len(a.Subs) == 0 {
		return r
	}
	// Gather each slot's documents (a counting sort) and recurse.
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	buf := d.getBuf(len(docs))
	defer d.bufs.Put(buf)
	sorted := (*buf)[:len(docs)]
	for _, ord := range docs {
		s := slot(ord) - lo
		sorted[counts[s]] = ord
		counts[s]++
	}
	at := 0
	for i := range r.Buckets {
		b := &r.Buckets[i]
		b.Subs = d.aggregate(sorted[at:at+b.DocCount], a.Subs)
		at += b.DocCount
	}
	return r
}

func (d *Driver) metric(docs []uint32, a *driver.Agg) driver.AggResult {
	f := d.column(a.Path)
	if f == nil {
		return driver.AggResult{}
	}
	if a.Kind == driver.AggPercentiles {
		var vals []float64
		for _, ord := range docs {
			for _, id := range f.values(ord) {
				if v := f.num[id]; !math.IsNaN(v) {
					vals = append(vals, v)
				}
			}
		}
		return driver.PercentilesResult(vals, a.Percents)
	}
	var m driver.Metrics
	for _, ord := range docs {
		for _, id := range f.values(ord) {
			v := f.num[id]
			if math.IsNaN(v) {
				continue
			}
			if a.RoundUp > 0 {
				v = driver.CeilDiv(v, a.RoundUp)
			}
			m.Add(v)
		}
	}
	return m.Result()
}
