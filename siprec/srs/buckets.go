package srs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/tenancy"
)

// ErrNoBucket is matched by the error of AccountBuckets.Resolve for an
// account that has no recording bucket configured.
var ErrNoBucket = errors.New("srs: account has no recording bucket")

// AccountSource returns an account by SID: a *tenancy.Store, or a
// *TenantCache in front of one.
type AccountSource interface {
	Account(ctx context.Context, sid tenancy.SID) (*tenancy.Account, error)
}

// AccountBuckets opens each account's recording bucket for the upload spool
// (its Resolve is a storage.SpoolConfig.Resolve whose target is the account
// SID) and keeps it open while the account's configuration stays the same:
// a new revision of the account opens the bucket again, so recordings that
// wait in the spool go where the account's configuration says at each try.
// A bucket is named by the account's vendor fields or by its bucket URL.
type AccountBuckets struct {
	accounts AccountSource
	opts     storage.Options
	log      *slog.Logger

	mu      sync.Mutex
	open    map[tenancy.SID]openBucket
	retired []*storage.Bucket // replaced; closed by Close (an upload may still use one)
}

type openBucket struct {
	revision int64
	bucket   *storage.Bucket
}

// NewAccountBuckets returns the buckets of the accounts of src, opened with
// opts (nil: storage's defaults). Give opts.Egress: an account's bucket
// endpoint is chosen by the account, and the policy keeps it off loopback,
// link-local (cloud metadata) and other internal addresses; the Server
// does. opts.Logger (nil discards) receives the buckets' own events.
func NewAccountBuckets(src AccountSource, opts *storage.Options) *AccountBuckets {
	var o storage.Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &AccountBuckets{accounts: src, opts: o, log: o.Logger, open: map[tenancy.SID]openBucket{}}
}

// Resolve returns the bucket of the account whose SID is target.
func (b *AccountBuckets) Resolve(ctx context.Context, target string) (*storage.Bucket, error) {
	acct, err := b.accounts.Account(ctx, tenancy.SID(target))
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ob, ok := b.open[acct.SID]; ok && ob.revision == acct.Revision {
		return ob.bucket, nil
	}
	bk, err := OpenAccountBucket(ctx, acct, &b.opts)
	if err != nil {
		return nil, err
	}
	if old, ok := b.open[acct.SID]; ok {
		b.retired = append(b.retired, old.bucket)
	}
	b.open[acct.SID] = openBucket{revision: acct.Revision, bucket: bk}
	b.log.Debug("bucket opened", "account", acct.SID, "bucket", bk.String())
	return bk, nil
}

// Invalidate reopens the buckets of the accounts sids at their next use,
// even if their revision is the same (after a credential was rotated
// outside the account, for example).
func (b *AccountBuckets) Invalidate(sids ...tenancy.SID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sid := range sids {
		if ob, ok := b.open[sid]; ok {
			b.retired = append(b.retired, ob.bucket)
			delete(b.open, sid)
		}
	}
}

// Close closes every bucket it opened.
func (b *AccountBuckets) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, ob := range b.open {
		errs = append(errs, ob.bucket.Close())
	}
	for _, r := range b.retired {
		errs = append(errs, r.Close())
	}
	clear(b.open)
	b.retired = nil
	return errors.Join(errs...)
}

// OpenAccountBucket opens the bucket an account's recording configuration
// names: its bucket URL, else its vendor fields, with opts (nil: storage's
// defaults; see NewAccountBuckets for opts.Egress). An account with neither
// gets an error wrapping ErrNoBucket.
func OpenAccountBucket(ctx context.Context, acct *tenancy.Account, opts *storage.Options) (*storage.Bucket, error) {
	rc := acct.Recording
	switch {
	case rc.BucketURL != "":
		return storage.OpenURL(ctx, rc.BucketURL, opts)
	case !rc.Bucket.IsZero():
		return storage.Open(ctx, rc.Bucket, opts)
	}
	return nil, fmt.Errorf("account %s: %w", acct.SID, ErrNoBucket)
}

// ProbeAccountBuckets runs storage's probe (write an object, read it
// back, delete it: storage.Bucket.Test) on the recording bucket of
// each account that records, all at once, each within timeout (0: 20 s),
// so that a broken bucket shows at start rather than at the first upload.
// It returns one error per account, at the account's index: nil for a
// bucket that works, for an account that does not record or has no bucket,
// and for a local directory that does not exist yet (the recording server
// makes it). The errors are storage's, which say what to check; they never
// hold the bucket's secrets.
func ProbeAccountBuckets(ctx context.Context, accounts []*tenancy.Account, opts *storage.Options, timeout time.Duration) []error {
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	errs := make([]error, len(accounts))
	var wg sync.WaitGroup
	for i, a := range accounts {
		rc := a.Recording
		if !rc.Enabled || (rc.BucketURL == "" && rc.Bucket.IsZero()) {
			continue
		}
		if f := rc.Bucket.File; f != nil {
			if _, err := os.Stat(f.Dir); errors.Is(err, fs.ErrNotExist) {
				continue // made at start
			}
		}
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			errs[i] = probeAccountBucket(pctx, a, opts)
		})
	}
	wg.Wait()
	return errs
}

// probeAccountBucket probes the bucket OpenAccountBucket would open.
func probeAccountBucket(ctx context.Context, acct *tenancy.Account, opts *storage.Options) error {
	if rc := acct.Recording; rc.BucketURL != "" {
		return storage.TestURL(ctx, rc.BucketURL, opts)
	}
	return storage.Test(ctx, acct.Recording.Bucket, opts)
}
