package memstore_test

import (
	"testing"

	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/memstore"
	"github.com/voicegw/voicegw/tenancy/admin/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunConformanceTests(t, func(*testing.T) admin.Driver { return memstore.NewDriver() })
}
