package pgstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/pgstore"
	"github.com/voicegw/voicegw/rbac/secret"
)

// BenchmarkKeyLookup measures KeyStore.VerifyKey of a valid key among 1,000
// (the check of every Insights API request; one indexed lookup by hash) on
// PostgreSQL: VOICEGW_BENCH_PG, or a fresh database of the test server.
func BenchmarkKeyLookup(b *testing.B) {
	ctx := context.Background()
	dsn := os.Getenv("VOICEGW_BENCH_PG")
	if dsn == "" {
		dsn = newDSN(b)
	}
	s, err := pgstore.NewKeyStore(ctx, newPool(b, dsn), nil)
	if err != nil {
		b.Fatal(err)
	}
	owner := rbac.NewAPIKey{ServiceType: "insights", CreatorEmail: "ann@example.com"}
	var secret secret.String
	run := rand.Text()[:8] // distinct names per run on a shared server
	for i := range 1000 {
		nk := owner
		nk.Name, nk.Account = fmt.Sprintf("k%d-%s", i, run), fmt.Sprint("acct-", i%50)
		ck, err := s.Create(ctx, nk, nil)
		if err != nil {
			b.Fatal(err)
		}
		if i == 500 {
			secret = ck.Secret
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.VerifyKey(ctx, secret); err != nil {
			b.Fatal(err)
		}
	}
}
