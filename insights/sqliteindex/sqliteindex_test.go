package sqliteindex_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/sqliteindex"
)

func TestConformance(t *testing.T) {
	insightstest.RunConformanceTests(t, func(t *testing.T) driver.Driver {
		d, err := sqliteindex.NewDriver(context.Background(), filepath.Join(t.TempDir(), "insights.db"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestConformanceInMemory(t *testing.T) {
	insightstest.RunConformanceTests(t, func(t *testing.T) driver.Driver {
		d, err := sqliteindex.NewDriver(context.Background(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
