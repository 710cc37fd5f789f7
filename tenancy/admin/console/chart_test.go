package console

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// The charts are well-formed SVG whatever the status names hold (they come
// from session documents and are inserted in the page as markup), with one
// bar segment per non-zero count, heights in proportion.
func TestChartsEscapeAndScale(t *testing.T) {
	day := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	avg := 65000.0
	days := []dayPoint{
		{Day: day, Counts: []int{3, 1}, Total: 4, AvgMs: &avg},
		{Day: day.AddDate(0, 0, 1), Counts: []int{0, 0}},
		{Day: day.AddDate(0, 0, 2), Counts: []int{2, 0}, Total: 2, AvgMs: &avg},
	}
	ss := []series{{Name: "ended", Color: palette("ended", 0)}, {Name: `</title><script>alert(1)</script>`, Color: palette("x", 1)}}
	for name, svg := range map[string]string{"calls": callsChart(days, ss), "duration": durationChart(days)} {
		if strings.Contains(svg, "<script") {
			t.Fatalf("%s chart holds an unescaped status: %s", name, svg)
		}
		dec := xml.NewDecoder(strings.NewReader(svg))
		rects := 0
		var heights []string
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s chart is not well-formed: %v\n%s", name, err, svg)
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
				rects++
				for _, a := range se.Attr {
					if a.Name.Local == "height" {
						heights = append(heights, a.Value)
					}
				}
			}
		}
		want := map[string]int{"calls": 3, "duration": 2}[name]
		if rects != want {
			t.Fatalf("%s chart: %d bars, want %d", name, rects, want)
		}
		if name == "calls" && (heights[0] != "122.4" || heights[1] != "40.8" || heights[2] != "81.6") {
			// plot height 204, axis top 5 for a peak of 4: 3 → 122.4, 1 → 40.8, 2 → 81.6
			t.Fatalf("bar heights %v", heights)
		}
	}
}

func TestNiceMax(t *testing.T) {
	for _, tc := range []struct{ v, top, step float64 }{{0, 1, 1}, {4, 5, 1}, {7, 10, 2}, {180, 200, 50}, {0.5, 0.5, 0.1}} {
		top, step := niceMax(tc.v)
		if top != tc.top || (step-tc.step) > 1e-9 || (tc.step-step) > 1e-9 {
			t.Errorf("niceMax(%v) = %v, %v; want %v, %v", tc.v, top, step, tc.top, tc.step)
		}
	}
}

func TestNiceDuration(t *testing.T) {
	for _, tc := range []struct{ peak, top, step float64 }{{0, 60, 15}, {41, 50, 10}, {163, 180, 60}, {500, 600, 120}, {7200, 7200, 1800}, {40000, 43200, 10800}} {
		if top, step := niceDuration(tc.peak); top != tc.top || step != tc.step {
			t.Errorf("niceDuration(%v) = %v, %v; want %v, %v", tc.peak, top, step, tc.top, tc.step)
		}
	}
}
