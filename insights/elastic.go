package insights

import (
	"encoding/json"
)

// ElasticsearchRequest encodes q as an Elasticsearch/OpenSearch _search
// request body, so the same query runs on your own cluster:
//
//	{"from": page*size, "size": size,
//	 "query": {"bool": {
//	   "filter": [{"range": {"session_start_time": {"gte": from, "lte": to}}},
//	              {"term": {"account_id": account}}],
//	   "must": [...], "must_not": [...], "should": [...],
//	   "minimum_should_match": 1}},
//	 "sort": [{"field": {"order": "desc"}}, ...],
//	 "_source": {"includes": [...]}}
//
// Dates are written as given: Elasticsearch reads an lte date such as
// "2020-09-17" as the end of that day, as this package does. The range and
// account go to filter (no scoring); because a filter clause would make
// should optional, minimum_should_match is set to 1 when there are should
// clauses and no must clause, keeping seed 004's semantics. The account
// term is left out when accountID is empty. Field names are used as they
// are: term clauses expect keyword fields and match clauses text fields (with
// a dynamic mapping, term on text fields needs their .keyword sub-field).
// No tiebreak is added to the sort, since it depends on the mapping.
//
// Aggregations go to "aggs" as they are (they are already in
// Elasticsearch's shape: terms on keyword fields, date_histogram with
// calendar_interval and time_zone on session_start_time, which must be
// mapped as a date); with NoHits, "size" is 0. Elasticsearch's terms counts
// are per shard and its percentiles approximate (TDigest), where this
// package's indexes are exact.
func (q *Query) ElasticsearchRequest(accountID string) ([]byte, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	type obj = map[string]any
	rng := obj{"gte": q.From.String(), "lte": q.To.String()}
	filter := []any{obj{"range": obj{"session_start_time": rng}}}
	if accountID != "" {
		filter = append(filter, obj{"term": obj{"account_id": accountID}})
	}
	boolQ := obj{"filter": filter}
	for _, l := range []struct {
		key string
		cs  []Clause
	}{{"must", q.Filter.Must}, {"must_not", q.Filter.MustNot}, {"should", q.Filter.Should}} {
		if len(l.cs) > 0 {
			boolQ[l.key] = l.cs // Clause marshals to {"term": {...}} / {"match": {...}}
		}
	}
	if len(q.Filter.Should) > 0 && len(q.Filter.Must) == 0 {
		boolQ["minimum_should_match"] = 1
	}
	body := obj{
		"from":  q.PageNumber * q.pageSize(),
		"size":  q.pageSize(),
		"query": obj{"bool": boolQ},
	}
	if len(q.Sort) > 0 {
		sort := make([]any, len(q.Sort))
		for i, s := range q.Sort {
			order := "asc"
			if s.Desc {
				order = "desc"
			}
			sort[i] = obj{s.Field: obj{"order": order}}
		}
		body["sort"] = sort
	}
	if len(q.Fields) > 0 {
		body["_source"] = obj{"includes": q.Fields}
	}
	if q.NoHits {
		body["from"], body["size"] = 0, 0
		delete(body, "sort")
		delete(body, "_source")
	}
	if len(q.Aggs) > 0 {
		body["aggs"] = q.Aggs // marshals in Elasticsearch's request shape
	}
	return json.Marshal(body)
}
