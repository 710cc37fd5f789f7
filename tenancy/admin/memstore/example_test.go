package memstore_test

import (
	"context"
	"fmt"

	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/memstore"
)

func ExampleNewStore() {
	ctx := context.Background()
	s := memstore.NewStore(nil)
	defer s.Close()
	p, _ := s.CreateProvider(ctx, &admin.ServiceProvider{ID: "acme-sp", Name: "Acme"})
	_ = s.Append(ctx, &admin.AuditRecord{Actor: "key:1", Action: "service_provider.create", Resource: admin.ResourceServiceProvider, ResourceID: p.ID, ServiceProvider: p.ID})
	recs, _ := s.Audit(ctx, admin.AuditQuery{ServiceProvider: "acme-sp"})
	fmt.Println(p.Revision, len(recs), recs[0].Action)
	// Output: 1 1 service_provider.create
}
