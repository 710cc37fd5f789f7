package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/sqlitestore"
)

func Example() {
	ctx := context.Background()
	// A file path in production (OpenDB, then NewStore, NewLimiter and
	// rbac's stores on the same database); ":memory:" is a private
	// in-memory database.
	db, err := sqlitestore.OpenDB(ctx, ":memory:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	s, err := sqlitestore.NewStore(ctx, db, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	acct, err := s.CreateAccount(ctx, &tenancy.Account{Name: "Acme", SIPRealm: "sip.acme.example", LicensedSessions: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	found, _ := s.AccountByRealm(ctx, "sip.acme.example")
	fmt.Println(found.Name, found.SessionLimit())

	// Two gateway instances share one session count through the same
	// database (the same file, in production). Each instance runs
	// gw.Run(ctx) in a goroutine to renew its leases.
	gw1, err := sqlitestore.NewLimiter(ctx, db, &sqlitestore.LimiterOptions{Holder: "gw1", TTL: time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	gw2, _ := sqlitestore.NewLimiter(ctx, db, &sqlitestore.LimiterOptions{Holder: "gw2", TTL: time.Minute})

	fmt.Println(gw1.Acquire(ctx, acct.SID, "call-1", acct.SessionLimit()))
	fmt.Println(gw2.Acquire(ctx, acct.SID, "call-2", acct.SessionLimit()))
	err = gw1.Acquire(ctx, acct.SID, "call-3", acct.SessionLimit())
	code, reason := tenancy.SIPStatus(err)
	fmt.Println(errors.Is(err, tenancy.ErrLimitReached), code, reason)

	_ = gw2.Release(ctx, acct.SID, "call-2")
	n, _ := gw1.InUse(ctx, acct.SID)
	fmt.Println(n, gw1.Acquire(ctx, acct.SID, "call-3", acct.SessionLimit()))
	// Output:
	// Acme 2
	// <nil>
	// <nil>
	// true 486 Busy Here
	// 1 <nil>
}
