package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/sqlitestore"
)

// benchLimiter returns a Limiter over a fresh database file whose account
// holds active leases.
func benchLimiter(b *testing.B, active, limit int) (*sqlitestore.Limiter, tenancy.SID) {
	b.Helper()
	ctx := context.Background()
	db, err := sqlitestore.OpenDB(ctx, filepath.Join(b.TempDir(), "limits.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	l, err := sqlitestore.NewLimiter(ctx, db, nil)
	if err != nil {
		b.Fatal(err)
	}
	acct := tenancy.NewSID()
	for i := range active {
		if err := l.Acquire(ctx, acct, fmt.Sprintf("active-%06d", i), limit); err != nil {
			b.Fatal(err)
		}
	}
	return l, acct
}

// BenchmarkLimiterAcquire measures one session set-up and tear-down
// (Acquire + Release of one more session) on an account that already has
// active sessions in progress, unlimited (limit=0, as the capacity
// harness's account) and limited (a limit above active).
func BenchmarkLimiterAcquire(b *testing.B) {
	ctx := context.Background()
	for _, active := range []int{0, 2000} {
		for _, limit := range []int{0, 100_000} {
			b.Run(fmt.Sprintf("active=%d/limit=%d", active, limit), func(b *testing.B) {
				l, acct := benchLimiter(b, active, limit)
				b.ReportAllocs()
				for b.Loop() {
					if err := l.Acquire(ctx, acct, "call", limit); err != nil {
						b.Fatal(err)
					}
					if err := l.Release(ctx, acct, "call"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkLimiterRenew measures one periodic renewal (every TTL/3) of the
// leases of held sessions; ns/op divided by held is the cost per lease.
func BenchmarkLimiterRenew(b *testing.B) {
	ctx := context.Background()
	for _, held := range []int{2000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			l, _ := benchLimiter(b, held, 0)
			b.ReportAllocs()
			for b.Loop() {
				if n, err := l.Renew(ctx); err != nil || n != held {
					b.Fatalf("Renew = %d, %v; want %d", n, err, held)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(held), "ns/lease")
		})
	}
}
