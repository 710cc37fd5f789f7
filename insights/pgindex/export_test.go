package pgindex

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/internal/pgdb"
)

// SearchSQL returns the statement and arguments Search runs for q, for the
// benchmarks' EXPLAIN; facets: as NewIndexReadingFacets's Search.
func SearchSQL(ctx context.Context, pool *pgxpool.Pool, account string, q *insights.Query, facets bool) (string, []any, error) {
	d, err := NewDriver(ctx, pool)
	if err != nil {
		return "", nil, err
	}
	d.noDims = facets
	cq, err := insights.Compile(account, q)
	if err != nil {
		return "", nil, err
	}
	return d.searchSQL(ctx, cq)
}

// NewIndexReadingFacets returns an index over pool whose aggregations and
// sorts read every path from the facets (and a sort on a path that is no
// ID field from the keys), ignoring the dimension columns: the SQL of
// schema version 1, for the benchmarks' comparison.
func NewIndexReadingFacets(ctx context.Context, pool *pgxpool.Pool) (*insights.Index, error) {
	d, err := NewDriver(ctx, pool)
	if err != nil {
		return nil, err
	}
	d.noDims = true
	return insights.NewIndex(d), nil
}

// MigrateTo applies the first n steps of the schema only.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, n int) error {
	return pgdb.Migrate(ctx, pool, SchemaName, schema[:n])
}
