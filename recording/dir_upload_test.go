package recording_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	. "github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/storage"
)

// The tests of this package (recording_test) hand recordings to the real
// storage spool through package recording/spool, which imports recording:
// they cannot be in package recording itself. They use its test helpers
// through export_test.go.

// TestDirFinishUploads: Finish hands the finished file to a real storage
// spool, which puts it in a real (file) bucket under the recording's key
// with its content type and tags; nothing stays behind.
func TestDirFinishUploads(t *testing.T) {
	for _, f := range []Format{WAV, MP3} {
		t.Run(f.String(), func(t *testing.T) {
			var l *LAME
			if f == MP3 {
				l = RequireLAME(t)
			}
			root := t.TempDir()
			bucket, bucketDir := fileBucket(t)
			sp := startSpool(t, filepath.Join(root, "spool"), storage.SpoolConfig{Bucket: bucket})
			up := &spool.Uploader{Spool: sp.Spool, Tags: func(o Object) storage.Tags {
				return storage.Tags{{Name: "session", Value: o.ID.Session}}
			}}
			d, err := OpenDir(DirConfig{Path: filepath.Join(root, "rec"), Uploader: up})
			Must(t, err)
			id := ID{Account: "AC42", Application: "AP7", Session: "c0ffee"}
			r, err := d.Create(id, Config{Format: f, LAME: l, Start: T0})
			Must(t, err)
			if want := filepath.Join(d.Path(), "AC42", "AP7", "c0ffee"+f.Ext()+".part"); r.Path() != want {
				t.Fatalf("recording at %s, want %s", r.Path(), want)
			}
			RecordTone(t, r, 2)
			res, err := r.Finish(t.Context())
			Must(t, err)
			key := "AC42/AP7/c0ffee" + f.Ext()
			if res.Key != key || !res.Uploaded || res.Duration != 2*time.Second || res.Format != f || res.ID != id || res.Channels != 1 {
				t.Fatalf("Result %+v; want key %s uploaded, 2 s, mono", res, key)
			}
			notExist(t, res.Path)
			landed(t, up, key)
			attrs, err := bucket.Attributes(t.Context(), key)
			Must(t, err)
			if attrs.ContentType != f.ContentType() || attrs.Size != res.Size || attrs.Metadata["session"] != "c0ffee" {
				t.Errorf("object attributes %+v; want %s, %d bytes, tag session=c0ffee", attrs, f.ContentType(), res.Size)
			}
			// The file bucket stores the object as a file under its key.
			info, err := Inspect(filepath.Join(bucketDir, "AC42", "AP7", "c0ffee"+f.Ext()))
			Must(t, err)
			if info.Duration != 2*time.Second || info.Size != res.Size {
				t.Errorf("the object in the bucket: %+v, want 2 s and %d bytes", info, res.Size)
			}
			if left := spoolFiles(t, sp.dir); len(left) != 0 {
				t.Errorf("spool still holds %v", left)
			}
			// Finishing again is harmless and reported; nothing is enqueued twice.
			res2, err := r.Finish(t.Context())
			if !errors.Is(err, ErrStopped) || !reflect.DeepEqual(res2, res) || sp.Len() != 0 {
				t.Errorf("second Finish: %+v, %v, %d items spooled", res2, err, sp.Len())
			}
		})
	}
}

// TestDirUploaderFails: when the Uploader refuses the file (here the
// spool is closed: the process is shutting down) the finished file stays
// in the directory, nothing is lost, and a later Finish hands it over
// exactly once.
func TestDirUploaderFails(t *testing.T) {
	root := t.TempDir()
	bucket, _ := fileBucket(t)
	spoolDir := filepath.Join(root, "spool")
	closed := startSpool(t, spoolDir, storage.SpoolConfig{Bucket: bucket})
	closed.stop(t)
	up := &spool.Uploader{Spool: closed.Spool}
	d, err := OpenDir(DirConfig{Path: filepath.Join(root, "rec"), Uploader: up})
	Must(t, err)
	id := ID{"AC1", "AP1", "S1"}
	r, err := d.Create(id, Config{Start: T0})
	Must(t, err)
	RecordTone(t, r, 1)
	res, err := r.Finish(t.Context())
	if !errors.Is(err, ErrUpload) || !errors.Is(err, storage.ErrClosed) || !strings.Contains(err.Error(), "AC1/AP1/S1.wav") {
		t.Fatalf("Finish with the spool closed: %v; want ErrUpload naming the key and wrapping storage.ErrClosed", err)
	}
	if res.Uploaded || res.Path != d.FilePath(id, WAV) {
		t.Fatalf("Result %+v; want not uploaded, at %s", res, d.FilePath(id, WAV))
	}
	if w := ReadWAV(t, res.Path); w.Frames() != 8000 {
		t.Fatalf("the waiting file has %d frames, want 8000", w.Frames())
	}
	// The same recording cannot be started again while it waits.
	if _, err := d.Create(id, Config{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create of a recording waiting for upload: %v, want fs.ErrExist", err)
	}
	up.Spool = startSpool(t, spoolDir, storage.SpoolConfig{Bucket: bucket}).Spool
	res, err = r.Finish(t.Context())
	Must(t, err)
	if !res.Uploaded {
		t.Fatalf("after the spool came back: %+v", res)
	}
	notExist(t, res.Path)
	landed(t, up, "AC1/AP1/S1.wav")
	if w := ReadWAV(t, download(t, bucket, "AC1/AP1/S1.wav")); w.Frames() != 8000 {
		t.Errorf("uploaded file has %d frames, want 8000", w.Frames())
	}
}

// TestDirRecover: after a crash (a recording never stopped, another one
// finished but not handed over) a new process repairs both and they end up
// in the bucket through the spool; a recording still active in this
// process is left alone.
func TestDirRecover(t *testing.T) {
	root := filepath.Join(t.TempDir(), "rec")
	spoolDir := filepath.Join(filepath.Dir(root), "spool")
	bucket, _ := fileBucket(t)
	closed := startSpool(t, spoolDir, storage.SpoolConfig{Bucket: bucket})
	closed.stop(t)
	up := &spool.Uploader{Spool: closed.Spool}
	d1, err := OpenDir(DirConfig{Path: root, Uploader: up})
	Must(t, err)

	// Finished, hand-over failed.
	done, err := d1.Create(ID{"AC1", "AP1", "done"}, Config{Start: T0})
	Must(t, err)
	RecordTone(t, done, 1)
	if _, err := done.Finish(t.Context()); !errors.Is(err, ErrUpload) {
		t.Fatalf("Finish: %v", err)
	}
	// Cut off: written and flushed, never stopped; then one byte of a
	// partial frame, as a write cut short by a full disk leaves.
	cut, err := d1.Create(ID{"AC1", "AP2", "cut"}, Config{Start: T0})
	Must(t, err)
	RecordTone(t, cut, 2)
	Must(t, cut.Flush())
	f, err := os.OpenFile(cut.Path(), os.O_WRONLY|os.O_APPEND, 0)
	Must(t, err)
	_, err = f.Write([]byte{1})
	Must(t, err)
	Must(t, f.Close())
	// Noise that is not a recording of this layout.
	Must(t, os.WriteFile(filepath.Join(root, "README.txt"), []byte("x"), 0o600))
	Must(t, os.MkdirAll(filepath.Join(root, "AC1", "x"), 0o750))
	Must(t, os.WriteFile(filepath.Join(root, "AC1", "x", ".hidden.wav"), []byte("x"), 0o600))

	// In this process the cut recording is still active: Recover leaves it.
	sp := startSpool(t, spoolDir, storage.SpoolConfig{Bucket: bucket})
	up.Spool = sp.Spool
	recs, err := d1.Recover(t.Context())
	Must(t, err)
	if len(recs) != 1 || recs[0].Key != "AC1/AP1/done.wav" || !recs[0].Uploaded || recs[0].Repair != nil {
		t.Fatalf("Recover in the same process: %+v", recs)
	}
	if _, err := os.Stat(cut.Path()); err != nil {
		t.Fatalf("Recover touched an active recording: %v", err)
	}
	landed(t, up, "AC1/AP1/done.wav")

	// A new process (the old one crashed): its spool is not open yet.
	sp.stop(t)
	d2, err := OpenDir(DirConfig{Path: root, Uploader: up})
	Must(t, err)
	recs, err = d2.Recover(t.Context())
	if !errors.Is(err, ErrUpload) || len(recs) != 1 {
		t.Fatalf("Recover with the spool closed: %+v, %v", recs, err)
	}
	rc := recs[0]
	if rc.Key != "AC1/AP2/cut.wav" || rc.Repair == nil || !rc.Repair.Changed || rc.Repair.Truncated != 1 || rc.Uploaded || !errors.Is(rc.Err, ErrUpload) {
		t.Fatalf("Recovered %+v (repair %+v)", rc, rc.Repair)
	}
	if rc.Info.Duration != 2*time.Second || rc.Path != d2.FilePath(ID{"AC1", "AP2", "cut"}, WAV) {
		t.Errorf("recovered file: %+v at %s", rc.Info, rc.Path)
	}
	// The spool is open: the next Recover hands it over, and it lands.
	up.Spool = startSpool(t, spoolDir, storage.SpoolConfig{Bucket: bucket}).Spool
	recs, err = d2.Recover(t.Context())
	Must(t, err)
	if len(recs) != 1 || !recs[0].Uploaded || recs[0].Repair != nil {
		t.Fatalf("second Recover: %+v", recs)
	}
	landed(t, up, "AC1/AP2/cut.wav")
	w := ReadWAV(t, download(t, bucket, "AC1/AP2/cut.wav"))
	m := NewModel(1, 16000)
	m.Put(0, 0, Tone(1000, 8000, Rate8k, 0, 16000))
	m.Compare(t, w)
	if w := ReadWAV(t, download(t, bucket, "AC1/AP1/done.wav")); w.Frames() != 8000 {
		t.Errorf("done.wav in the bucket has %d frames, want 8000", w.Frames())
	}
	if recs, err := d2.Recover(t.Context()); err != nil || len(recs) != 0 {
		t.Errorf("third Recover: %+v, %v; want nothing left", recs, err)
	}
}
