package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/tenancy"
)

// buckets opens each account's bucket for the upload spool
// (storage.SpoolConfig.Resolve, whose target is the account SID) and keeps it
// open while the account's configuration stays the same. A changed
// configuration (a new revision) opens the bucket again, so recordings that
// wait in the spool go where the account's configuration says at each try.
type buckets struct {
	tenants *tenancy.Store
	log     *slog.Logger

	mu      sync.Mutex
	open    map[tenancy.SID]openBucket
	retired []*storage.Bucket // replaced, closed at the end (an upload may still use one)
}

type openBucket struct {
	revision int64
	bucket   *storage.Bucket
}

func newBuckets(tenants *tenancy.Store, log *slog.Logger) *buckets {
	return &buckets{tenants: tenants, log: log, open: map[tenancy.SID]openBucket{}}
}

// resolve returns the bucket of the account whose SID is target.
func (b *buckets) resolve(ctx context.Context, target string) (*storage.Bucket, error) {
	acct, err := b.tenants.Account(ctx, tenancy.SID(target))
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ob, ok := b.open[acct.SID]; ok && ob.revision == acct.Revision {
		return ob.bucket, nil
	}
	bk, err := openAccountBucket(ctx, acct, b.log)
	if err != nil {
		return nil, err
	}
	if old, ok := b.open[acct.SID]; ok {
		b.retired = append(b.retired, old.bucket)
	}
	b.open[acct.SID] = openBucket{revision: acct.Revision, bucket: bk}
	b.log.Debug("bucket opened", "account", acct.Name, "bucket", bk.String())
	return bk, nil
}

// openAccountBucket opens the bucket an account's recording configuration
// names: vendor fields, or a gocloud.dev URL.
func openAccountBucket(ctx context.Context, acct *tenancy.Account, log *slog.Logger) (*storage.Bucket, error) {
	opts := &storage.Options{Logger: log}
	rc := acct.Recording
	switch {
	case rc.BucketURL != "":
		return storage.OpenURL(ctx, rc.BucketURL, opts)
	case !rc.Bucket.IsZero():
		return storage.Open(ctx, rc.Bucket, opts)
	}
	return nil, fmt.Errorf("account %q has no recording bucket", acct.Name)
}

// close closes every bucket.
func (b *buckets) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ob := range b.open {
		_ = ob.bucket.Close()
	}
	for _, r := range b.retired {
		_ = r.Close()
	}
	clear(b.open)
	b.retired = nil
}
