package console

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

// The dashboard's charts are SVG written on the server from numbers the
// Insights API aggregated: no script, no library. Every text in them is
// escaped here (status names come from session documents), because the
// template inserts the markup as is. Each chart is an image with a title
// and a description; the page also gives the numbers as a table.

// dayPoint is one day of the dashboard.
type dayPoint struct {
	Day    time.Time
	Counts []int    // calls per series (status)
	Total  int      // calls
	AvgMs  *float64 // average duration, nil without calls
}

// series is one stacked status.
type series struct {
	Name, Color string
}

// palette colours statuses: ended green, in progress amber, the others
// distinct hues (all at least 3:1 against white).
func palette(name string, i int) string {
	switch name {
	case "ended":
		return "#2e7d32"
	case "in_progress":
		return "#b26a00"
	}
	others := []string{"#1565c0", "#6a1b9a", "#c62828", "#00838f", "#4e342e"}
	return others[i%len(others)]
}

const (
	chartW, chartH                 = 720, 260
	padL, padR, padT, padB float64 = 48, 12, 16, 40
)

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, and
// returns it with the tick step.
func niceMax(v float64) (float64, float64) {
	if v <= 0 {
		return 1, 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*exp >= v {
			top := m * exp
			step := top / 5
			if m == 1 || m == 2 {
				step = top / 4
			}
			if step < 1 && v >= 1 {
				step = 1
			}
			return top, step
		}
	}
	return v, v / 5
}

func svgOpen(b *strings.Builder, id, title, desc string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="%s-t %s-d" xmlns="http://www.w3.org/2000/svg">`,
		chartW, chartH, chartW, chartH, id, id)
	fmt.Fprintf(b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, html.EscapeString(title), id, html.EscapeString(desc))
}

// axes draws the y grid with its labels and the day labels under the bars.
func axes(b *strings.Builder, days []dayPoint, top, step float64, unit func(float64) string) {
	plotH := chartH - padT - padB
	for v := 0.0; v <= top+step/2; v += step {
		y := padT + plotH - v/top*plotH
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d4d9e0" stroke-width="1"/>`, padL, y, chartW-padR, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-6, y, html.EscapeString(unit(v)))
	}
	if len(days) == 0 {
		return
	}
	slot := (chartW - padL - padR) / float64(len(days))
	every := max(1, (len(days)+7)/8)
	for i, d := range days {
		if (len(days)-1-i)%every != 0 { // evenly spaced, ending on the last day
			continue
		}
		x := padL + slot*(float64(i)+0.5)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, float64(chartH)-padB+16, d.Day.Format("Jan 2"))
	}
}

// callsChart draws calls per day, stacked by status.
func callsChart(days []dayPoint, ss []series) string {
	var b strings.Builder
	total, peak := 0, 0
	for _, d := range days {
		total += d.Total
		peak = max(peak, d.Total)
	}
	desc := fmt.Sprintf("%d calls over %d days, at most %d in a day; the table below gives each day's numbers.", total, len(days), peak)
	svgOpen(&b, "calls-chart", "Calls per day by status", desc)
	top, step := niceMax(float64(peak))
	axes(&b, days, top, step, func(v float64) string { return fmt.Sprintf("%.0f", v) })
	plotH := chartH - padT - padB
	slot := (chartW - padL - padR) / float64(max(1, len(days)))
	w := slot * 0.7
	for i, d := range days {
		x := padL + slot*float64(i) + (slot-w)/2
		y := padT + plotH
		for j, n := range d.Counts {
			if n == 0 {
				continue
			}
			h := float64(n) / top * plotH
			y -= h
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d %s</title></rect>`,
				x, y, w, h, ss[j].Color, d.Day.Format("2006-01-02"), n, html.EscapeString(strings.ReplaceAll(ss[j].Name, "_", " ")))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// durationChart draws the average duration of each day's calls.
func durationChart(days []dayPoint) string {
	var b strings.Builder
	peak := 0.0
	n := 0
	for _, d := range days {
		if d.AvgMs != nil {
			peak = math.Max(peak, *d.AvgMs/1000)
			n++
		}
	}
	svgOpen(&b, "duration-chart", "Average call duration per day", fmt.Sprintf("The average duration of each day's calls, %d days with calls, longest average %s.", n, fmtDuration(int64(peak*1000))))
	top, step := niceDuration(peak)
	axes(&b, days, top, step, func(v float64) string { return fmtDuration(int64(v * 1000)) })
	plotH := chartH - padT - padB
	slot := (chartW - padL - padR) / float64(max(1, len(days)))
	w := slot * 0.7
	for i, d := range days {
		if d.AvgMs == nil {
			continue
		}
		h := *d.AvgMs / 1000 / top * plotH
		x := padL + slot*float64(i) + (slot-w)/2
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#0b5cad"><title>%s: %s on average</title></rect>`,
			x, padT+plotH-h, w, h, d.Day.Format("2006-01-02"), fmtDuration(int64(*d.AvgMs)))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// niceDuration returns an axis top and step in seconds for a peak in
// seconds: steps of round durations (10 s … 1 h), at most five of them.
func niceDuration(peak float64) (float64, float64) {
	if peak <= 0 {
		return 60, 15
	}
	for _, step := range []float64{10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600} {
		if step*5 >= peak {
			return step * math.Ceil(peak/step), step
		}
	}
	step := 3600 * math.Ceil(peak/5/3600)
	return step * math.Ceil(peak/step), step
}
