package memindex_test

import (
	"testing"

	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/memindex"
)

func TestConformance(t *testing.T) {
	insightstest.RunConformanceTests(t, func(t *testing.T) driver.Driver { return memindex.NewDriver() })
}
