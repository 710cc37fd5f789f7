package sqliteindex_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/sqliteindex"
)

func TestConformance(t *testing.T) {
	insightstest.RunConformanceTests(t, func(t *testing.T) driver.Driver {
		d, err := sqliteindex.OpenDriver(context.Background(), filepath.Join(t.TempDir(), "insights.db"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestConformanceInMemory(t *testing.T) {
	insightstest.RunConformanceTests(t, func(t *testing.T) driver.Driver {
		d, err := sqliteindex.OpenDriver(context.Background(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestDurable: sessions survive closing and reopening the database file,
// and a database opened by the caller stays open after the index closes.
func TestDurable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "durable.db")
	idx, err := sqliteindex.OpenIndex(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.Put(ctx, insightstest.Fixtures()...); err != nil {
		t.Fatal(err)
	}
	if err := idx.Delete(ctx, insightstest.Account, "s-a2", insights.Day(2020, 9, 15)); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sqliteindex.OpenDB(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	idx, err = sqliteindex.NewIndex(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	q, err := insights.ParseURLQuery(`from_date=2020-09-15&to_date=2020-09-18&filter_by={"must":[{"match":{"transcription.client":"shut"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	res, err := idx.Search(ctx, insightstest.Account, q)
	if err != nil || res.Total != 4 {
		t.Fatalf("after reopening: %v, %d hits", err, res.Total)
	}
	if _, err := idx.Get(ctx, insightstest.Account, "s-a2", insights.Day(2020, 9, 15)); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("deleted session came back: %v", err)
	}
	var got *sql.DB
	if !idx.As(&got) || got != db {
		t.Fatal("As(**sql.DB) does not give the database")
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("closing the index closed the caller's database: %v", err)
	}
}
