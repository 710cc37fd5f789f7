package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// ProbePrefix is the key prefix of the objects Test writes and deletes.
const ProbePrefix = "voicegw-probe/"

// The steps of Test, as they appear in OpError.Op ("test: write", ...).
const (
	StepOpen   = "test: open"
	StepWrite  = "test: write"
	StepRead   = "test: read"
	StepDelete = "test: delete"
)

// Test verifies the bucket end to end, as the "Test" button of a recording
// configuration form: it writes a small probe object under ProbePrefix with
// the configured tags (so a policy missing s3:PutObjectTagging fails here,
// not at the first recording), reads it back and compares it, then deletes
// it. Transient failures are not retried: Test reports the state now.
//
// The error is an *OpError whose Op names the step that failed (StepWrite,
// StepRead, StepDelete) and which matches the cause with errors.Is:
// ErrBadCredentials, ErrPermissionDenied, ErrNoSuchBucket, ErrWrongRegion,
// ErrUnreachable, ErrVerifyFailed. Its message says what to check and holds no secret.
func (b *Bucket) Test(ctx context.Context) error {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	key := ProbePrefix + hex.EncodeToString(rnd[:]) + ".txt"
	body := []byte("voicegw storage probe " + hex.EncodeToString(rnd[:]) + " " + time.Now().UTC().Format(time.RFC3339) + "\n")

	nb := *b
	nb.opts.Retry = RetryPolicy{Attempts: 1, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	err := nb.Upload(ctx, key, bytes.NewReader(body), int64(len(body)), &UploadOptions{ContentType: "text/plain"})
	if err != nil {
		return b.stepError(StepWrite, key, err)
	}
	got, err := b.readAll(ctx, key, int64(len(body))+1)
	if err != nil {
		b.cleanupProbe(ctx, key)
		return b.stepError(StepRead, key, err)
	}
	if !bytes.Equal(got, body) {
		b.cleanupProbe(ctx, key)
		return &OpError{Op: StepRead, Bucket: b.String(), Key: key, Kind: ErrVerifyFailed,
			Err: fmt.Errorf("read back different bytes than the %d written", len(body))}
	}
	if err := b.bkt.Delete(ctx, key); err != nil {
		return b.stepError(StepDelete, key, err)
	}
	return nil
}

// Test opens cfg's bucket, runs Bucket.Test and closes the bucket. A bad
// configuration fails with ErrInvalidConfig before anything is sent.
func Test(ctx context.Context, cfg Config, opts *Options) error {
	b, err := Open(ctx, cfg, opts)
	return testOpened(ctx, b, err)
}

// TestURL is Test for the bucket a URL names (OpenURL).
func TestURL(ctx context.Context, url string, opts *Options) error {
	b, err := OpenURL(ctx, url, opts)
	return testOpened(ctx, b, err)
}

// testOpened tests b, opened with err; an open failure is the probe's
// StepOpen.
func testOpened(ctx context.Context, b *Bucket, err error) error {
	if err != nil {
		var oe *OpError
		if errors.As(err, &oe) {
			oe.Op = StepOpen
		}
		return err
	}
	defer b.Close()
	return b.Test(ctx)
}

func (b *Bucket) readAll(ctx context.Context, key string, limit int64) ([]byte, error) {
	r, err := b.bkt.NewReader(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, limit))
}

func (b *Bucket) cleanupProbe(ctx context.Context, key string) {
	_ = b.bkt.Delete(ctx, key)
}

// stepError names the step; a "not found" while writing means the bucket is
// missing, while reading back it means the write did not stick.
func (b *Bucket) stepError(step, key string, err error) error {
	var oe *OpError
	cause := err
	if errors.As(err, &oe) {
		cause = oe.Err
	}
	e := b.opError(step, key, cause).(*OpError)
	if oe != nil && oe.Kind != nil {
		e.Kind = oe.Kind
	}
	switch {
	case step == StepWrite && e.Kind == ErrNotFound:
		e.Kind = ErrNoSuchBucket
	case step == StepRead && e.Kind == ErrNotFound:
		e.Kind = ErrVerifyFailed
		e.Err = &noted{note: "the probe object was written but cannot be read back", err: cause}
	}
	return e
}
