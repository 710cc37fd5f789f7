package pgindex

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/insights"
)

// SearchSQL returns the statement and arguments Search runs for q, for the
// benchmarks' EXPLAIN.
func SearchSQL(ctx context.Context, pool *pgxpool.Pool, account string, q *insights.Query) (string, []any, error) {
	d, err := NewDriver(ctx, pool)
	if err != nil {
		return "", nil, err
	}
	cq, err := insights.Compile(account, q)
	if err != nil {
		return "", nil, err
	}
	return d.searchSQL(ctx, cq)
}
