package recording_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
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
	Must(t, err)
	defer bucket.Close()
	root := t.TempDir()
	spoolDir := filepath.Join(root, "spool")
	sp := startSpool(t, spoolDir, storage.SpoolConfig{Bucket: bucket})
	up := &spool.Uploader{Spool: sp.Spool}
	d, err := OpenDir(DirConfig{Path: filepath.Join(root, "rec"), Uploader: up})
	Must(t, err)

	srv.Stop() // the bucket goes down
	id := ID{"AC1", "AP1", "down"}
	const key = "AC1/AP1/down.wav"
	r, err := d.Create(id, Config{Start: T0, Streams: TwoStreams()})
	Must(t, err)
	a := NewFeeder(t, r.Stream(0), 1000, 10000)
	b := NewFeeder(t, r.Stream(1), 600, 10000)
	Must(t, a.Stream().StartAt(0))
	Must(t, b.Stream().StartAt(4000))
	for k := int64(0); k < 100; k++ {
		a.Send(k*160, 160)
		if k < 75 {
			b.Send(k*160, 160)
		}
	}
	res, err := r.Finish(t.Context())
	Must(t, err)
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
	w := ReadWAV(t, download(t, bucket, key))
	m := NewModel(2, 16000)
	m.Put(0, 0, Tone(1000, 10000, Rate8k, 0, 16000))
	m.Put(1, 4000, Tone(600, 10000, Rate8k, 0, 12000))
	m.Compare(t, w)
}
