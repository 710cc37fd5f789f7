package insightstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/insights"
)

// testClauseLimits runs, on every driver, queries at the limits validation
// allows: insights.MaxClauses clauses in should alone (with and without a
// must clause), in must, in must_not, spread over the three lists, and as
// match clauses of many tokens each. Every query that validates must run
// (an index may not answer 500 where validation said yes) and give what
// insights.Evaluate gives.
func testClauseLimits(t *testing.T, open Opener) {
	rng := rand.New(rand.NewPCG(1024, 500))
	sessions := RandomSessions(rng, 250)
	idx := insights.NewIndex(open(t))
	t.Cleanup(func() { _ = idx.Close() })
	ctx := context.Background()
	if err := idx.Put(ctx, sessions...); err != nil {
		t.Fatal(err)
	}
	const n = insights.MaxClauses
	// terms returns n term clauses, a few of which hit (request_ids "0" to
	// "5" and sources "+15550" to "+15554" exist), on several fields.
	terms := func(n int) []insights.Clause {
		out := make([]insights.Clause, n)
		for i := range out {
			switch i % 4 {
			case 0:
				out[i] = insights.Term("request_ids", i%9) // a number against strings
			case 1:
				out[i] = insights.Term("source", fmt.Sprintf("+1555%d", i%7))
			case 2:
				out[i] = insights.Term("id", fmt.Sprintf("r-%04d", i%500))
			default:
				out[i] = insights.Term("channel_data.duration", (i%6)*1000)
			}
		}
		return out
	}
	words := words()
	sentence := func(i, n int) string {
		var b strings.Builder
		for j := range n {
			b.WriteString(words[(i+j)%len(words)])
			b.WriteByte(' ')
		}
		return b.String()
	}
	matches := make([]insights.Clause, n)
	for i := range matches {
		matches[i] = insights.Match("transcription.client", sentence(i, 3)+fmt.Sprintf("w%d", i))
	}
	third := n / 3
	for _, tc := range []struct {
		name   string
		filter insights.Filter
		sort   []insights.SortField
	}{
		{"should", insights.Filter{Should: terms(n)}, nil},
		{"should by score", insights.Filter{Should: terms(n)}, []insights.SortField{{Field: "_score", Desc: true}}},
		{"must and should", insights.Filter{Must: []insights.Clause{insights.Term("status", "ended")}, Should: terms(n - 1)}, nil},
		{"must, two kinds", insights.Filter{Must: append(repeat(insights.Term("status", "ended"), n/2),
			repeat(insights.Match("transcription.client", "hello thanks"), n/2)...)}, nil},
		{"must, every clause the same", insights.Filter{Must: repeat(insights.Term("status", "ended"), n)}, nil},
		{"must_not", insights.Filter{MustNot: terms(n)}, nil},
		{"must_not, none hits", insights.Filter{MustNot: repeat(insights.Term("status", "nope"), n)}, nil},
		{"a third each", insights.Filter{Must: repeat(insights.Term("status", "ended"), third), MustNot: terms(third)[1:], Should: terms(n - 2*third + 1)}, nil},
		{"should match, many tokens each", insights.Filter{Should: matches}, []insights.SortField{{Field: "_score", Desc: true}}},
		{"must match, many tokens each", insights.Filter{Must: matches}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := len(tc.filter.Must) + len(tc.filter.MustNot) + len(tc.filter.Should); c != n {
				t.Fatalf("the case has %d clauses, want %d", c, n)
			}
			q := &insights.Query{From: insights.Day(2021, 3, 1), To: insights.Day(2021, 3, 12), PageSize: 50, Filter: tc.filter, Sort: tc.sort}
			// Through the URL form, as the Insights API receives it.
			q, err := insights.ParseURLQuery(q.Encode())
			if err != nil {
				t.Fatalf("the query does not validate: %v", err)
			}
			for _, account := range []string{"", "acct-r1"} {
				got, err := idx.Search(ctx, account, q)
				if err != nil {
					t.Fatalf("a query that validates failed (account %q): %v", account, err)
				}
				want, err := insights.Evaluate(sessions, account, q)
				if err != nil {
					t.Fatal(err)
				}
				if !sameResult(got, want) {
					t.Fatalf("account %q: got total %d %v\nwant total %d %v", account,
						got.Total, values(t, got.Hits, "id"), want.Total, values(t, want.Hits, "id"))
				}
			}
		})
	}
}

func repeat(c insights.Clause, n int) []insights.Clause {
	out := make([]insights.Clause, n)
	for i := range out {
		out[i] = c
	}
	return out
}
