package spool

import (
	"context"
	"fmt"
	"time"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/storage"
)

// Uploader is the recording.Uploader of a gateway: it hands each finished
// recording to a storage.Spool, which uploads it to its bucket in the
// background, retrying until the bucket confirms it, and survives restarts.
//
//	sp, _ := storage.OpenSpool(storage.SpoolConfig{Dir: "/var/spool/voicegw/upload", Resolve: bucketOfAccount})
//	go sp.Run(ctx)
//	dir, _ := recording.OpenDir(recording.DirConfig{Path: "/var/spool/voicegw/rec",
//		Uploader: &spool.Uploader{Spool: sp}})
//
// Upload calls Spool.Enqueue with the object key ACCOUNT_SID/APPLICATION_SID/
// SESSION_ID.wav|mp3, the content type audio/wav or audio/mpeg, and the
// account SID as the Target, so that SpoolConfig.Resolve picks the
// account's bucket (with SpoolConfig.Bucket every recording goes to that
// one bucket). Enqueue moves the file (which Stop or Repair synced) into
// the spool directory beside a manifest, and syncs both to disk before it
// returns, so when Upload (and so Recorder.Finish) returns nil the
// recording is safe locally and no longer in the Dir; the spool removes it
// only once the bucket has it. Nothing is deleted before the bucket has
// it: while the bucket is unreachable the file waits in the spool, across
// restarts (OpenSpool reads it back), and lands once the bucket is back.
//
// Result.Uploaded (and Recovered.Uploaded) therefore means "queued in the
// spool", not "in the bucket". A session record can name Result.Key at
// once (the object will be there); to act when the bucket has confirmed
// it, use SpoolConfig.OnUploaded (whose Item.Key is the recording's key:
// it fires after a restart too) or, in a simple program, Wait.
//
// Keep the Dir and the spool directory on the same file system, so that
// Enqueue is a rename. Across file systems the spool copies the file and
// then removes the original; a crash between the two would leave the file
// in both places, and Dir.Recover would enqueue it again (the object would
// be uploaded twice, to the same key, harmlessly).
//
// The fields are read at each Upload; set them before the Dir is used.
type Uploader struct {
	// Spool receives the recordings. Required.
	Spool *storage.Spool
	// Target returns the spool target of a recording, the argument of
	// SpoolConfig.Resolve. Default: the account SID, id.Account.
	Target func(id recording.ID) string
	// Tags returns tags stored with a recording's object, besides the
	// bucket's configured tags (storage.EnqueueOptions.Tags). Default: none.
	Tags func(obj recording.Object) storage.Tags
}

var _ recording.Uploader = (*Uploader)(nil)

// Upload hands obj to the spool (see Uploader). Its errors are the
// spool's: a key or tags the spool refuses, a closed spool
// (storage.ErrClosed), a file system failure; the file then stays where it
// is.
func (u *Uploader) Upload(ctx context.Context, obj recording.Object) error {
	if u == nil || u.Spool == nil {
		return fmt.Errorf("%w: spool.Uploader without a Spool", recording.ErrBadConfig)
	}
	target := obj.ID.Account
	if u.Target != nil {
		target = u.Target(obj.ID)
	}
	var tags storage.Tags
	if u.Tags != nil {
		tags = u.Tags(obj)
	}
	_, err := u.Spool.Enqueue(ctx, obj.Path, obj.Key, &storage.EnqueueOptions{
		ContentType: obj.ContentType, Target: target, Tags: tags,
	})
	return err
}

// Wait blocks until nothing waits in the spool for key (a
// recording.Result.Key):
// after Finish or Recover handed the recording to the spool, that is when
// the bucket has confirmed it. It returns nil at once for a key that is not
// in the spool. When ctx ends first it returns an error that wraps ctx's
// and says why the last try failed. The spool's Run must be running.
//
// Wait polls the spool (every 10 ms at first, then less often, up to every
// 500 ms). A gateway that reports recordings as stored uses
// SpoolConfig.OnUploaded instead, which also covers what waited across a
// restart.
func (u *Uploader) Wait(ctx context.Context, key string) error {
	if u == nil || u.Spool == nil {
		return fmt.Errorf("%w: spool.Uploader without a Spool", recording.ErrBadConfig)
	}
	every := 10 * time.Millisecond
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		it, ok := u.pending(key)
		if !ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if it.LastError != "" {
				return fmt.Errorf("recording/spool: %s still waits in the spool after %d tries (last: %s): %w",
					key, it.Attempts, it.LastError, ctx.Err())
			}
			return fmt.Errorf("recording/spool: %s still waits in the spool after %d tries: %w", key, it.Attempts, ctx.Err())
		case <-t.C:
		}
		every = min(2*every, 500*time.Millisecond)
		t.Reset(every)
	}
}

// pending returns the spool's item for key, if one waits.
func (u *Uploader) pending(key string) (storage.Item, bool) {
	for _, it := range u.Spool.List() {
		if it.Key == key {
			return it, true
		}
	}
	return storage.Item{}, false
}
