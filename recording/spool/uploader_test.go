package spool_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/storage"
)

// Package recording's tests (recording_test) run this Uploader end to end:
// real RTP to S3 and file buckets, a bucket down at Finish, Recover after a
// crash. These test what it hands the spool.

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestUploader: the key, content type, target and tags the spool is
// given; a spool.Uploader without a spool; Wait for a key that does not
// wait.
func TestUploader(t *testing.T) {
	root := t.TempDir()
	mem, err := storage.Open(t.Context(), storage.Config{Vendor: storage.VendorMemory}, nil)
	must(t, err)
	defer mem.Close()
	var targets []string
	sp, err := storage.OpenSpool(storage.SpoolConfig{Dir: filepath.Join(root, "spool"), Resolve: func(ctx context.Context, target string) (*storage.Bucket, error) {
		targets = append(targets, target)
		return mem, nil
	}})
	must(t, err)
	defer sp.Close()
	up := &spool.Uploader{
		Spool:  sp,
		Target: func(id recording.ID) string { return "tenant-" + id.Account },
		Tags:   func(o recording.Object) storage.Tags { return storage.Tags{{Name: "format", Value: o.Format.String()}} },
	}
	d, err := recording.OpenDir(recording.DirConfig{Path: filepath.Join(root, "rec"), Uploader: up})
	must(t, err)
	r, err := d.Create(recording.ID{Account: "AC7", Application: "AP7", Session: "S7"}, recording.Config{})
	must(t, err)
	must(t, r.Stream(0).StartAt(0))
	must(t, r.Stream(0).Write(0, make([]int16, 8000)))
	res, err := r.Finish(t.Context())
	must(t, err)
	items := sp.List() // the spool is not running: the item waits
	if len(items) != 1 {
		t.Fatalf("spool holds %+v", items)
	}
	it := items[0]
	if it.Key != "AC7/AP7/S7.wav" || it.ContentType != "audio/wav" || it.Target != "tenant-AC7" || it.Size != res.Size ||
		len(it.Tags) != 1 || it.Tags[0] != (storage.Tag{Name: "format", Value: "wav"}) {
		t.Errorf("spool item %+v", it)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	if err := up.Wait(ctx, it.Key); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with the spool not running: %v", err)
	}
	cancel()
	if err := up.Wait(t.Context(), "AC7/AP7/other.wav"); err != nil {
		t.Errorf("Wait for a key not in the spool: %v", err)
	}
	if len(targets) != 0 {
		t.Errorf("the spool resolved %v without running", targets)
	}

	var none spool.Uploader
	if err := none.Upload(t.Context(), recording.Object{}); !errors.Is(err, recording.ErrBadConfig) {
		t.Errorf("Upload without a spool: %v", err)
	}
	if err := none.Wait(t.Context(), "a/b/c.wav"); !errors.Is(err, recording.ErrBadConfig) {
		t.Errorf("Wait without a spool: %v", err)
	}
	// A key the spool refuses leaves the file where it is.
	bad := recording.Object{Path: filepath.Join(root, "x.wav"), Key: "/abs/key.wav"}
	must(t, os.WriteFile(bad.Path, []byte("RIFF"), 0o600))
	if err := up.Upload(t.Context(), bad); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("Upload of a bad key: %v, want storage.ErrInvalidKey", err)
	}
	if _, err := os.Stat(bad.Path); err != nil {
		t.Errorf("the refused file: %v", err)
	}
}
