package recording

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/storagetest"
)

// TestBucketDownAtFinish: the bucket is unreachable when the call ends.
// Finish still succeeds — the file is safe in the spool — and the file
// waits there, across a restart of the gateway, until the bucket is back;
// then it lands exactly once (even though the answer to the first write
// that reached the bucket is lost) and the spool is empty. At no moment
// is the recording anywhere but on disk or in the bucket.
func TestBucketDownAtFinish(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	bucket, err := storage.Open(t.Context(), srv.Config("recordings", nil), fastRetry)
	must(t, err)
	defer bucket.Close()
	root := t.TempDir()
	spoolDir := filepath.Join(root, "spool")
	sp := startSpool(t, spoolDir, storage.SpoolConfig{Bucket: bucket})
	up := &SpoolUploader{Spool: sp.Spool}
	d, err := OpenDir(DirConfig{Path: filepath.Join(root, "rec"), Uploader: up})
	must(t, err)

	srv.Stop() // the bucket goes down
	id := ID{"AC1", "AP1", "down"}
	const key = "AC1/AP1/down.wav"
	r, err := d.Create(id, Config{Start: t0, Streams: twoStreams()})
	must(t, err)
	a := feeder{t, r.Stream(0), rate8k, 1000, 10000}
	b := feeder{t, r.Stream(1), rate8k, 600, 10000}
	must(t, a.s.StartAt(0))
	must(t, b.s.StartAt(4000))
	for k := int64(0); k < 100; k++ {
		a.send(k*160, 160)
		if k < 75 {
			b.send(k*160, 160)
		}
	}
	res, err := r.Finish(t.Context())
	must(t, err)
	if !res.Uploaded || res.Key != key || res.Duration != 2*time.Second || res.Channels != 2 {
		t.Fatalf("Finish with the bucket down: %+v; want handed to the spool, 2 s stereo", res)
	}
	notExist(t, res.Path)

	// The file waits in the spool, whole, while every try fails.
	waitFor(t, "failed tries", func() bool {
		items := sp.List()
		return len(items) == 1 && items[0].Attempts >= 3 && items[0].Reason == storage.ErrUnreachable.Error()
	})
	item := sp.List()[0]
	if item.Key != key || item.Size != res.Size || item.ContentType != "audio/wav" || item.Target != "AC1" {
		t.Fatalf("spool item %+v; want %s, %d bytes, audio/wav, target AC1", item, key, res.Size)
	}
	if st, err := os.Stat(filepath.Join(spoolDir, item.ID+".data")); err != nil || st.Size() != res.Size {
		t.Fatalf("the spooled file: %v, %v", st, err)
	}
	if n := srv.Writes("recordings", key); n != 0 {
		t.Fatalf("%d writes reached a bucket that is down", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	err = up.Wait(ctx, key)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "endpoint unreachable") || !strings.Contains(err.Error(), key) {
		t.Fatalf("Wait while the bucket is down: %v; want the deadline, naming the key and the last failure", err)
	}

	// The gateway restarts while the bucket is still down: the item is
	// read back from the spool directory.
	sp.stop(t)
	sp = startSpool(t, spoolDir, storage.SpoolConfig{Bucket: bucket, MinBackoff: 50 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	up.Spool = sp.Spool
	if items := sp.List(); len(items) != 1 || items[0].ID != item.ID || items[0].Attempts < item.Attempts {
		t.Fatalf("after the restart the spool holds %+v, want item %s", items, item.ID)
	}
	recs, err := d.Recover(t.Context())
	if err != nil || len(recs) != 0 {
		t.Fatalf("Recover: %+v, %v; the recording is the spool's now, not the Dir's", recs, err)
	}

	// The bucket comes back, and the answer to the first write is lost.
	srv.DropNextResponses(1)
	srv.Start()
	landed(t, up, key)
	if n := srv.Writes("recordings", key); n != 1 {
		t.Errorf("the recording was written %d times, want exactly once", n)
	}
	if left := spoolFiles(t, spoolDir); len(left) != 0 {
		t.Errorf("the spool still holds %v", left)
	}
	w := readWAV(t, download(t, bucket, key))
	m := newModel(2, 16000)
	m.put(0, 0, tone(1000, 10000, rate8k, 0, 16000))
	m.put(1, 4000, tone(600, 10000, rate8k, 0, 12000))
	m.compare(t, w)
}

// TestSpoolUploader: the key, content type, target and tags the spool is
// given; a SpoolUploader without a spool; Wait for a key that does not
// wait.
func TestSpoolUploader(t *testing.T) {
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
	up := &SpoolUploader{
		Spool:  sp,
		Target: func(id ID) string { return "tenant-" + id.Account },
		Tags:   func(o Object) storage.Tags { return storage.Tags{{Name: "format", Value: o.Format.String()}} },
	}
	d, err := OpenDir(DirConfig{Path: filepath.Join(root, "rec"), Uploader: up})
	must(t, err)
	r, err := d.Create(ID{"AC7", "AP7", "S7"}, Config{Start: t0})
	must(t, err)
	recordTone(t, r, 1)
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

	var none SpoolUploader
	if err := none.Upload(t.Context(), Object{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Upload without a spool: %v", err)
	}
	if err := none.Wait(t.Context(), "a/b/c.wav"); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Wait without a spool: %v", err)
	}
	// A key the spool refuses leaves the file where it is.
	bad := Object{Path: filepath.Join(root, "x.wav"), Key: "/abs/key.wav"}
	must(t, os.WriteFile(bad.Path, []byte("RIFF"), 0o600))
	if err := up.Upload(t.Context(), bad); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("Upload of a bad key: %v, want storage.ErrInvalidKey", err)
	}
	if _, err := os.Stat(bad.Path); err != nil {
		t.Errorf("the refused file: %v", err)
	}
}
