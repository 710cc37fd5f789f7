package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/pgstore"
)

// benchDSN is VOICEGW_BENCH_PG (a database of a server set up for
// measurements: fsync on) or a fresh database of the test server (fsync
// off, so commits cost less than in production).
func benchDSN(b *testing.B) string {
	if dsn := os.Getenv("VOICEGW_BENCH_PG"); dsn != "" {
		return dsn
	}
	return newDSN(b)
}

// BenchmarkLimiter measures licensed-session starts and ends (Acquire +
// Release, two round trips) on an account with 100 calls in progress:
// "one-pool" one after the other (the figure of the SQLite limiter's
// benchmark), "two-pools" from 16 goroutines spread over two pools (two
// gateways) at once, on one account (every Acquire waits for the account's
// lock) and on ten.
func BenchmarkLimiter(b *testing.B) {
	ctx := context.Background()
	dsn := benchDSN(b)
	setup := func(b *testing.B, accounts int) ([]*pgstore.Limiter, []tenancy.SID) {
		var ls []*pgstore.Limiter
		for i := range 2 {
			ls = append(ls, newLimiter(b, newPool(b, dsn), &pgstore.LimiterOptions{Holder: fmt.Sprint("gw", i)}))
		}
		var sids []tenancy.SID
		for range accounts {
			acct := tenancy.NewSID()
			for i := range 100 {
				if err := ls[i%2].Acquire(ctx, acct, fmt.Sprint("busy-", i), 10_000); err != nil {
					b.Fatal(err)
				}
			}
			sids = append(sids, acct)
		}
		return ls, sids
	}
	b.Run("one-pool", func(b *testing.B) {
		ls, sids := setup(b, 1)
		b.ReportAllocs()
		for b.Loop() {
			if err := ls[0].Acquire(ctx, sids[0], "call", 10_000); err != nil {
				b.Fatal(err)
			}
			if err := ls[0].Release(ctx, sids[0], "call"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "starts+ends/s")
	})
	for _, accounts := range []int{1, 10} {
		b.Run(fmt.Sprintf("two-pools/accounts=%d", accounts), func(b *testing.B) {
			ls, sids := setup(b, accounts)
			var next atomic.Int64
			b.SetParallelism(8) // 16 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := next.Add(1)
					l, acct := ls[n%2], sids[n%int64(len(sids))]
					session := fmt.Sprint("call-", n)
					if err := l.Acquire(ctx, acct, session, 10_000); err != nil {
						b.Error(err)
						return
					}
					if err := l.Release(ctx, acct, session); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "starts+ends/s")
		})
	}
}

// BenchmarkLimiterAcquire measures one session set-up and tear-down
// (Acquire + Release) on an account with active sessions in progress,
// unlimited (limit=0) and limited (a limit above active).
func BenchmarkLimiterAcquire(b *testing.B) {
	ctx := context.Background()
	dsn := benchDSN(b)
	for _, active := range []int{0, 2000} {
		for _, limit := range []int{0, 100_000} {
			b.Run(fmt.Sprintf("active=%d/limit=%d", active, limit), func(b *testing.B) {
				l := newLimiter(b, newPool(b, dsn), nil)
				acct := tenancy.NewSID()
				for i := range active {
					if err := l.Acquire(ctx, acct, fmt.Sprintf("active-%06d", i), limit); err != nil {
						b.Fatal(err)
					}
				}
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
