package console

import (
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac"
)

// The dashboard (issue 19): calls per day by status and their average
// duration over the last DashboardDays days, from one aggregation request to
// the Insights API (a date histogram with terms and avg sub-aggregations,
// no hits), drawn as SVG on the server.

// DashboardDays is the span of the dashboard, today included.
const DashboardDays = 30

type dashboardView struct {
	From, To    string
	Message     string
	Total       int
	AvgDuration string
	Statuses    []statusTotal
	Series      []series
	Days        []dayPoint
	CallsSVG    string
	DurationSVG string
}

type statusTotal struct {
	Name  string
	Color string
	Count int
}

// dashboardQuery asks for the last days: per day, the calls by status and
// their average duration; over the whole span, the same.
func dashboardQuery(today time.Time) *insights.Query {
	from := insights.Day(today.AddDate(0, 0, -(DashboardDays - 1)).Date())
	to := insights.Day(today.Date())
	perDay := insights.DateHistogramAgg("session_start_time", insights.IntervalDay)
	perDay.ExtendedBounds = insights.ExtendedBounds{Min: from, Max: to}
	perDay = perDay.Sub("status", insights.TermsAgg("status", 10)).Sub("avg_duration", insights.AvgAgg("channel_data.duration"))
	return &insights.Query{From: from, To: to, NoHits: true, Aggs: insights.Aggregations{
		"per_day":      perDay,
		"status":       insights.TermsAgg("status", 10),
		"avg_duration": insights.AvgAgg("channel_data.duration"),
	}}
}

func (c *Console) dashboard(q *req) {
	today := c.now().UTC()
	v := dashboardView{From: today.AddDate(0, 0, -(DashboardDays - 1)).Format("2006-01-02"), To: today.Format("2006-01-02")}
	if !q.may(rbac.EntityInteraction, rbac.ActionRead) {
		v.Message = "Your role does not let you read calls."
		q.page(http.StatusOK, "dashboard", "Dashboard", "dashboard", v, nil)
		return
	}
	account := q.account()
	if q.p.Scope == rbac.ScopeServiceProvider && account == "" {
		v.Message = "Choose an account above to see its calls."
		q.page(http.StatusOK, "dashboard", "Dashboard", "dashboard", v, nil)
		return
	}
	res, err := c.insightsClient().Search(q.insightsCtx(account), dashboardQuery(today))
	if err != nil {
		var ie *insights.APIError
		if errors.As(err, &ie) && ie.StatusCode == http.StatusForbidden {
			v.Message = "You may not read this account's calls."
			q.page(http.StatusOK, "dashboard", "Dashboard", "dashboard", v, nil)
			return
		}
		q.page(http.StatusOK, "dashboard", "Dashboard", "dashboard", v, problemOf(err))
		return
	}
	v.Total = res.Total
	if avg := res.Aggregations["avg_duration"].Value; avg != nil {
		v.AvgDuration = fmtDuration(int64(*avg))
	}
	// Series: ended, in progress, then any other status, by name.
	index := map[string]int{}
	var names []string
	for _, b := range res.Aggregations["status"].Buckets {
		names = append(names, b.Key.Text)
	}
	sort.Slice(names, func(i, j int) bool {
		return statusRank(names[i]) < statusRank(names[j]) || statusRank(names[i]) == statusRank(names[j]) && names[i] < names[j]
	})
	for i, n := range names {
		index[n] = i
		v.Series = append(v.Series, series{Name: n, Color: palette(n, i)})
	}
	for _, b := range res.Aggregations["status"].Buckets {
		i := index[b.Key.Text]
		v.Statuses = append(v.Statuses, statusTotal{Name: b.Key.Text, Color: v.Series[i].Color, Count: b.DocCount})
	}
	sort.Slice(v.Statuses, func(i, j int) bool { return index[v.Statuses[i].Name] < index[v.Statuses[j].Name] })
	for _, b := range res.Aggregations["per_day"].Buckets {
		d := dayPoint{Day: b.Time(), Counts: make([]int, len(names)), Total: b.DocCount, AvgMs: b.Aggregations["avg_duration"].Value}
		for _, sb := range b.Aggregations["status"].Buckets {
			if i, ok := index[sb.Key.Text]; ok {
				d.Counts[i] = sb.DocCount
			}
		}
		v.Days = append(v.Days, d)
	}
	v.CallsSVG = callsChart(v.Days, v.Series)
	v.DurationSVG = durationChart(v.Days)
	q.page(http.StatusOK, "dashboard", "Dashboard", "dashboard", v, nil)
}

func statusRank(s string) int {
	switch s {
	case insights.StatusEnded:
		return 0
	case insights.StatusInProgress:
		return 1
	}
	return 2
}
