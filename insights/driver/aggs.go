package driver

import (
	"math"
	"slices"
)

// AggKind is the kind of a compiled aggregation.
type AggKind uint8

// The aggregation kinds.
const (
	// AggTerms buckets documents by the values of the leaf at Path (a
	// document holding several distinct values is in each of their
	// buckets) and keeps the Size most frequent: DocCount descending, then
	// Key ascending (Compare). Other counts the documents of the buckets
	// left out (a document counted once per bucket).
	AggTerms AggKind = iota + 1
	// AggDateHistogram buckets documents by Interval.Slot(Document.Start).
	// Only non-empty buckets are returned, in Slot order; the portable type
	// fills the gaps, applies min_doc_count and turns slots into times.
	AggDateHistogram
	// AggSum, AggAvg, AggMin and AggMax are metrics of the Number values at
	// Path: drivers fill Count, Sum, Min and Max of AggResult for all four
	// (the portable type picks what it needs: an average is Sum/Count).
	AggSum
	AggAvg
	AggMin
	AggMax
	// AggPercentiles fills Count and Values: for each of Percents, the
	// percentile of the Number values at Path computed as Percentile does
	// (PostgreSQL's percentile_cont).
	AggPercentiles
)

// Agg is one compiled aggregation. The portable type validates it: Path is
// an aggregatable field for the kind, Size is in [1, MaxBuckets], the
// Interval's Width is positive, Percents lie in [0, 100], and the whole tree
// is bounded, so a driver may evaluate it as given.
//
// Values follow the storage of Document.Terms: a document holding the same
// value twice at a path counts it once (in a terms bucket and in a metric).
type Agg struct {
	Kind AggKind
	// Path is the leaf path of a terms or metric aggregation. A date
	// histogram always buckets session_start_time (Document.Start).
	Path string
	// Size is the number of terms buckets kept.
	Size int
	// Interval is the calendar interval of a date histogram.
	Interval Interval
	// Percents are the percentiles asked for, in [0, 100].
	Percents []float64
	// RoundUp, for AggSum only: when positive, each value v counts as
	// ⌈v/RoundUp⌉ when v > 0 and as 0 otherwise (the billed minutes of
	// durations in milliseconds: RoundUp 60000). Zero sums values as they are.
	RoundUp float64
	// Subs are evaluated within each bucket of a terms or date histogram
	// aggregation (never under a metric).
	Subs []Agg
}

// Interval is a date histogram's calendar interval, in microseconds of local
// time: the slot of an instant t is ⌊(t + offset(t) − Origin) / Width⌋, where
// offset(t) is the time zone's UTC offset at t. Hours, days and weeks are
// fixed widths of local time; Origin makes weeks start on Monday.
type Interval struct {
	// Width is the bucket width in microseconds: an hour, a day or a week.
	Width int64
	// Origin is a local time (in microseconds since the epoch, read as UTC)
	// that starts a bucket.
	Origin int64
	// Offsets is the time zone's UTC offset over the query's range, sorted
	// by From; empty means UTC.
	Offsets []Offset
}

// Offset is a UTC offset in effect from the instant From on (until the next
// Offset's From). Before the first From, the first Offset applies.
type Offset struct {
	// From is an instant in microseconds since the Unix epoch.
	From int64
	// Offset is added to an instant to get local time, in microseconds
	// (+02:00 is 7,200,000,000).
	Offset int64
}

// OffsetAt returns the UTC offset at instant t in microseconds.
func (iv *Interval) OffsetAt(t int64) int64 {
	n := len(iv.Offsets)
	if n == 0 {
		return 0
	}
	off := iv.Offsets[0].Offset
	for i := 1; i < n && iv.Offsets[i].From <= t; i++ {
		off = iv.Offsets[i].Offset
	}
	return off
}

// Slot returns the number of the bucket holding instant t (microseconds
// since the Unix epoch).
func (iv *Interval) Slot(t int64) int64 {
	return FloorDiv(t+iv.OffsetAt(t)-iv.Origin, iv.Width)
}

// FloorDiv is a / b rounded towards negative infinity (b > 0). SQL drivers
// write it as (a - ((a % b) + b) % b) / b, since SQL's % truncates.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// AggResult is the result of one Agg.
type AggResult struct {
	// Buckets of a terms aggregation (in its order) or of a date
	// histogram (non-empty ones, by Slot).
	Buckets []Bucket
	// Other is, for terms, the sum of the DocCount of the buckets past
	// Size.
	Other int
	// Count is the number of values a metric or percentiles aggregated.
	Count int
	// Sum, Min and Max of those values (0 when Count is 0). With RoundUp,
	// Sum is the sum of the rounded values.
	Sum, Min, Max float64
	// Values holds one percentile per Agg.Percents, in order; nil when
	// Count is 0.
	Values []float64
}

// Bucket is one bucket of a terms or date histogram aggregation.
type Bucket struct {
	// Key is the value of a terms bucket.
	Key Value
	// Slot is the number of a date histogram bucket (Interval.Slot of its
	// documents' start).
	Slot int64
	// DocCount counts the bucket's documents.
	DocCount int
	// Subs holds one result per Agg.Subs, in order.
	Subs []AggResult
}

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of sorted values by
// linear interpolation between the closest ranks: the value at rank
// p/100·(n−1), counting from 0. This is PostgreSQL's percentile_cont and
// NumPy's default; Elasticsearch's TDigest approximates it. It returns NaN
// for no values.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	rank := p / 100 * float64(n-1)
	lo := int(math.Floor(rank))
	if lo >= n-1 {
		return sorted[n-1]
	}
	if lo < 0 {
		return sorted[0]
	}
	frac := rank - float64(lo)
	if frac == 0 {
		return sorted[lo]
	}
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

// CeilDiv is how AggSum with RoundUp counts a value: ⌈v/r⌉ for v > 0, else 0.
func CeilDiv(v, r float64) float64 {
	if v <= 0 {
		return 0
	}
	return math.Ceil(v / r)
}

// TopTerms orders terms buckets as AggTerms returns them (DocCount
// descending, then Key ascending), keeps the first size and returns them
// with the DocCount sum of the others. It reorders buckets in place.
func TopTerms(buckets []Bucket, size int) ([]Bucket, int) {
	slices.SortFunc(buckets, func(a, b Bucket) int {
		if a.DocCount != b.DocCount {
			if a.DocCount > b.DocCount {
				return -1
			}
			return 1
		}
		return Compare(a.Key, b.Key)
	})
	if len(buckets) <= size {
		return buckets, 0
	}
	other := 0
	for _, b := range buckets[size:] {
		other += b.DocCount
	}
	return buckets[:size:size], other
}

// Metrics accumulates the values of a metric aggregation.
type Metrics struct {
	Count         int
	Sum, Min, Max float64
}

// Add counts one value.
func (m *Metrics) Add(v float64) {
	if m.Count == 0 || v < m.Min {
		m.Min = v
	}
	if m.Count == 0 || v > m.Max {
		m.Max = v
	}
	m.Count++
	m.Sum += v
}

// Result returns the AggResult of a metric aggregation.
func (m *Metrics) Result() AggResult {
	return AggResult{Count: m.Count, Sum: m.Sum, Min: m.Min, Max: m.Max}
}

// PercentilesResult returns the AggResult of a percentiles aggregation over
// values, which it sorts.
func PercentilesResult(values []float64, percents []float64) AggResult {
	r := AggResult{Count: len(values)}
	if len(values) == 0 {
		return r
	}
	slices.Sort(values)
	r.Values = make([]float64, len(percents))
	for i, p := range percents {
		r.Values[i] = Percentile(values, p)
	}
	return r
}
