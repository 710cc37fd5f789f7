package memstore_test

import (
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/rbac/storetest"
)

func TestMemberConformance(t *testing.T) {
	storetest.RunMemberTests(t, func(*testing.T) rbac.MemberDriver { return memstore.NewDriver() })
}

func TestKeyConformance(t *testing.T) {
	storetest.RunKeyTests(t, func(*testing.T) rbac.KeyDriver { return memstore.NewDriver() })
}
