package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac"
)

// Recent calls (seed 000: "an admin can listen to and review recordings on
// the Recent calls page"): a search through the Insights API by date range,
// status, source and destination; a table with duration and status; each
// session's details with its recording's player and download.

const callsPageSize = 25

type callsView struct {
	From, To, Status, Source, Destination string
	Total, Page, Pages                    int
	Rows                                  []callRow
	PrevHref, NextHref                    string
	NeedAccount                           bool
	Searched                              bool
}

type callRow struct {
	ID, Href, Start, Duration, Status, StatusCode, Source, Destination, Application string
	HasRecording                                                                    bool
}

func statusCodeLabel(c *int) string {
	if c == nil {
		return ""
	}
	switch *c {
	case insights.StatusCodeOK:
		return "successful"
	case insights.StatusCodeWarning:
		return "warning"
	case insights.StatusCodeError:
		return "erroneous"
	}
	return strconv.Itoa(*c)
}

func (c *Console) calls(q *req) {
	form := q.r.URL.Query()
	now := c.now().UTC()
	v := callsView{From: form.Get("from"), To: form.Get("to"), Status: form.Get("status"),
		Source: strings.TrimSpace(form.Get("source")), Destination: strings.TrimSpace(form.Get("destination"))}
	if v.From == "" {
		v.From = now.AddDate(0, 0, -6).Format("2006-01-02")
	}
	if v.To == "" {
		v.To = now.Format("2006-01-02")
	}
	v.Page, _ = strconv.Atoi(form.Get("page"))
	v.Page = max(v.Page, 0)
	account := q.account()
	if q.p.Scope == rbac.ScopeServiceProvider && account == "" {
		v.NeedAccount = true
		q.page(http.StatusOK, "calls", "Recent calls", "calls", v, nil)
		return
	}
	query := &insights.Query{PageNumber: v.Page, PageSize: callsPageSize, Sort: []insights.SortField{insights.Desc("session_start_time")}}
	var err error
	if query.From, err = insights.ParseBound(v.From); err == nil {
		query.To, err = insights.ParseBound(v.To)
	}
	if err != nil {
		q.page(http.StatusBadRequest, "calls", "Recent calls", "calls", v, &problemView{Status: 400, Title: "Invalid dates", Detail: "Give the dates as YYYY-MM-DD."})
		return
	}
	if v.Status == insights.StatusEnded || v.Status == insights.StatusInProgress {
		query.Filter.Must = append(query.Filter.Must, insights.Term("status", v.Status))
	}
	if v.Source != "" {
		query.Filter.Must = append(query.Filter.Must, insights.Term("source", v.Source))
	}
	if v.Destination != "" {
		query.Filter.Must = append(query.Filter.Must, insights.Term("destination", v.Destination))
	}
	res, err := c.insightsClient().Search(q.insightsCtx(account), query)
	if err != nil {
		q.page(http.StatusOK, "calls", "Recent calls", "calls", v, problemOf(err))
		return
	}
	v.Searched, v.Total = true, res.Total
	v.Pages = (res.Total + callsPageSize - 1) / callsPageSize
	for _, h := range res.Hits {
		var s insights.Session
		if json.Unmarshal(h, &s) != nil {
			continue
		}
		start := s.SessionStartTime.Time
		link := url.Values{"start": {start.UTC().Format("2006-01-02")}}
		if q.p.Scope != rbac.ScopeAccount {
			link.Set("account", s.AccountID)
		}
		v.Rows = append(v.Rows, callRow{
			ID: s.ID, Href: c.prefix + "calls/" + url.PathEscape(s.ID) + "?" + link.Encode(),
			Start: fmtTime(start), Duration: fmtDuration(s.ChannelData.Duration), Status: s.Status,
			StatusCode: statusCodeLabel(s.ChannelData.StatusCode), Source: s.Source, Destination: s.Destination,
			Application: s.AgentID, HasRecording: s.ChannelData.AudioURL != "",
		})
	}
	page := func(n int) string {
		u := url.Values{"from": {v.From}, "to": {v.To}, "status": {v.Status}, "source": {v.Source}, "destination": {v.Destination}, "page": {strconv.Itoa(n)}}
		return c.prefix + "calls?" + u.Encode()
	}
	if v.Page > 0 {
		v.PrevHref = page(v.Page - 1)
	}
	if v.Page+1 < v.Pages {
		v.NextHref = page(v.Page + 1)
	}
	q.page(http.StatusOK, "calls", "Recent calls", "calls", v, nil)
}

// sessionDoc reads the session of the path through the Insights API, as the
// member: on the day given by ?start (seed 004's get), or by ID alone.
func (c *Console) sessionDoc(q *req) (*SessionDocument, error) {
	id := q.r.PathValue("id")
	ctx := q.insightsCtx(q.account())
	var p string
	if start := q.r.URL.Query().Get("start"); start != "" {
		p = "/insights/sessions/" + url.PathEscape(id) + "/parameters?" + url.Values{insights.ParamSessionStartTime: {start}}.Encode()
	} else {
		p = "/insights/sessions/search/" + url.PathEscape(id)
	}
	raw, err := c.getJSON(ctx, p)
	if err != nil {
		return nil, err
	}
	d := &SessionDocument{Raw: raw}
	if err := json.Unmarshal(raw, &d.Session); err != nil {
		return nil, fmt.Errorf("console: session document: %w", err)
	}
	return d, nil
}

type callView struct {
	Doc          *SessionDocument
	Start, End   string
	Duration     string
	StatusCode   string
	AudioHref    string
	DownloadHref string
	DownloadName string
	AudioType    string
	Participants []map[string]string
	PartCols     []string
	CAD          []kv
	Fields       []kv
}

type kv struct{ Key, Value string }

// notFoundOrProblem answers a failed API read: 404 for a session or
// resource the member cannot see (it may not exist), else the problem.
func (q *req) apiFailed(name, title, current string, data any, err error) {
	var ie *insights.APIError
	if errors.Is(err, insights.ErrNotFound) || (errors.As(err, &ie) && ie.StatusCode == http.StatusForbidden) {
		q.notFound("No such call, or it is not yours to see.")
		return
	}
	p := problemOf(err)
	if p.Status == http.StatusNotFound {
		q.notFound("Not found, or not yours to see.")
		return
	}
	q.page(p.Status, name, title, current, data, p)
}

func (c *Console) call(q *req) {
	d, err := c.sessionDoc(q)
	if err != nil {
		q.apiFailed("message", "Call", "calls", messageView{Heading: "Call"}, err)
		return
	}
	v := callView{Doc: d, Start: fmtTime(d.SessionStartTime.Time), End: fmtTime(d.SessionEndTime.Time),
		Duration: fmtDuration(d.ChannelData.Duration), StatusCode: statusCodeLabel(d.ChannelData.StatusCode)}
	if d.ChannelData.AudioURL != "" {
		link := url.Values{"start": {d.SessionStartTime.UTC().Format("2006-01-02")}}
		if q.p.Scope != rbac.ScopeAccount {
			link.Set("account", d.AccountID)
		}
		base := c.prefix + "calls/" + url.PathEscape(d.ID) + "/recording?"
		v.AudioHref = base + link.Encode()
		link.Set("download", "1")
		v.DownloadHref = base + link.Encode()
		v.DownloadName = path.Base(d.ChannelData.AudioURL)
		v.AudioType = audioType(v.DownloadName)
	}
	var all map[string]any
	_ = json.Unmarshal(d.Raw, &all)
	// Participants and call attached data, under the names issue 17's
	// document proposes; every field is listed below anyway.
	for _, name := range []string{"participants"} {
		if list, ok := all[name].([]any); ok {
			cols := map[string]bool{}
			for _, it := range list {
				row := map[string]string{}
				if m, ok := it.(map[string]any); ok {
					for k, x := range m {
						row[k] = scalar(x)
						cols[k] = true
					}
				}
				v.Participants = append(v.Participants, row)
			}
			for k := range cols {
				v.PartCols = append(v.PartCols, k)
			}
			sort.Strings(v.PartCols)
		}
	}
	for _, name := range []string{"call_attached_data", "cad"} {
		if m, ok := all[name].(map[string]any); ok {
			v.CAD = flatten("", m, nil)
		}
	}
	v.Fields = flatten("", all, nil)
	q.page(http.StatusOK, "call", "Call "+d.ID, "calls", v, nil)
}

// flatten lists a JSON object's leaves by dotted path, sorted.
func flatten(prefix string, m map[string]any, out []kv) []kv {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		switch x := m[k].(type) {
		case map[string]any:
			out = flatten(p, x, out)
		case []any:
			for i, it := range x {
				ip := p + "[" + strconv.Itoa(i) + "]"
				if sub, ok := it.(map[string]any); ok {
					out = flatten(ip, sub, out)
				} else {
					out = append(out, kv{ip, scalar(it)})
				}
			}
		default:
			out = append(out, kv{p, scalar(x)})
		}
	}
	return out
}

func scalar(x any) string {
	switch v := x.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	b, _ := json.Marshal(x)
	return string(b)
}

// recordingFile serves the recording of a session the member may read.
func (c *Console) recordingFile(q *req) {
	d, err := c.sessionDoc(q)
	if err != nil {
		var ie *insights.APIError
		status := http.StatusNotFound
		if errors.As(err, &ie) && ie.StatusCode >= 500 {
			status = http.StatusServiceUnavailable
		}
		http.Error(q.w, "No such recording, or it is not yours to hear.", status)
		return
	}
	if q.r.URL.Query().Get("download") != "" && d.ChannelData.AudioURL != "" {
		q.w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(d.ChannelData.AudioURL)}))
	}
	// A recording stays in no cache (a shared computer keeps nothing after
	// sign-out); the player fetches the ranges it seeks to.
	q.w.Header().Set("Cache-Control", "no-store")
	c.playback.ServeRecording(q.w, q.r.WithContext(q.ctx), d)
}
