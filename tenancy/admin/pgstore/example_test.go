package pgstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/pgstore"
	tenancypg "github.com/voicegw/voicegw/tenancy/pgstore"
)

// The admin API's own data beside the accounts, on one pool and one sealing
// key. (Needs a PostgreSQL server: compiled, not run.)
func ExampleNewStore() {
	ctx := context.Background()
	pool, err := tenancypg.OpenPool(ctx, "") // PGHOST, PGDATABASE, PGUSER, PGPASSWORD, …
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	key, err := tenancy.LoadSealingKey("/etc/voicegw/sealing.key")
	if err != nil {
		log.Fatal(err)
	}
	s, err := pgstore.NewStore(ctx, pool, &pgstore.Options{SealingKey: key})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	c, err := s.PutSMTP(ctx, "", &admin.SMTPConfig{SMTPSettings: tenancy.SMTPSettings{Host: "smtp.example.com", MailFrom: "noreply@example.com"}})
	fmt.Println(c.Revision, err)
}
