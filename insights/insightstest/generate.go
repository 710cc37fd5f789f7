package insightstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/voicegw/voicegw/insights"
)

// Generator makes realistic recorded-call sessions for benchmarks and load
// tests, deterministically: Session(i) depends only on the seed and i, so
// several goroutines can generate one set in parallel.
//
// The set: sessions spread evenly over 2025 (or the span of Within) in
// order of i (as a gateway writes them), 10 accounts (AC00…AC09), 100 applications (agent_id
// AP000…AP099), 100,000 callers, 95% ended, a transcription of 2–6
// utterances of 4–12 words drawn (Zipf) from a 2,000-word vocabulary in
// which "refund" is the 20th most frequent word, 0–2 collected tags, and a
// recording ID on half of them.
type Generator struct {
	seed  uint64
	n     int
	words []string
	from  time.Time
	span  time.Duration
}

// NewGenerator returns a generator of n sessions.
func NewGenerator(seed uint64, n int) *Generator {
	common := []string{"the", "i", "you", "to", "a", "my", "is", "and", "it", "for",
		"please", "order", "can", "help", "account", "call", "yes", "no", "thanks", "refund",
		"cancel", "payment", "delivery", "address", "card", "number", "problem", "agent", "wait", "today"}
	syll := []string{"ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ve", "zan", "dor", "fel", "gri", "hum", "jas"}
	words := append([]string(nil), common...)
	for i := 0; len(words) < 2000; i++ {
		words = append(words, syll[i%15]+syll[(i/15)%15]+syll[(i/225)%15])
	}
	return &Generator{seed: seed, n: n, words: words,
		from: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), span: 365 * 24 * time.Hour}
}

// Within returns a generator of the same sessions spread evenly over
// [from, from+span) instead of 2025: with a span of at most 60 days, one
// query's range holds all of them (the aggregation benchmarks).
func (g *Generator) Within(from time.Time, span time.Duration) *Generator {
	c := *g
	c.from, c.span = from.UTC(), span
	return &c
}

// Len returns the number of sessions.
func (g *Generator) Len() int { return g.n }

// Start returns the start time of session i.
func (g *Generator) Start(i int) time.Time {
	step := g.span / time.Duration(max(g.n, 1))
	return g.from.Add(time.Duration(i) * step)
}

// Session returns session i.
func (g *Generator) Session(i int) *insights.Session {
	rng := rand.New(rand.NewPCG(g.seed, uint64(i)))
	zipf := rand.NewZipf(rng, 1.1, 2, uint64(len(g.words)-1))
	start := g.Start(i).Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
	end := start.Add(time.Duration(5+rng.IntN(1200)) * time.Second)
	app := fmt.Sprintf("AP%03d", rng.IntN(100))
	account := fmt.Sprintf("AC%02d", rng.IntN(10))
	c := insights.CallRecord{
		SessionID: fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i, rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Int64N(1<<48)),
		AccountID: account, ApplicationID: app,
		Source:      fmt.Sprintf("+1555%07d", rng.IntN(100000)),
		Destination: fmt.Sprintf("+1444%07d", rng.IntN(1000)),
		Start:       start, End: end, Format: "wav",
		SIPCallID: fmt.Sprintf("%016x@pbx%d.example.com", rng.Uint64(), rng.IntN(8)),
		Language:  []string{"en-US", "en-US", "en-US", "es-ES", "fr-FR"}[rng.IntN(5)],
	}
	if rng.IntN(20) == 0 {
		c.End = time.Time{}
	}
	if rng.IntN(2) == 0 {
		c.RecordingID = fmt.Sprintf("rec-%d", i)
	}
	switch rng.IntN(50) {
	case 0:
		c.StatusCode = insights.StatusCodeError
	case 1:
		c.StatusCode = insights.StatusCodeWarning
	}
	s := insights.NewCallSession(c)
	s.AgentInformation.Name = "Application " + app
	var b strings.Builder
	for u := range 2 + rng.IntN(5) {
		b.Reset()
		for w := range 4 + rng.IntN(9) {
			if w > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(g.words[zipf.Uint64()])
		}
		speaker := "client"
		if u%2 == 0 {
			speaker = app
		}
		s.Transcription = append(s.Transcription, insights.Utterance{Speaker: speaker, Text: b.String()})
	}
	for range rng.IntN(3) {
		s.FlowData.CollectedTags = append(s.FlowData.CollectedTags, insights.Tag{Tag: fmt.Sprintf("tag-%d", rng.IntN(20)), Category: "intent"})
	}
	return s
}

// Load puts sessions [0, n) into idx in batches, generating and flattening
// them on workers goroutines (at least 1).
func (g *Generator) Load(ctx context.Context, idx *insights.Index, batch, workers int) error {
	batch, workers = max(batch, 1), max(workers, 1)
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for lo := range next {
				ss := make([]*insights.Session, 0, batch)
				for i := lo; i < min(lo+batch, g.n); i++ {
					ss = append(ss, g.Session(i))
				}
				if err := idx.Put(ctx, ss...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for lo := 0; lo < g.n; lo += batch {
		select {
		case next <- lo:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err == nil {
		err = <-errs
	}
	return err
}

// NamedQuery is a query of the benchmarks, with the account it runs in.
type NamedQuery struct {
	Name    string
	Account string
	Query   *insights.Query
}

// BenchmarkQueries are the queries the index benchmarks run on a
// Generator's sessions (the same on every driver).
func BenchmarkQueries() []NamedQuery {
	june := func(to int) (insights.Bound, insights.Bound) {
		return insights.Day(2025, 6, 1), insights.Day(2025, 6, to)
	}
	q1 := &insights.Query{PageNumber: 2, PageSize: 20,
		Sort: []insights.SortField{insights.Desc("session_start_time")},
		Filter: insights.Filter{Must: []insights.Clause{
			insights.Term("agent_id", "AP007"), insights.Match("transcription.client", "refund")}}}
	q1.From, q1.To = june(30)
	q2 := &insights.Query{PageSize: 100,
		Sort: []insights.SortField{insights.Desc("channel_data.duration")},
		Filter: insights.Filter{Must: []insights.Clause{
			insights.Term("status", "ended"), insights.Match("transcription.client", "refund")}}}
	q2.From, q2.To = june(30)
	q3 := &insights.Query{PageSize: 50,
		Sort: []insights.SortField{insights.Desc("session_start_time")},
		Filter: insights.Filter{
			MustNot: []insights.Clause{insights.Term("status", "in_progress")},
			Should:  []insights.Clause{insights.Term("agent_id", "AP001"), insights.Term("agent_id", "AP002")}}}
	q3.From, q3.To = insights.Day(2025, 5, 1), insights.Day(2025, 6, 29)
	return []NamedQuery{
		{"term+match+range+sort+page/selective", "AC03", q1},
		{"term+match+range+sort+page/broad", "AC03", q2},
		{"should+must_not+60days+sort", "AC03", q3},
	}
}

// AggregationSpan is where the aggregation benchmarks put their sessions
// (Generator.Within): the 60 days of 2025-01-01 to 2025-03-01, the longest
// range a query may have, so each query aggregates every session.
func AggregationSpan() (from time.Time, span time.Duration) {
	return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 60 * 24 * time.Hour
}

// AggregationBenchmarkQueries are the aggregation queries the index
// benchmarks run on a Generator's sessions Within AggregationSpan (the
// same on every driver), without hits: the total and the aggregations.
func AggregationBenchmarkQueries() []NamedQuery {
	q := func(aggs insights.Aggregations) *insights.Query {
		return &insights.Query{From: insights.Day(2025, 1, 1), To: insights.Day(2025, 3, 1), NoHits: true, Aggs: aggs}
	}
	perDay := insights.Aggregations{"calls_per_day": insights.DateHistogramAgg("session_start_time", insights.IntervalDay).
		Sub("by_status", insights.TermsAgg("status", 10))}
	perApp := insights.Aggregations{"per_application": insights.TermsAgg("agent_id", 100).
		Sub("avg_duration", insights.AvgAgg("channel_data.duration"))}
	return []NamedQuery{
		{"date_histogram(day)>terms(status)/every account", "", q(perDay)},
		{"date_histogram(day)>terms(status)/one account", "AC03", q(perDay)},
		{"terms(agent_id,100)>avg(duration)/every account", "", q(perApp)},
	}
}
