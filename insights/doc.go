// Package insights is the queryable record of every session: the session
// document, a session query builder (date range, paging, sort, projection and
// a bool filter of term and match clauses) with encoders to the Insights URL
// query and to an Elasticsearch/OpenSearch request body, session indexes over
// a driver interface (in memory, or SQLite), and the Insights HTTP API with
// its Go client.
package insights
