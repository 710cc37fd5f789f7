package insights

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/voicegw/voicegw/insights/driver"
)

// Project keeps the parts of a JSON document named by dotted paths, as
// Elasticsearch's _source includes do: a path to an object returns its
// whole subtree ("agent_information"), a path into an array of objects keeps
// that field in every element ("flow_path.type"), and paths that name
// nothing in the document are left out. The result is a JSON object.
func Project(doc []byte, paths []string) ([]byte, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("insights: project: %w", err)
	}
	split := make([][]string, len(paths))
	for i, p := range paths {
		split[i] = strings.Split(p, ".")
	}
	out, ok := project(v, split)
	if !ok {
		out = map[string]any{}
	}
	return json.Marshal(out)
}

func project(v any, paths [][]string) (any, bool) {
	for _, p := range paths {
		if len(p) == 0 {
			return v, true // a parent path: the whole subtree
		}
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			var sub [][]string
			for _, p := range paths {
				if p[0] == k {
					sub = append(sub, p[1:])
				}
			}
			if len(sub) == 0 {
				continue
			}
			if r, ok := project(val, sub); ok {
				out[k] = r
			}
		}
		return out, len(out) > 0
	case []any:
		out := []any{}
		for _, e := range x {
			if r, ok := project(e, paths); ok {
				out = append(out, r)
			}
		}
		return out, len(out) > 0
	}
	return nil, false // a scalar where the path goes deeper
}

// Evaluate runs q over sessions by a full scan, without an index: the
// reference semantics every index driver must agree with (the conformance
// suite compares drivers with it), and a simple way to query a few sessions
// held in memory. Aggregations are evaluated too, with maps and loops. accountID restricts to one account when not empty. As
// with Index.Put, a later session with the same account ID and ID replaces an
// earlier one.
func Evaluate(sessions []*Session, accountID string, q *Query) (*Result, error) {
	cq, plans, err := compile(accountID, q)
	if err != nil {
		return nil, err
	}
	type docKey struct{ account, id string }
	last := map[docKey]int{}
	for i, s := range sessions {
		if s != nil {
			last[docKey{s.AccountID, s.ID}] = i
		}
	}
	type cand struct {
		doc   driver.Document
		vals  map[string][]driver.Value
		score int
	}
	var cands []cand
	for i, s := range sessions {
		doc, err := Document(s)
		if err != nil {
			return nil, err
		}
		if last[docKey{s.AccountID, s.ID}] != i {
			continue
		}
		if cq.AccountID != "" && doc.AccountID != cq.AccountID {
			continue
		}
		if doc.Start < cq.From || doc.Start > cq.To {
			continue
		}
		terms := map[string]bool{}
		vals := map[string][]driver.Value{}
		for _, f := range doc.Terms {
			terms[f.Path+"\x00"+f.Value.Text] = true
			vals[f.Path] = append(vals[f.Path], f.Value)
		}
		tokens := map[string]bool{}
		for _, f := range doc.Tokens {
			tokens[f.Path+"\x00"+f.Value.Text] = true
		}
		matches := func(c driver.Clause) bool {
			set := terms
			if c.Kind == driver.Match {
				set = tokens
			}
			for _, v := range c.Values {
				if set[c.Path+"\x00"+v.Text] {
					return true
				}
			}
			return false
		}
		ok := true
		for _, c := range cq.Must {
			ok = ok && matches(c)
		}
		for _, c := range cq.MustNot {
			ok = ok && !matches(c)
		}
		score := 0
		for _, c := range cq.Should {
			if matches(c) {
				score++
			}
		}
		if !ok || score < cq.MinimumShouldMatch {
			continue
		}
		cands = append(cands, cand{doc: doc, vals: vals, score: score})
	}
	key := func(c *cand, k driver.SortKey) (driver.Value, bool) {
		if k.Path == driver.ScorePath {
			return NumberValue(float64(c.score)), true
		}
		return driver.Pick(c.vals[k.Path], k.Desc)
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		for _, k := range cq.Sort {
			av, aok := key(&a, k)
			bv, bok := key(&b, k)
			if c := driver.CompareKeys(av, aok, bv, bok, k.Desc); c != 0 {
				return c
			}
		}
		return 0
	})
	res := &driver.Result{Total: len(cands)}
	for i := cq.Offset; i < len(cands) && i < cq.Offset+cq.Limit && !q.NoHits; i++ {
		res.Docs = append(res.Docs, cands[i].doc.JSON)
	}
	if len(cq.Aggs) > 0 {
		docs := make([]*refDoc, len(cands))
		for i, c := range cands {
			d := &refDoc{start: c.doc.Start, vals: make(map[string][]driver.Value, len(c.vals))}
			for p, vs := range c.vals {
				seen := map[driver.Value]bool{}
				for _, v := range vs {
					if k := (driver.Value{Kind: v.Kind, Text: v.Text}); !seen[k] {
						seen[k] = true
						d.vals[p] = append(d.vals[p], v)
					}
				}
			}
			docs[i] = d
		}
		res.Aggs = refAggregate(docs, cq.Aggs)
	}
	return finish(q, plans, res)
}
