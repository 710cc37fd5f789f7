package sqlitestore_test

import (
	"context"
	"fmt"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/sqlitestore"
)

func ExampleOpenStore() {
	ctx := context.Background()
	s, err := sqlitestore.OpenStore(ctx, ":memory:", nil) // a file path in production
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	c, err := s.PutSMTP(ctx, "", &admin.SMTPConfig{SMTPSettings: tenancy.SMTPSettings{Host: "smtp.example.com", MailFrom: "noreply@example.com"}})
	fmt.Println(c.Revision, err)
	// Output: 1 <nil>
}
