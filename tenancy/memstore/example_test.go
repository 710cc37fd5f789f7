package memstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/memstore"
)

func ExampleNewStore() {
	ctx := context.Background()
	s := memstore.NewStore(nil)
	defer s.Close()

	acct, err := s.CreateAccount(ctx, &tenancy.Account{
		Name:      "Acme",
		SIPRealm:  "sip.acme.example",
		Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatMP3, BucketURL: "mem://"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	sales, err := s.CreateApplication(ctx, &tenancy.Application{Account: acct.SID, Name: "sales", RecordAllCalls: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = s.CreateApplication(ctx, &tenancy.Application{Account: acct.SID, Name: "sales"})
	fmt.Println(errors.Is(err, tenancy.ErrExists))

	// The recording decision for a call of the application.
	d, _ := s.Decide(ctx, acct.SID, sales.SID)
	fmt.Println(d.Record, d.Format, d.Reason)

	// Deleting the account deletes its applications.
	_ = s.DeleteAccount(ctx, acct.SID)
	_, err = s.Application(ctx, sales.SID)
	fmt.Println(errors.Is(err, tenancy.ErrNotFound))
	// Output:
	// true
	// true mp3 application records all calls
	// true
}
