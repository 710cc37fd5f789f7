package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/pgstore"
)

// A gateway on PostgreSQL: the accounts, the licensed-session leases and
// the change feed on one pool. Every gateway of the deployment runs the
// same code against the same database, with the same sealing key. (The
// examples of this package need a PostgreSQL server: they are compiled, not
// run; the tests run the same calls against one.)
func Example() {
	ctx := context.Background()
	// "" takes the PG* environment variables; or a URL such as
	// postgres://voicegw:PASSWORD@db.internal:5432/voicegw?sslmode=verify-full
	pool, err := pgstore.OpenPool(ctx, os.Getenv("VOICEGW_DATABASE"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	key, err := tenancy.LoadSealingKey("/etc/voicegw/sealing.key") // the same file on every gateway
	if err != nil {
		log.Fatal(err)
	}
	tenants, err := pgstore.NewStore(ctx, pool, &pgstore.Options{SealingKey: key})
	if err != nil {
		log.Fatal(err)
	}
	defer tenants.Close()

	limiter, err := pgstore.NewLimiter(ctx, pool, &pgstore.LimiterOptions{Holder: "gw-eu-1"})
	if err != nil {
		log.Fatal(err)
	}
	go limiter.Run(ctx) // renews this gateway's leases, retries failed releases

	// Caches drop what another gateway (or the admin API) changed.
	go pgstore.Watch(ctx, pool, func(c pgstore.Change) {
		switch {
		case c.All:
			fmt.Println("drop every cached tenant")
		case c.Resource == pgstore.ResourceAccount:
			fmt.Println("drop account", c.ID, "and realms", c.Realms)
		}
	}, nil)

	acct, err := tenants.AccountByRealm(ctx, "sip.acme.example")
	if err != nil {
		log.Fatal(err)
	}
	// A call starts: one lease, counted by every gateway.
	err = limiter.Acquire(ctx, acct.SID, "session-1", acct.SessionLimit())
	if errors.Is(err, tenancy.ErrLimitReached) {
		code, reason := tenancy.SIPStatus(err) // 486 Busy Here, on whichever gateway
		fmt.Println(code, reason)
		return
	}
	defer limiter.Release(ctx, acct.SID, "session-1")
}

// A key file shared by the gateways: made by the first that opens the
// database, copied to the others.
func ExampleOpenStore() {
	ctx := context.Background()
	s, err := pgstore.OpenStore(ctx, "postgres://voicegw@db.internal/voicegw", &pgstore.Options{KeyFile: "/etc/voicegw/sealing.key"})
	if errors.Is(err, tenancy.ErrWrongSealingKey) {
		log.Fatal("this gateway's key is not the one the database's secrets are sealed with: ", err)
	} else if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	a, err := s.CreateAccount(ctx, &tenancy.Account{Name: "Acme", SIPRealm: "sip.acme.example", LicensedSessions: 3})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Name, a.SessionLimit())
}

// Minutes of accounts billed by minutes, counted once per session whichever
// gateway reports it.
func ExampleNewUsageCounter() {
	ctx := context.Background()
	pool, err := pgstore.OpenPool(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	usage, err := pgstore.NewUsageCounter(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	acct := tenancy.NewSID()
	_ = usage.AddSession(ctx, acct, "session-1", 61*time.Second)
	_ = usage.AddSession(ctx, acct, "session-1", 61*time.Second) // reported again by another gateway
	u, _ := usage.Usage(ctx, acct)
	fmt.Println(u.Sessions, u.Minutes)
}
