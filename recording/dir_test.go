package recording

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/storage"
)

// recordTone records secs seconds of a 1 kHz tone on one stream.
func recordTone(t *testing.T, r *Recorder, secs int) {
	t.Helper()
	s := r.Stream(0)
	must(t, s.StartAt(0))
	for k := int64(0); k < int64(50*secs); k++ {
		must(t, s.Write(k*160, tone(1000, 8000, rate8k, k*160, 160)))
	}
}

// TestDirFinishUploads: Finish hands the finished file to a real storage
// spool, which puts it in a real (file) bucket under the recording's key
// with its content type and tags; nothing stays behind.
func TestDirFinishUploads(t *testing.T) {
	for _, f := range []Format{WAV, MP3} {
		t.Run(f.String(), func(t *testing.T) {
			var l *LAME
			if f == MP3 {
				l = requireLAME(t)
			}
			root := t.TempDir()
			bucket, bucketDir := fileBucket(t)
			sp := startSpool(t, filepath.Join(root, "spool"), storage.SpoolConfig{Bucket: bucket})
			up := &SpoolUploader{Spool: sp.Spool, Tags: func(o Object) storage.Tags {
				return storage.Tags{{Name: "session", Value: o.ID.Session}}
			}}
			d, err := OpenDir(DirConfig{Path: filepath.Join(root, "rec"), Uploader: up})
			must(t, err)
			id := ID{Account: "AC42", Application: "AP7", Session: "c0ffee"}
			r, err := d.Create(id, Config{Format: f, LAME: l, Start: t0})
			must(t, err)
			if want := filepath.Join(d.Path(), "AC42", "AP7", "c0ffee"+f.Ext()+".part"); r.Path() != want {
				t.Fatalf("recording at %s, want %s", r.Path(), want)
			}
			recordTone(t, r, 2)
			res, err := r.Finish(t.Context())
			must(t, err)
			key := "AC42/AP7/c0ffee" + f.Ext()
			if res.Key != key || !res.Uploaded || res.Duration != 2*time.Second || res.Format != f || res.ID != id || res.Channels != 1 {
				t.Fatalf("Result %+v; want key %s uploaded, 2 s, mono", res, key)
			}
			notExist(t, res.Path)
			landed(t, up, key)
			attrs, err := bucket.Attributes(t.Context(), key)
			must(t, err)
			if attrs.ContentType != f.ContentType() || attrs.Size != res.Size || attrs.Metadata["session"] != "c0ffee" {
				t.Errorf("object attributes %+v; want %s, %d bytes, tag session=c0ffee", attrs, f.ContentType(), res.Size)
			}
			// The file bucket stores the object as a file under its key.
			info, err := Inspect(filepath.Join(bucketDir, "AC42", "AP7", "c0ffee"+f.Ext()))
			must(t, err)
			if info.Duration != 2*time.Second || info.Size != res.Size {
				t.Errorf("the object in the bucket: %+v, want 2 s and %d bytes", info, res.Size)
			}
			if left := spoolFiles(t, sp.dir); len(left) != 0 {
				t.Errorf("spool still holds %v", left)
			}
			// Finishing again is harmless and reported; nothing is enqueued twice.
			res2, err := r.Finish(t.Context())
			if !errors.Is(err, ErrStopped) || res2 != res || sp.Len() != 0 {
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
	up := &SpoolUploader{Spool: closed.Spool}
	d, err := OpenDir(DirConfig{Path: filepath.Join(root, "rec"), Uploader: up})
	must(t, err)
	id := ID{"AC1", "AP1", "S1"}
	r, err := d.Create(id, Config{Start: t0})
	must(t, err)
	recordTone(t, r, 1)
	res, err := r.Finish(t.Context())
	if !errors.Is(err, ErrUpload) || !errors.Is(err, storage.ErrClosed) || !strings.Contains(err.Error(), "AC1/AP1/S1.wav") {
		t.Fatalf("Finish with the spool closed: %v; want ErrUpload naming the key and wrapping storage.ErrClosed", err)
	}
	if res.Uploaded || res.Path != d.FilePath(id, WAV) {
		t.Fatalf("Result %+v; want not uploaded, at %s", res, d.FilePath(id, WAV))
	}
	if w := readWAV(t, res.Path); w.frames() != 8000 {
		t.Fatalf("the waiting file has %d frames, want 8000", w.frames())
	}
	// The same recording cannot be started again while it waits.
	if _, err := d.Create(id, Config{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create of a recording waiting for upload: %v, want fs.ErrExist", err)
	}
	up.Spool = startSpool(t, spoolDir, storage.SpoolConfig{Bucket: bucket}).Spool
	res, err = r.Finish(t.Context())
	must(t, err)
	if !res.Uploaded {
		t.Fatalf("after the spool came back: %+v", res)
	}
	notExist(t, res.Path)
	landed(t, up, "AC1/AP1/S1.wav")
	if w := readWAV(t, download(t, bucket, "AC1/AP1/S1.wav")); w.frames() != 8000 {
		t.Errorf("uploaded file has %d frames, want 8000", w.frames())
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
	up := &SpoolUploader{Spool: closed.Spool}
	d1, err := OpenDir(DirConfig{Path: root, Uploader: up})
	must(t, err)

	// Finished, hand-over failed.
	done, err := d1.Create(ID{"AC1", "AP1", "done"}, Config{Start: t0})
	must(t, err)
	recordTone(t, done, 1)
	if _, err := done.Finish(t.Context()); !errors.Is(err, ErrUpload) {
		t.Fatalf("Finish: %v", err)
	}
	// Cut off: written and flushed, never stopped; then one byte of a
	// partial frame, as a write cut short by a full disk leaves.
	cut, err := d1.Create(ID{"AC1", "AP2", "cut"}, Config{Start: t0})
	must(t, err)
	recordTone(t, cut, 2)
	must(t, cut.Flush())
	f, err := os.OpenFile(cut.Path(), os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.Write([]byte{1})
	must(t, err)
	must(t, f.Close())
	// Noise that is not a recording of this layout.
	must(t, os.WriteFile(filepath.Join(root, "README.txt"), []byte("x"), 0o600))
	must(t, os.MkdirAll(filepath.Join(root, "AC1", "x"), 0o750))
	must(t, os.WriteFile(filepath.Join(root, "AC1", "x", ".hidden.wav"), []byte("x"), 0o600))

	// In this process the cut recording is still active: Recover leaves it.
	sp := startSpool(t, spoolDir, storage.SpoolConfig{Bucket: bucket})
	up.Spool = sp.Spool
	recs, err := d1.Recover(t.Context())
	must(t, err)
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
	must(t, err)
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
	must(t, err)
	if len(recs) != 1 || !recs[0].Uploaded || recs[0].Repair != nil {
		t.Fatalf("second Recover: %+v", recs)
	}
	landed(t, up, "AC1/AP2/cut.wav")
	w := readWAV(t, download(t, bucket, "AC1/AP2/cut.wav"))
	m := newModel(1, 16000)
	m.put(0, 0, tone(1000, 8000, rate8k, 0, 16000))
	m.compare(t, w)
	if w := readWAV(t, download(t, bucket, "AC1/AP1/done.wav")); w.frames() != 8000 {
		t.Errorf("done.wav in the bucket has %d frames, want 8000", w.frames())
	}
	if recs, err := d2.Recover(t.Context()); err != nil || len(recs) != 0 {
		t.Errorf("third Recover: %+v, %v; want nothing left", recs, err)
	}
}

// TestDirWithoutUploader: files stay; Recover only repairs.
func TestDirWithoutUploader(t *testing.T) {
	d, err := OpenDir(DirConfig{Path: t.TempDir()})
	must(t, err)
	r, err := d.Create(ID{"A", "B", "C"}, Config{Start: t0})
	must(t, err)
	recordTone(t, r, 1)
	res, err := r.Finish(t.Context())
	if !errors.Is(err, ErrNoUploader) || res.Path != d.FilePath(ID{"A", "B", "C"}, WAV) {
		t.Fatalf("Finish: %+v, %v", res, err)
	}
	recs, err := d.Recover(t.Context())
	must(t, err)
	if len(recs) != 1 || recs[0].Uploaded || recs[0].Info.Duration != time.Second {
		t.Fatalf("Recover: %+v", recs)
	}
	if _, err := OpenDir(DirConfig{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("OpenDir without a path: %v", err)
	}
}

// TestDirAbort: an aborted recording leaves nothing.
func TestDirAbort(t *testing.T) {
	d, err := OpenDir(DirConfig{Path: t.TempDir()})
	must(t, err)
	id := ID{"A", "B", "C"}
	r, err := d.Create(id, Config{Start: t0})
	must(t, err)
	recordTone(t, r, 1)
	must(t, r.Abort())
	if _, err := os.Stat(r.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("aborted file still there: %v", err)
	}
	r2, err := d.Create(id, Config{Start: t0})
	must(t, err)
	if _, err := d.Create(id, Config{Start: t0}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create of a recording in progress: %v, want fs.ErrExist", err)
	}
	_, err = r2.Stop()
	must(t, err)
}

func TestIDs(t *testing.T) {
	bad := []ID{
		{"", "AP", "S"},
		{"AC", "AP/x", "S"},
		{"AC", "AP", ".."},
		{"AC", "AP", ".hidden"},
		{"AC", "AP\\x", "S"},
		{"AC\x00", "AP", "S"},
		{"AC", "AP", "S\n"},
		{"AC", "AP", strings.Repeat("s", 201)},
	}
	d, err := OpenDir(DirConfig{Path: t.TempDir()})
	must(t, err)
	for _, id := range bad {
		if err := id.Validate(); !errors.Is(err, ErrBadID) {
			t.Errorf("Validate(%q): %v, want ErrBadID", id, err)
		}
		if _, err := d.Create(id, Config{}); !errors.Is(err, ErrBadID) {
			t.Errorf("Create(%q): %v, want ErrBadID", id, err)
		}
	}
	for _, tc := range []struct {
		key string
		id  ID
		f   Format
	}{
		{"AC1/AP1/S1.wav", ID{"AC1", "AP1", "S1"}, WAV},
		{"AC1/AP1/S1.mp3", ID{"AC1", "AP1", "S1"}, MP3},
		{"a b/c-d/e.f.wav", ID{"a b", "c-d", "e.f"}, WAV},
	} {
		id, f, err := ParseKey(tc.key)
		if err != nil || id != tc.id || f != tc.f || id.Key(f) != tc.key {
			t.Errorf("ParseKey(%q) = %+v, %v, %v", tc.key, id, f, err)
		}
	}
	for _, k := range []string{"", "a/b", "a/b/c", "a/b/c.ogg", "a/b/c/d.wav", "a//c.wav", "a/b/.wav", "../b/c.wav"} {
		if _, _, err := ParseKey(k); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseKey(%q): %v, want ErrBadID", k, err)
		}
	}
}

// FuzzParseKey: what parses is a valid ID and formats back to the key.
func FuzzParseKey(f *testing.F) {
	for _, k := range []string{"AC1/AP1/S1.wav", "a/b/c.mp3", "a/b/c.WAV", "a/b/.wav", "x/y/z.tar.mp3", "a/b/c"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		id, format, err := ParseKey(key)
		if err != nil {
			return
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("ParseKey(%q) gave an invalid ID: %v", key, err)
		}
		if got := id.Key(format); !strings.EqualFold(got, key) {
			t.Fatalf("ParseKey(%q) = %+v %v, which formats as %q", key, id, format, got)
		}
		id2, f2, err := ParseKey(id.Key(format))
		if err != nil || id2 != id || f2 != format {
			t.Fatalf("round trip of %q: %+v %v %v", key, id2, f2, err)
		}
	})
}

func TestFormatText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
	}{{"wav", WAV}, {"WAV", WAV}, {".mp3", MP3}, {"Mp3", MP3}} {
		var f Format
		if err := f.UnmarshalText([]byte(tc.in)); err != nil || f != tc.want {
			t.Errorf("UnmarshalText(%q) = %v, %v", tc.in, f, err)
		}
		b, err := f.MarshalText()
		if err != nil || string(b) != tc.want.String() {
			t.Errorf("MarshalText = %q, %v", b, err)
		}
	}
	if _, err := ParseFormat("ogg"); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), `"ogg"`) {
		t.Errorf("ParseFormat(ogg): %v", err)
	}
	if _, err := Format(9).MarshalText(); err == nil {
		t.Error("MarshalText of an unknown format succeeded")
	}
	for v, want := range map[interface{ String() string }]string{
		WAV: "wav", MP3: "mp3", LayoutAuto: "auto", LayoutMono: "mono", LayoutStereo: "stereo",
		ChannelLeft: "left", ChannelRight: "right", ChannelBoth: "both", ChannelAuto: "auto",
		PauseSilence: "silence", PauseCut: "cut", Format(9): "Format(9)",
	} {
		if v.String() != want {
			t.Errorf("%#v.String() = %q, want %q", v, v.String(), want)
		}
	}
}
