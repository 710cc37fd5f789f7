package insights

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/rbac"
)

// MaxUsageAccounts bounds the accounts of one usage report (a report over
// more accounts is refused: name one account, or shorten the range).
const MaxUsageAccounts = 1000

// usagePath is the path of the usage report in the HTTP API.
const usagePath = "/insights/usage"

// DailyUsage is what one account used on one day (seed 002's Usage entity).
type DailyUsage struct {
	// AccountID is the account.
	AccountID string `json:"account_id"`
	// Date is the UTC day, 2006-01-02.
	Date string `json:"date"`
	// Sessions counts the sessions that started that day, in progress or
	// ended.
	Sessions int `json:"sessions"`
	// Minutes is the billed minutes: each session's channel_data.duration
	// rounded up to a whole minute, then summed (a 61-second call bills 2
	// minutes; the rule of tenancy.BilledMinutes, so a report agrees with
	// the minutes quota). A session in progress has no duration yet: 0.
	Minutes int64 `json:"minutes"`
	// Seconds is the same with each session rounded up to a whole second.
	Seconds int64 `json:"seconds"`
}

// UsageReport is the usage of accounts per day over a range: the answer of
// GET /insights/usage.
type UsageReport struct {
	// From and To are the range, as asked.
	From Bound `json:"from_date"`
	To   Bound `json:"to_date"`
	// Days holds one entry per account and day with sessions, ordered by
	// account, then day. Days without sessions are left out.
	Days []DailyUsage `json:"usage"`
}

// usageAggs counts sessions, billed minutes and billed seconds per account
// per UTC day.
func usageAggs() []driver.Agg {
	day := driver.Interval{Width: int64(24 * time.Hour / time.Microsecond)}
	return []driver.Agg{{Kind: driver.AggTerms, Path: "account_id", Size: MaxUsageAccounts, Subs: []driver.Agg{{
		Kind: driver.AggDateHistogram, Path: TimeField, Interval: day,
		Subs: []driver.Agg{
			{Kind: driver.AggSum, Path: "channel_data.duration", RoundUp: 60000},
			{Kind: driver.AggSum, Path: "channel_data.duration", RoundUp: 1000},
		},
	}}}}
}

// Usage returns the minutes and sessions of the account (every account when
// accountID is empty) per UTC day, for the sessions that started between
// from and to (the rules of a query's from_date and to_date: both required,
// at most MaxRange apart). It runs as an aggregation through the driver:
// terms of account_id, a daily histogram, and sums of the durations rounded
// up per session. More than MaxUsageAccounts accounts is an error wrapping
// ErrInvalidAggregation.
func (x *Index) Usage(ctx context.Context, accountID string, from, to Bound) (*UsageReport, error) {
	if x.closed.Load() {
		return nil, ErrClosed
	}
	cq, err := Compile(accountID, &Query{From: from, To: to})
	if err != nil {
		return nil, err
	}
	cq.Aggs = usageAggs()
	res, err := x.drv.Aggregate(ctx, cq)
	if err != nil {
		return nil, fmt.Errorf("insights: usage: %w", err)
	}
	if len(res.Aggs) != 1 {
		return nil, fmt.Errorf("insights: usage: the index returned %d aggregation results for 1", len(res.Aggs))
	}
	accounts := res.Aggs[0]
	if accounts.Other > 0 {
		return nil, invalid(ErrInvalidAggregation, fmt.Sprintf("insights: usage: more than %d accounts have sessions between %s and %s; name one account or shorten the range", MaxUsageAccounts, from, to))
	}
	rep := &UsageReport{From: from, To: to, Days: []DailyUsage{}}
	for _, acc := range accounts.Buckets {
		if len(acc.Subs) != 1 {
			return nil, errors.New("insights: usage: the index returned a malformed result")
		}
		for _, day := range acc.Subs[0].Buckets {
			if len(day.Subs) != 2 {
				return nil, errors.New("insights: usage: the index returned a malformed result")
			}
			rep.Days = append(rep.Days, DailyUsage{
				AccountID: acc.Key.Text,
				Date:      time.UnixMicro(day.Slot * int64(24*time.Hour/time.Microsecond)).UTC().Format("2006-01-02"),
				Sessions:  day.DocCount,
				Minutes:   int64(day.Subs[0].Sum),
				Seconds:   int64(day.Subs[1].Sum),
			})
		}
	}
	slices.SortFunc(rep.Days, func(a, b DailyUsage) int {
		return cmp.Or(strings.Compare(a.AccountID, b.AccountID), strings.Compare(a.Date, b.Date))
	})
	return rep, nil
}

// serveUsage answers GET /insights/usage?from_date=…&to_date=….
func (h *handler) serveUsage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", http.MethodGet)
		h.fail(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here", nil)
		return
	}
	t, ok := h.authorize(w, r, rbac.EntityUsage, rbac.ActionRead, true)
	if !ok {
		return
	}
	from, to, err := usageRange(r.URL.RawQuery)
	if err != nil {
		h.error(w, r, err)
		return
	}
	ctx := r.Context()
	provider := t.Account == "" && t.ServiceProvider != ""
	if provider && h.accounts == nil {
		h.fail(w, r, http.StatusForbidden, "this server does not accept service provider API keys",
			fmt.Errorf("%w: no AccountResolver configured", ErrForbidden))
		return
	}
	rep, err := h.idx.Usage(ctx, t.Account, from, to)
	if err != nil {
		h.error(w, r, err)
		return
	}
	if provider {
		// Keep the accounts of the key's service provider.
		mine := map[string]bool{}
		days := rep.Days[:0]
		for _, d := range rep.Days {
			in, seen := mine[d.AccountID]
			if !seen {
				sp, err := h.accounts.ServiceProvider(ctx, d.AccountID)
				if err != nil && !errors.Is(err, ErrNotFound) {
					h.unavailable(w, r, "the account store is unavailable, retry later", err)
					return
				}
				in = err == nil && sp == t.ServiceProvider
				mine[d.AccountID] = in
			}
			if in {
				days = append(days, d)
			}
		}
		rep.Days = days
	}
	h.json(w, rep)
}

// usageRange reads from_date and to_date, the only parameters of the usage
// report.
func usageRange(raw string) (Bound, Bound, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return Bound{}, Bound{}, invalid(ErrInvalidQuery, fmt.Sprintf("insights: malformed URL query: %v", err))
	}
	for k, vs := range v {
		if k != ParamFromDate && k != ParamToDate {
			return Bound{}, Bound{}, invalid(ErrInvalidQuery, fmt.Sprintf("insights: unknown parameter %q (usage takes from_date and to_date)", k))
		}
		if len(vs) > 1 {
			return Bound{}, Bound{}, invalid(ErrInvalidQuery, fmt.Sprintf("insights: parameter %q given %d times", k, len(vs)))
		}
	}
	var from, to Bound
	if s := v.Get(ParamFromDate); s != "" {
		if from, err = ParseBound(s); err != nil {
			return Bound{}, Bound{}, invalid(ErrInvalidTime, "insights: from_date: "+strings.TrimPrefix(err.Error(), "insights: "))
		}
	}
	if s := v.Get(ParamToDate); s != "" {
		if to, err = ParseBound(s); err != nil {
			return Bound{}, Bound{}, invalid(ErrInvalidTime, "insights: to_date: "+strings.TrimPrefix(err.Error(), "insights: "))
		}
	}
	return from, to, (&Query{From: from, To: to}).Validate()
}

// Usage returns the usage report of the client's account (Account, or the
// key's own) per day between from and to; a service provider's key without
// Account gets every account of its provider, an administrator's every
// account. The key needs Usage Read (403, ErrForbidden, otherwise).
func (c *Client) Usage(ctx context.Context, from, to Bound) (*UsageReport, error) {
	if err := (&Query{From: from, To: to}).Validate(); err != nil {
		return nil, err
	}
	v := url.Values{ParamFromDate: {from.String()}, ParamToDate: {to.String()}}
	var rep UsageReport
	if err := c.do(ctx, http.MethodGet, usagePath, v.Encode(), &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
