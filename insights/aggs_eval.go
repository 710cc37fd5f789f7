package insights

import (
	"fmt"
	"slices"
	"time"

	"github.com/voicegw/voicegw/insights/driver"
)

// aggPlan is one compiled aggregation: the request, and what turning its
// driver result into an AggregationResult needs.
type aggPlan struct {
	name string
	agg  Aggregation
	// Date histograms: the zone, the interval, the slots of the query's
	// range and of the extended bounds.
	loc              *time.Location
	iv               driver.Interval
	slotLo, slotHi   int64
	extLo, extHi     int64
	hasExtLo, hasExt bool
	percents         []float64
	subs             []aggPlan
}

// compileAggs validates the aggregations for a query over [from, to] and
// compiles them, in name order: the plans and the driver's aggregations.
func compileAggs(as Aggregations, from, to time.Time) ([]aggPlan, []driver.Agg, error) {
	if err := as.Validate(); err != nil {
		return nil, nil, err
	}
	plans, aggs, err := compileLevel(as, "", from, to)
	if err != nil {
		return nil, nil, err
	}
	if n := bucketCount(plans); n > MaxBuckets {
		return nil, nil, invalid(ErrInvalidAggregation, fmt.Sprintf("insights: aggs could return %s buckets over %s to %s, more than %d: lower a terms size, use a longer calendar_interval or a shorter range",
			countText(n), Bound{t: from}.String(), Bound{t: to}.String(), MaxBuckets))
	}
	return plans, aggs, nil
}

func countText(n int) string {
	if n > MaxBuckets {
		return "more than " + fmt.Sprint(MaxBuckets)
	}
	return fmt.Sprint(n)
}

func compileLevel(as Aggregations, parent string, from, to time.Time) ([]aggPlan, []driver.Agg, error) {
	names := as.names()
	plans := make([]aggPlan, len(names))
	aggs := make([]driver.Agg, len(names))
	for i, name := range names {
		path := name
		if parent != "" {
			path = parent + ">" + name
		}
		a := as[name]
		p := aggPlan{name: name, agg: a}
		d := driver.Agg{Path: a.Field}
		switch a.Kind {
		case AggTerms:
			d.Kind, d.Size = driver.AggTerms, a.Size
			if d.Size == 0 {
				d.Size = DefaultTermsSize
			}
		case AggDateHistogram:
			loc, err := loadZone(a.TimeZone)
			if err != nil {
				return nil, nil, aggError(path, "date_histogram %v", err)
			}
			w, o, _ := a.CalendarInterval.width()
			p.loc = loc
			p.iv = driver.Interval{Width: w, Origin: o, Offsets: zoneOffsets(loc, from, to)}
			p.slotLo, p.slotHi = p.iv.Slot(from.UnixMicro()), p.iv.Slot(to.UnixMicro())
			if e := a.ExtendedBounds; !e.IsZero() {
				if !e.Min.IsZero() {
					p.extLo, p.hasExtLo = p.iv.Slot(e.Min.Start().UnixMicro()), true
				}
				if !e.Max.IsZero() {
					p.extHi, p.hasExt = p.iv.Slot(e.Max.End().UnixMicro()), true
				}
				if (p.hasExtLo && (p.extLo < p.slotLo || p.extLo > p.slotHi)) || (p.hasExt && (p.extHi < p.slotLo || p.extHi > p.slotHi)) {
					return nil, nil, aggError(path, "date_histogram extended_bounds {min %s, max %s} reach outside the query's range %s to %s",
						e.Min, e.Max, Bound{t: from}, Bound{t: to})
				}
			}
			d.Kind, d.Path, d.Interval = driver.AggDateHistogram, TimeField, p.iv
		case AggSum:
			d.Kind = driver.AggSum
		case AggAvg:
			d.Kind = driver.AggAvg
		case AggMin:
			d.Kind = driver.AggMin
		case AggMax:
			d.Kind = driver.AggMax
		case AggPercentiles:
			p.percents = a.Percents
			if p.percents == nil {
				p.percents = DefaultPercents()
			}
			d.Kind, d.Percents = driver.AggPercentiles, slices.Clone(p.percents)
		}
		if len(a.Aggs) > 0 {
			var err error
			if p.subs, d.Subs, err = compileLevel(a.Aggs, path, from, to); err != nil {
				return nil, nil, err
			}
		}
		plans[i], aggs[i] = p, d
	}
	return plans, aggs, nil
}

// zoneOffsets lists loc's UTC offsets over [from, to] (nil for UTC).
func zoneOffsets(loc *time.Location, from, to time.Time) []driver.Offset {
	if loc == time.UTC {
		return nil
	}
	_, off := from.In(loc).Zone()
	out := []driver.Offset{{From: from.UnixMicro(), Offset: int64(off) * 1e6}}
	for t := from; len(out) < 1000; {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.After(t) || end.After(to) {
			break
		}
		_, off = end.In(loc).Zone()
		if int64(off)*1e6 != out[len(out)-1].Offset {
			out = append(out, driver.Offset{From: end.UnixMicro(), Offset: int64(off) * 1e6})
		}
		t = end
	}
	if len(out) == 1 && out[0].Offset == 0 {
		return nil
	}
	return out
}

// bucketCount returns the largest number of buckets the plans can return,
// saturating just above MaxBuckets.
func bucketCount(plans []aggPlan) int {
	total := 0
	for i := range plans {
		p := &plans[i]
		var n int
		switch p.agg.Kind {
		case AggTerms:
			n = p.agg.Size
			if n == 0 {
				n = DefaultTermsSize
			}
		case AggDateHistogram:
			span := p.slotHi - p.slotLo + 1
			if span > MaxBuckets {
				return MaxBuckets + 1
			}
			n = int(span)
		default:
			continue
		}
		per := 1 + bucketCount(p.subs)
		if per > MaxBuckets || n*per > MaxBuckets {
			return MaxBuckets + 1
		}
		if total += n * per; total > MaxBuckets {
			return MaxBuckets + 1
		}
	}
	return total
}

// finishAggs turns the driver's results into AggregationResults, checking
// that they have the shape of the plans (a driver's bug is an error, not a
// panic).
func finishAggs(plans []aggPlan, rs []driver.AggResult) (AggregationResults, error) {
	if len(rs) != len(plans) {
		return nil, fmt.Errorf("insights: the index returned %d aggregation results for %d aggregations", len(rs), len(plans))
	}
	out := make(AggregationResults, len(plans))
	for i := range plans {
		r, err := plans[i].finish(rs[i])
		if err != nil {
			return nil, err
		}
		out[plans[i].name] = r
	}
	return out, nil
}

func (p *aggPlan) finish(r driver.AggResult) (AggregationResult, error) {
	out := AggregationResult{Kind: p.agg.Kind}
	switch p.agg.Kind {
	case AggTerms:
		out.Buckets = make([]Bucket, 0, len(r.Buckets))
		out.SumOtherDocCount = r.Other
		for _, b := range r.Buckets {
			subs, err := finishAggs(p.subs, b.Subs)
			if err != nil {
				return out, err
			}
			out.Buckets = append(out.Buckets, Bucket{Key: b.Key, DocCount: b.DocCount, Aggregations: nilIfEmpty(subs)})
		}
	case AggDateHistogram:
		return p.finishHistogram(r)
	case AggSum:
		sum := r.Sum
		out.Value = &sum
	case AggAvg, AggMin, AggMax:
		if r.Count > 0 {
			v := r.Min
			switch p.agg.Kind {
			case AggAvg:
				v = r.Sum / float64(r.Count)
			case AggMax:
				v = r.Max
			}
			out.Value = &v
		}
	case AggPercentiles:
		if r.Count > 0 && len(r.Values) != len(p.percents) {
			return out, fmt.Errorf("insights: the index returned %d percentiles for %d percents", len(r.Values), len(p.percents))
		}
		out.Values = make([]PercentileValue, len(p.percents))
		for i, pc := range p.percents {
			out.Values[i].Percent = pc
			if r.Count > 0 {
				v := r.Values[i]
				out.Values[i].Value = &v
			}
		}
	}
	return out, nil
}

func nilIfEmpty(rs AggregationResults) AggregationResults {
	if len(rs) == 0 {
		return nil
	}
	return rs
}

// finishHistogram fills the gaps between non-empty buckets (and up to the
// extended bounds) with empty ones, or drops the buckets below
// MinDocCount, and turns slots into the start times of their intervals.
func (p *aggPlan) finishHistogram(r driver.AggResult) (AggregationResult, error) {
	out := AggregationResult{Kind: AggDateHistogram, Buckets: []Bucket{}}
	for i, b := range r.Buckets {
		if b.Slot < p.slotLo || b.Slot > p.slotHi || (i > 0 && b.Slot <= r.Buckets[i-1].Slot) {
			return out, fmt.Errorf("insights: the index returned date histogram buckets out of order or outside the range")
		}
		if len(b.Subs) != len(p.subs) {
			return out, fmt.Errorf("insights: the index returned %d sub-aggregation results for %d", len(b.Subs), len(p.subs))
		}
	}
	add := func(slot int64, count int, subs []driver.AggResult) error {
		start, exists := p.slotStart(slot)
		if count == 0 && !exists {
			return nil // a local hour skipped by a daylight-saving change
		}
		var sub AggregationResults
		var err error
		if count == 0 {
			subs = make([]driver.AggResult, len(p.subs)) // an empty bucket
		}
		if sub, err = finishAggs(p.subs, subs); err != nil {
			return err
		}
		out.Buckets = append(out.Buckets, Bucket{
			Key:          keyOfSlot(start),
			KeyAsString:  start.In(p.loc).Format("2006-01-02T15:04:05.000Z07:00"),
			DocCount:     count,
			Aggregations: nilIfEmpty(sub),
		})
		return nil
	}
	if p.agg.MinDocCount > 0 {
		for _, b := range r.Buckets {
			if b.DocCount >= p.agg.MinDocCount {
				if err := add(b.Slot, b.DocCount, b.Subs); err != nil {
					return out, err
				}
			}
		}
		return out, nil
	}
	lo, hi := int64(0), int64(-1)
	if n := len(r.Buckets); n > 0 {
		lo, hi = r.Buckets[0].Slot, r.Buckets[n-1].Slot
	}
	if p.hasExtLo && (hi < lo || p.extLo < lo) {
		if hi < lo {
			hi = p.extLo
		}
		lo = p.extLo
	}
	if p.hasExt && (hi < lo || p.extHi > hi) {
		if hi < lo {
			lo = p.extHi
		}
		hi = p.extHi
	}
	j := 0
	for s := lo; s <= hi; s++ {
		if j < len(r.Buckets) && r.Buckets[j].Slot == s {
			if err := add(s, r.Buckets[j].DocCount, r.Buckets[j].Subs); err != nil {
				return out, err
			}
			j++
			continue
		}
		if err := add(s, 0, nil); err != nil {
			return out, err
		}
	}
	return out, nil
}

// slotStart returns the instant a slot's interval starts: the local wall
// time slot·Width+Origin in the plan's zone. exists is false for an hour
// that a daylight-saving change skips.
func (p *aggPlan) slotStart(slot int64) (time.Time, bool) {
	wall := time.UnixMicro(slot*p.iv.Width + p.iv.Origin).UTC()
	t := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), 0, 0, 0, p.loc)
	if p.agg.CalendarInterval != IntervalHour {
		return t, true // a day starts when it starts, even if not at 00:00
	}
	l := t.In(p.loc)
	return t, l.Year() == wall.Year() && l.YearDay() == wall.YearDay() && l.Hour() == wall.Hour()
}

// refDoc is a document as the reference evaluator sees it.
type refDoc struct {
	start int64
	// vals holds the distinct values of each path.
	vals map[string][]driver.Value
}

// refAggregate evaluates aggregations over documents by the definitions of
// driver.Agg, with maps and loops: the reference semantics of Evaluate.
func refAggregate(docs []*refDoc, aggs []driver.Agg) []driver.AggResult {
	out := make([]driver.AggResult, len(aggs))
	for i := range aggs {
		out[i] = refAgg(docs, &aggs[i])
	}
	return out
}

func refAgg(docs []*refDoc, a *driver.Agg) driver.AggResult {
	switch a.Kind {
	case driver.AggTerms:
		type group struct {
			key  driver.Value
			docs []*refDoc
		}
		groups := map[driver.Value]*group{}
		for _, d := range docs {
			for _, v := range d.vals[a.Path] {
				k := driver.Value{Kind: v.Kind, Text: v.Text}
				g := groups[k]
				if g == nil {
					g = &group{key: v}
					groups[k] = g
				}
				g.docs = append(g.docs, d)
			}
		}
		var buckets []driver.Bucket
		for _, g := range groups {
			buckets = append(buckets, driver.Bucket{Key: g.key, DocCount: len(g.docs)})
		}
		kept, other := driver.TopTerms(buckets, a.Size)
		for i := range kept {
			kept[i].Subs = refAggregate(groups[driver.Value{Kind: kept[i].Key.Kind, Text: kept[i].Key.Text}].docs, a.Subs)
		}
		return driver.AggResult{Buckets: kept, Other: other}
	case driver.AggDateHistogram:
		slots := map[int64][]*refDoc{}
		for _, d := range docs {
			s := a.Interval.Slot(d.start)
			slots[s] = append(slots[s], d)
		}
		var r driver.AggResult
		for _, s := range slices.Sorted(func(yield func(int64) bool) {
			for s := range slots {
				if !yield(s) {
					return
				}
			}
		}) {
			r.Buckets = append(r.Buckets, driver.Bucket{Slot: s, DocCount: len(slots[s]), Subs: refAggregate(slots[s], a.Subs)})
		}
		return r
	case driver.AggPercentiles:
		var vals []float64
		for _, d := range docs {
			for _, v := range d.vals[a.Path] {
				if v.Kind == driver.Number {
					vals = append(vals, v.Num)
				}
			}
		}
		return driver.PercentilesResult(vals, a.Percents)
	default:
		var m driver.Metrics
		for _, d := range docs {
			for _, v := range d.vals[a.Path] {
				if v.Kind == driver.Number {
					x := v.Num
					if a.RoundUp > 0 {
						x = driver.CeilDiv(x, a.RoundUp)
					}
					m.Add(x)
				}
			}
		}
		return m.Result()
	}
}
