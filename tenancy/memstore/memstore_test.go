package memstore_test

import (
	"testing"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/memstore"
	"github.com/voicegw/voicegw/tenancy/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) tenancy.Driver { return memstore.NewDriver() })
}
