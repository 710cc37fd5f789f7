package console_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
)

// The dashboard shows what one aggregation request to the Insights API
// answers for the member's account: calls of the last 30 days by status,
// their average duration, per day as charts and as a table.
func TestDashboard(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	day := func(d int) time.Time { return w.now.AddDate(0, 0, -d).Truncate(24 * time.Hour).Add(10 * time.Hour) }
	var extra []*insights.Session
	for i, c := range []struct {
		d   int
		dur time.Duration
	}{{1, 30 * time.Second}, {1, 90 * time.Second}, {3, 0}, {40, time.Minute}} {
		rec := insights.CallRecord{SessionID: "d000000" + string(rune('0'+i)) + "-0000-4000-8000-000000000000", AccountID: string(w.a.SID),
			Source: "+1555000900" + string(rune('0'+i)), Start: day(c.d)}
		if c.dur > 0 {
			rec.End = rec.Start.Add(c.dur)
		}
		extra = append(extra, insights.NewCallSession(rec))
	}
	if err := w.idx.Put(ctx, extra...); err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	b.mustSignIn(w.ann.Email)
	p := b.get("/console/")
	text := regexp.MustCompile(`<[^>]+>`).ReplaceAllString(p.body, " ")
	text = strings.Join(strings.Fields(text), " ")
	// A's calls of the last 30 days: the call of two hours ago (3 s), two
	// yesterday (30 s, 90 s), one in progress 3 days ago; not the one of 40
	// days ago, nor B's.
	for _, want := range []string{"Calls 4", "Ended 3", "In progress 1", "Average duration 0:41"} {
		if !strings.Contains(text, want) {
			t.Errorf("dashboard lacks %q: %.600s", want, text[strings.Index(text, "Last 30 days"):])
		}
	}
	if n := strings.Count(p.body, "<rect "); n < 5 {
		t.Errorf("%d bars drawn", n)
	}
	if !strings.Contains(p.body, `role="img" aria-labelledby="calls-chart-t calls-chart-d"`) {
		t.Error("the chart is not an image with a title and a description")
	}
	// 30 days in the table, yesterday with 2 ended calls averaging 1:00.
	rows := regexp.MustCompile(`<tr><th scope="row">`).FindAllString(p.body, -1)
	if len(rows) != 30 {
		t.Errorf("%d days in the table, want 30", len(rows))
	}
	yesterday := w.now.AddDate(0, 0, -1).Format("2006-01-02")
	// Just after midnight UTC the call of two hours ago is yesterday's too.
	row := `<td class="num">2</td><td class="num">0</td><td class="num">2</td><td class="num">1:00</td>`
	if w.callA.SessionStartTime.Format("2006-01-02") == yesterday {
		row = `<td class="num">3</td><td class="num">0</td><td class="num">3</td><td class="num">0:41</td>`
	}
	if !regexp.MustCompile(`<th scope="row">` + yesterday + `</th>` + row).MatchString(p.body) {
		t.Errorf("yesterday's row: %s", p.body[strings.Index(p.body, yesterday):][:200])
	}
	// Bob sees his account only.
	bob := w.browser()
	bob.mustSignIn(w.bob.Email)
	if p := bob.get("/console/"); !strings.Contains(p.body, `id="total-calls">1<`) {
		t.Errorf("Bob's dashboard: %.400s", p.body[strings.Index(p.body, "Last 30 days"):])
	}
	// A member who may not read calls gets no numbers.
	w.member("sam@acme.example.com", 1, w.a.SID, "")
	sam := w.browser()
	sam.mustSignIn("sam@acme.example.com")
	if p := sam.get("/console/"); !strings.Contains(p.body, "does not let you read calls") {
		t.Error("a member without interaction read sees the dashboard")
	}
}
