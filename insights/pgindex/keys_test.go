package pgindex

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
)

// sign returns -1, 0 or 1.
func sign(c int) int { return max(-1, min(1, c)) }

// FuzzFacetText: the facet form of a value reads back as the same value,
// and two values' facet forms order (bytewise, as COLLATE "C" does) as
// driver.Compare orders the values; so do their key payloads.
func FuzzFacetText(f *testing.F) {
	for _, seed := range []struct {
		a, b   string
		x, y   float64
		ka, kb uint8
	}{
		{"ended", "in_progress", 30000, -2.5, 1, 2},
		{"a\x00b", "a\x01", 0, math.Copysign(0, -1), 1, 1},
		{"\x01\x02", "\x01\x01", 1e21, 1e-7, 0, 0},
		{"true", "false", -1e300, 1e300, 2, 2},
		{"münchen", "zürich", 5, 5, 1, 0},
	} {
		f.Add(seed.a, seed.b, seed.x, seed.y, seed.ka, seed.kb)
	}
	value := func(kind uint8, s string, x float64) driver.Value {
		switch kind % 3 {
		case 0:
			return insights.ValueOf(x)
		case 1:
			return driver.Value{Kind: driver.String, Text: s}
		}
		return insights.ValueOf(len(s)%2 == 0)
	}
	f.Fuzz(func(t *testing.T, a, b string, x, y float64, ka, kb uint8) {
		if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
			t.Skip("not a JSON number")
		}
		if !jsonString(a) || !jsonString(b) {
			t.Skip("not a string a JSON document holds")
		}
		va, vb := value(ka, a, x), value(kb, b, y)
		for _, v := range []driver.Value{va, vb} {
			got, ok := decodeFacetText(facetText(v))
			if !ok || got.Kind != v.Kind || got.Text != v.Text || (v.Kind == driver.Number && got.Num != v.Num) {
				t.Fatalf("round trip of %+v: %+v, %v", v, got, ok)
			}
			if strings.ContainsRune(facetText(v), 0) {
				t.Fatalf("facet form of %+v holds a NUL", v)
			}
		}
		want := sign(driver.Compare(va, vb))
		if got := sign(strings.Compare(facetText(va), facetText(vb))); got != want && !(want == 0 && va.Kind == driver.Number) {
			t.Fatalf("facets of %+v and %+v compare %d, values %d", va, vb, got, want)
		}
		pa, pb := appendPayload([]byte{valueKind(va)}, va), appendPayload([]byte{valueKind(vb)}, vb)
		if va.Kind == driver.Number {
			pa = pa[:9]
		}
		if vb.Kind == driver.Number {
			pb = pb[:9]
		}
		if len(a) <= maxPayload && len(b) <= maxPayload {
			if got := sign(bytes.Compare(pa, pb)); got != want {
				t.Fatalf("key payloads of %+v and %+v compare %d, values %d", va, vb, got, want)
			}
		}
	})
}

// jsonString reports whether s survives a JSON round trip (valid UTF-8).
func jsonString(s string) bool {
	b, _ := json.Marshal(s)
	var back string
	return json.Unmarshal(b, &back) == nil && back == s
}

func TestMonths(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     int
	}{
		{"2025-01-31T23:59:59Z", "2025-02-01T00:00:00Z", 2},
		{"2025-06-01T00:00:00Z", "2025-06-30T23:59:59Z", 1},
		{"2024-12-31T00:00:00Z", "2025-03-01T00:00:00Z", 4},
	} {
		from, to := mustTime(t, tc.from), mustTime(t, tc.to)
		if got := months(from, to); len(got) != tc.want || got[0] != month(from) || got[len(got)-1] != month(to) {
			t.Fatalf("months(%s, %s) = %v, want %d months", tc.from, tc.to, got, tc.want)
		}
	}
	if month(0) != 0 || month(-1) != 0 {
		t.Fatal("months before 1970 are not 0")
	}
}

func mustTime(t *testing.T, s string) int64 {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixMicro()
}
