package srs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/storage"
)

// Recordings is an insights.RecordingStore over the accounts' buckets: the
// Insights API's playback (insights.PlaybackConfig.Recordings) signs links
// with the bucket of each recording's account (S3 presigned, GCS V4 signed,
// Azure SAS) and streams recordings from any bucket with ranged reads.
// Server.Recordings returns one over the Server's buckets.
type Recordings struct {
	// Buckets returns the bucket of an account (by SID), as
	// Config.Buckets or AccountBuckets.Resolve do; Recordings does not
	// close what it returns. Required.
	Buckets func(ctx context.Context, account string) (*storage.Bucket, error)
}

var _ insights.RecordingStore = (*Recordings)(nil)

// Recordings returns the Server's recordings for the Insights API's
// playback, over the buckets its uploads go to:
//
//	insights.NewHandler(insights.HandlerConfig{…,
//		Playback: &insights.PlaybackConfig{Recordings: srv.Recordings(), Secret: secret}})
func (s *Server) Recordings() *Recordings { return s.recordings }

// bucket returns the account's bucket, for a key of that account.
func (r *Recordings) bucket(ctx context.Context, account, key string) (*storage.Bucket, error) {
	if !strings.HasPrefix(key, account+"/") {
		return nil, fmt.Errorf("srs: recording %q is not one of account %s: %w", key, account, insights.ErrNotFound)
	}
	if r == nil || r.Buckets == nil {
		return nil, errors.New("srs: Recordings without Buckets")
	}
	b, err := r.Buckets(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("srs: the bucket of account %s: %w", account, err)
	}
	return b, nil
}

// StatRecording returns the size, content type, time and ETag of key in
// the account's bucket; an error wrapping insights.ErrNotFound when it is
// not there.
func (r *Recordings) StatRecording(ctx context.Context, account, key string) (insights.RecordingInfo, error) {
	b, err := r.bucket(ctx, account, key)
	if err != nil {
		return insights.RecordingInfo{}, err
	}
	a, err := b.Attributes(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return insights.RecordingInfo{}, fmt.Errorf("%w: %w", insights.ErrNotFound, err)
	}
	if err != nil {
		return insights.RecordingInfo{}, err
	}
	return insights.RecordingInfo{Size: a.Size, ContentType: a.ContentType, ModTime: a.ModTime, ETag: a.ETag}, nil
}

// ReadRecording reads length bytes of key from offset (length < 0: to the
// end) with one ranged read of the account's bucket.
func (r *Recordings) ReadRecording(ctx context.Context, account, key string, offset, length int64) (io.ReadCloser, error) {
	b, err := r.bucket(ctx, account, key)
	if err != nil {
		return nil, err
	}
	rc, err := b.NewRangeReader(ctx, key, offset, length)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", insights.ErrNotFound, err)
	}
	return rc, err
}

// SignRecording returns the bucket's signed URL of key (storage.Bucket.SignedURL);
// for a bucket that cannot sign (a local directory, memory, Azure with a
// SAS connection string) an error wrapping errors.ErrUnsupported.
func (r *Recordings) SignRecording(ctx context.Context, account, key string, expiry time.Duration) (string, error) {
	b, err := r.bucket(ctx, account, key)
	if err != nil {
		return "", err
	}
	u, err := b.SignedURL(ctx, key, expiry)
	if errors.Is(err, storage.ErrNotSupported) {
		return "", fmt.Errorf("%w: %w", errors.ErrUnsupported, err)
	}
	return u, err
}
