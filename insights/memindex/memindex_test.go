package memindex_test

import (
	"context"
	"testing"

	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/memindex"
)

func TestConformance(t *testing.T) {
	insightstest.RunConformanceTests(t, func(t *testing.T) driver.Driver { return memindex.NewDriver() })
}

func TestAsAndLen(t *testing.T) {
	idx := memindex.NewIndex()
	defer idx.Close()
	if err := idx.Put(context.Background(), insightstest.Fixtures()...); err != nil {
		t.Fatal(err)
	}
	var d *memindex.Driver
	if !idx.As(&d) || d.Len() != len(insightstest.Fixtures()) {
		t.Fatalf("As/Len: %v", d)
	}
	var wrong *int
	if idx.As(&wrong) {
		t.Fatal("As accepted a foreign type")
	}
}
