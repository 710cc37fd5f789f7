package sqliteindex

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/insightstest"
)

func TestPlan(t *testing.T) {
	path := os.Getenv("PLAN_DB")
	if path == "" {
		t.Skip()
	}
	ctx := context.Background()
	d, err := NewDriver(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db := d.db
	rows, _ := db.Query(`SELECT tbl, idx, stat FROM sqlite_stat1`)
	for rows.Next() {
		var a, b, c *string
		rows.Scan(&a, &b, &c)
		if a != nil && b != nil && c != nil {
			fmt.Println("stat", *a, *b, *c)
		}
	}
	rows.Close()
	for _, nq := range insightstest.BenchmarkQueries() {
		cq, _ := insights.Compile(nq.Account, nq.Query)
		conn, _ := d.conn(ctx)
		src, _ := d.source(ctx, conn, cq)
		conn.Close()
		fmt.Println("source", src)
		var b sqlBuilder
		from := b.from(d, cq, src)
		where := b.where(d, cq, src)
		nw := len(b.args)
		order := b.order(d, cq)
		q := `SELECT s.doc FROM ` + from + ` WHERE ` + where + ` ORDER BY ` + order + ` LIMIT 10`
		fmt.Println(q)
		r, err := db.Query("EXPLAIN QUERY PLAN "+q, b.args...)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var id, parent, nu int
			var detail string
			r.Scan(&id, &parent, &nu, &detail)
			fmt.Println("  ", id, parent, detail)
		}
		r.Close()
		r, _ = db.Query("EXPLAIN QUERY PLAN SELECT count(*) FROM "+from+" WHERE "+where, b.args[:nw]...)
		for r.Next() {
			var id, parent, nu int
			var detail string
			r.Scan(&id, &parent, &nu, &detail)
			fmt.Println("  C", id, parent, detail)
		}
		r.Close()
		t0 := time.Now()
		var n int
		db.QueryRow(`SELECT count(*) FROM `+from+` WHERE `+where, b.args[:nw]...).Scan(&n)
		fmt.Println("count", n, time.Since(t0))
		t0 = time.Now()
		r, _ = db.Query(q, b.args...)
		for r.Next() {
		}
		r.Close()
		fmt.Println("page", time.Since(t0))
	}
}
