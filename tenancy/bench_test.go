package tenancy_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/sqlitestore"
)

// BenchmarkLimiter measures one call start and end (Acquire + Release) on an
// account with 100 calls in progress.
func BenchmarkLimiter(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		open func(b *testing.B) tenancy.SessionLimiter
	}{
		{"local", func(*testing.B) tenancy.SessionLimiter { return &tenancy.LocalLimiter{} }},
		{"sqlite", func(b *testing.B) tenancy.SessionLimiter {
			db, err := sqlitedb.Open(ctx, filepath.Join(b.TempDir(), "limits.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = db.Close() })
			l, err := sqlitestore.NewLimiter(ctx, db, nil)
			if err != nil {
				b.Fatal(err)
			}
			return l
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := bc.open(b)
			acct := tenancy.NewSID()
			for i := range 100 {
				if err := l.Acquire(ctx, acct, "busy-"+time.Duration(i).String(), 1000); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Acquire(ctx, acct, "call", 1000); err != nil {
					b.Fatal(err)
				}
				if err := l.Release(ctx, acct, "call"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyWebhook measures verifying a 1 KiB webhook body.
func BenchmarkVerifyWebhook(b *testing.B) {
	body := make([]byte, 1024)
	now := time.Unix(1700000000, 0)
	h := tenancy.SignWebhook(now, body, newSecret)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := tenancy.VerifyWebhook(h, body, now, 0, newSecret, oldSecret); err != nil {
			b.Fatal(err)
		}
	}
}
