package sqlitestore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// Accounts in a database file: the secrets are sealed with the key kept in
// the file beside it (mode 0600, made on first use), and SIP passwords are
// kept only as digests of the account's realm.
func ExampleOpenStore() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tenancy-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "state.db")
	s, err := sqlitestore.OpenStore(ctx, path, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	acct, err := s.CreateAccount(ctx, &tenancy.Account{Name: "Acme", SIPRealm: "sip.acme.example",
		SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "pbx", Password: "pbx-secret-password"}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = s.Close()
	raw, _ := os.ReadFile(path)
	fi, _ := os.Stat(path + ".key")
	fmt.Println(bytes.Contains(raw, []byte(acct.WebhookSecret.Reveal())), bytes.Contains(raw, []byte("pbx-secret-password")), fi.Mode().Perm())

	// Another key cannot open them.
	_, err = sqlitestore.OpenStore(ctx, path, &sqlitestore.Options{SealingKey: tenancy.NewRandomSealingKey()})
	fmt.Println(errors.Is(err, tenancy.ErrWrongSealingKey))

	s, _ = sqlitestore.OpenStore(ctx, path, nil)
	defer s.Close()
	got, _ := s.Account(ctx, acct.SID)
	fmt.Println(got.WebhookSecret.Equal(acct.WebhookSecret), got.SIP.Users[0].HA1.Equal(tenancy.NewDigestHA1("pbx", "sip.acme.example", "pbx-secret-password")))
	// Output:
	// false false -rw-------
	// true
	// true true
}
