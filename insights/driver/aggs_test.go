package driver

import (
	"math"
	"testing"
)

func TestFloorDivAndSlot(t *testing.T) {
	for _, tc := range []struct{ a, b, want int64 }{{7, 2, 3}, {-7, 2, -4}, {-8, 2, -4}, {0, 5, 0}, {-1, 5, -1}} {
		if got := FloorDiv(tc.a, tc.b); got != tc.want {
			t.Errorf("FloorDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	const hour = int64(3600e6)
	// +01:00 until instant 10h, +02:00 after: 09:30 is local 10:30, 10:30 is local 12:30.
	iv := Interval{Width: hour, Offsets: []Offset{{From: 0, Offset: hour}, {From: 10 * hour, Offset: 2 * hour}}}
	for _, tc := range []struct{ t, want int64 }{{9*hour + hour/2, 10}, {10*hour + hour/2, 12}, {-hour / 2, 0}, {-2 * hour, -1}} {
		if got := iv.Slot(tc.t); got != tc.want {
			t.Errorf("Slot(%d) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	vals := []float64{10, 20, 30, 40}
	for _, tc := range []struct{ p, want float64 }{{0, 10}, {100, 40}, {50, 25}, {25, 17.5}, {99, 39.7}} {
		if got := Percentile(vals, tc.p); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) || Percentile([]float64{7}, 90) != 7 {
		t.Error("Percentile of zero or one value")
	}
	if r := PercentilesResult([]float64{3, 1, 2}, []float64{50}); r.Count != 3 || r.Values[0] != 2 {
		t.Errorf("PercentilesResult = %+v", r)
	}
}

func TestTopTermsAndMetrics(t *testing.T) {
	b := []Bucket{{Key: str("b"), DocCount: 2}, {Key: str("a"), DocCount: 2}, {Key: num(5, "5"), DocCount: 1}, {Key: str("c"), DocCount: 3}}
	kept, other := TopTerms(b, 2)
	if len(kept) != 2 || kept[0].Key.Text != "c" || kept[1].Key.Text != "a" || other != 3 {
		t.Fatalf("TopTerms = %+v, other %d", kept, other)
	}
	var m Metrics
	for _, v := range []float64{4, -1, 7} {
		m.Add(v)
	}
	if r := m.Result(); r.Count != 3 || r.Sum != 10 || r.Min != -1 || r.Max != 7 {
		t.Fatalf("Metrics = %+v", r)
	}
	for _, tc := range []struct{ v, r, want float64 }{{61000, 60000, 2}, {60000, 60000, 1}, {1, 60000, 1}, {0, 60000, 0}, {-5, 60000, 0}} {
		if got := CeilDiv(tc.v, tc.r); got != tc.want {
			t.Errorf("CeilDiv(%v, %v) = %v, want %v", tc.v, tc.r, got, tc.want)
		}
	}
}
