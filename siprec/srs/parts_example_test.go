package srs_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/memstore"
)

// The Guard's view of the accounts: a realm's tenant is its account, with
// the account's allowlist and SIP users. A change counts at once after
// Invalidate (an admin API calls it for each change).
func ExampleTenantCache() {
	ctx := context.Background()
	tenants := memstore.NewStore(nil)
	acct, err := tenants.CreateAccount(ctx, &tenancy.Account{Name: "acme", SIPRealm: "acme.example",
		SIP: tenancy.SIPAccess{Allowlist: []string{"203.0.113.0/24"}}})
	if err != nil {
		log.Fatal(err)
	}
	cache := srs.NewTenantCache(tenants, nil) // give it to sip.GuardConfig.Tenants
	t, _ := cache.LookupTenant(ctx, "acme.example")
	fmt.Println(t.ID == string(acct.SID), t.Allowlist.Allows(netip.MustParseAddr("203.0.113.9")))

	acct.SIP.Allowlist = []string{"198.51.100.0/24"}
	if _, err := tenants.UpdateAccount(ctx, acct); err != nil {
		log.Fatal(err)
	}
	cache.Invalidate(acct.SID)
	t, _ = cache.LookupTenant(ctx, "acme.example")
	fmt.Println(t.Allowlist.Allows(netip.MustParseAddr("203.0.113.9")))

	_, err = cache.LookupTenant(ctx, "nobody.example")
	fmt.Println(errors.Is(err, sip.ErrUnknownTenant))
	// Output:
	// true true
	// false
	// true
}

// A peer naming realm after random realm costs store reads only within the
// cache's budget: past it, a realm never seen is declined (the Guard
// answers 503 with Retry-After) and counted, while the accounts' realms
// read before are still served.
func ExampleTenantCache_LookupsDeclined() {
	ctx := context.Background()
	tenants := memstore.NewStore(nil)
	if _, err := tenants.CreateAccount(ctx, &tenancy.Account{Name: "acme", SIPRealm: "acme.example"}); err != nil {
		log.Fatal(err)
	}
	cache := srs.NewTenantCache(tenants, &srs.TenantCacheOptions{LookupRate: 2})
	_, err := cache.LookupTenant(ctx, "acme.example") // one read of two
	fmt.Println(err)
	for i := range 4 {
		_, err := cache.LookupTenant(ctx, fmt.Sprintf("probe-%d.example", i))
		fmt.Println(errors.Is(err, sip.ErrUnknownTenant), errors.Is(err, sip.ErrTenantBusy))
	}
	_, err = cache.LookupTenant(ctx, "acme.example")
	fmt.Println(err, cache.LookupsDeclined())
	// Output:
	// <nil>
	// true false
	// false true
	// false true
	// false true
	// <nil> 3
}

// The Insights API asks which service provider an account belongs to, so
// that a provider's key reaches its accounts only: the cache answers.
func ExampleTenantCache_ServiceProvider() {
	ctx := context.Background()
	tenants := memstore.NewStore(nil)
	acct, err := tenants.CreateAccount(ctx, &tenancy.Account{Name: "acme", ServiceProvider: "sp-1"})
	if err != nil {
		log.Fatal(err)
	}
	var resolver insights.AccountResolver = srs.NewTenantCache(tenants, nil) // insights.HandlerConfig.Accounts
	sp, _ := resolver.ServiceProvider(ctx, string(acct.SID))
	fmt.Println(sp)
	_, err = resolver.ServiceProvider(ctx, string(tenancy.NewSID()))
	fmt.Println(errors.Is(err, insights.ErrNotFound))
	// Output:
	// sp-1
	// true
}

// The crash journal on SQLite: a session is saved when it starts and when it
// ends, and deleted once its document is stored; what a crash leaves is
// Pending at the next start.
func ExampleOpenSQLiteJournal() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "srs-example-")
	defer os.RemoveAll(dir)
	journal, err := srs.OpenSQLiteJournal(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer journal.Close()
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	_ = journal.Save(ctx, &srs.Entry{SessionID: "s1", Account: "AC1", Application: "-", Format: "wav", Start: start})
	_ = journal.Save(ctx, &srs.Entry{SessionID: "s2", Account: "AC1", Application: "-", Format: "wav", Start: start.Add(time.Minute)})
	_ = journal.Delete(ctx, "s1") // its document is stored

	pending, _ := journal.Pending(ctx) // what a restart completes
	for _, e := range pending {
		fmt.Println(e.SessionID, e.Start.Format(time.TimeOnly), e.End.IsZero())
	}
	// Output:
	// s2 10:01:00 true
}
