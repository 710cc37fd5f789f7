package recording

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// dirBucket is the test's stand-in for a bucket behind storage's spool.
// Package storage is being written at the same time as this one, so these
// tests use the recorder's own Uploader interface with a bucket that is a
// local directory (what storage's file bucket is) and can be taken down.
type dirBucket struct {
	root string
	mu   sync.Mutex
	down bool
	puts map[string]int
	ct   map[string]string
}

func newDirBucket(t *testing.T) *dirBucket {
	return &dirBucket{root: t.TempDir(), puts: map[string]int{}, ct: map[string]string{}}
}

func (b *dirBucket) Upload(ctx context.Context, o Object) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return errors.New("bucket unreachable: connection refused")
	}
	data, err := os.ReadFile(o.Path)
	if err != nil {
		return err
	}
	if int64(len(data)) != o.Size {
		return errors.New("size mismatch")
	}
	dst := filepath.Join(b.root, filepath.FromSlash(o.Key))
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return err
	}
	b.puts[o.Key]++
	b.ct[o.Key] = o.ContentType
	return nil
}

func (b *dirBucket) setDown(v bool) { b.mu.Lock(); b.down = v; b.mu.Unlock() }

func (b *dirBucket) path(key string) string { return filepath.Join(b.root, filepath.FromSlash(key)) }

// recordTone records secs seconds of a 1 kHz tone on one stream.
func recordTone(t *testing.T, r *Recorder, secs int) {
	t.Helper()
	s := r.Stream(0)
	must(t, s.StartAt(0))
	for k := int64(0); k < int64(50*secs); k++ {
		must(t, s.Write(k*160, tone(1000, 8000, rate8k, k*160, 160)))
	}
}

func TestDirFinishUploads(t *testing.T) {
	for _, f := range []Format{WAV, MP3} {
		t.Run(f.String(), func(t *testing.T) {
			var l *LAME
			if f == MP3 {
				l = requireLAME(t)
			}
			bucket := newDirBucket(t)
			d, err := OpenDir(DirConfig{Path: t.TempDir(), Uploader: bucket})
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
			if res.Key != key || !res.Uploaded || res.Duration != 2*time.Second || res.Format != f || res.ID != id {
				t.Fatalf("Result %+v; want key %s uploaded, 2 s", res, key)
			}
			if bucket.puts[key] != 1 || bucket.ct[key] != f.ContentType() {
				t.Fatalf("bucket: %v puts, content type %q", bucket.puts, bucket.ct[key])
			}
			info, err := Inspect(bucket.path(key))
			must(t, err)
			if info.Duration != 2*time.Second || info.Size != res.Size {
				t.Errorf("the object in the bucket: %+v, want 2 s and %d bytes", info, res.Size)
			}
			if _, err := os.Stat(res.Path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("local file still there after upload: %v", err)
			}
			// Finishing again is harmless and reported; nothing is uploaded twice.
			res2, err := r.Finish(t.Context())
			if !errors.Is(err, ErrStopped) || res2 != res || bucket.puts[key] != 1 {
				t.Errorf("second Finish: %+v, %v, %d puts", res2, err, bucket.puts[key])
			}
		})
	}
}

// TestDirBucketDown: when the bucket is down the finished file stays in the
// directory, nothing is lost, and a later Finish uploads it exactly once.
func TestDirBucketDown(t *testing.T) {
	bucket := newDirBucket(t)
	bucket.setDown(true)
	d, err := OpenDir(DirConfig{Path: t.TempDir(), Uploader: bucket})
	must(t, err)
	id := ID{"AC1", "AP1", "S1"}
	r, err := d.Create(id, Config{Start: t0})
	must(t, err)
	recordTone(t, r, 1)
	res, err := r.Finish(t.Context())
	if !errors.Is(err, ErrUpload) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "AC1/AP1/S1.wav") {
		t.Fatalf("Finish with the bucket down: %v; want ErrUpload naming the key and the cause", err)
	}
	if res.Uploaded || res.Path != d.FilePath(id, WAV) {
		t.Fatalf("Result %+v; want not uploaded, at %s", res, d.FilePath(id, WAV))
	}
	if w := readWAV(t, res.Path); w.frames() != 8000 {
		t.Fatalf("the spooled file has %d frames, want 8000", w.frames())
	}
	if len(bucket.puts) != 0 {
		t.Fatal("something reached a bucket that is down")
	}
	// The same recording cannot be started again while it waits.
	if _, err := d.Create(id, Config{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create of a recording waiting for upload: %v, want fs.ErrExist", err)
	}
	bucket.setDown(false)
	res, err = r.Finish(t.Context())
	must(t, err)
	if !res.Uploaded || bucket.puts["AC1/AP1/S1.wav"] != 1 {
		t.Fatalf("after the bucket came back: %+v, %v puts", res, bucket.puts)
	}
	if _, err := os.Stat(res.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("local file still there after upload: %v", err)
	}
	if w := readWAV(t, bucket.path("AC1/AP1/S1.wav")); w.frames() != 8000 {
		t.Errorf("uploaded file has %d frames, want 8000", w.frames())
	}
}

// TestDirRecover: after a crash (a recording never stopped, another one
// finished but not uploaded) a new process repairs and uploads both, and a
// recording still active in this process is left alone.
func TestDirRecover(t *testing.T) {
	root := t.TempDir()
	bucket := newDirBucket(t)
	bucket.setDown(true)
	d1, err := OpenDir(DirConfig{Path: root, Uploader: bucket})
	must(t, err)

	// Finished, upload failed.
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
	bucket.setDown(false)
	recs, err := d1.Recover(t.Context())
	must(t, err)
	if len(recs) != 1 || recs[0].Key != "AC1/AP1/done.wav" || !recs[0].Uploaded || recs[0].Repair != nil {
		t.Fatalf("Recover in the same process: %+v", recs)
	}
	if _, err := os.Stat(cut.Path()); err != nil {
		t.Fatalf("Recover touched an active recording: %v", err)
	}

	// A new process (the old one crashed): the bucket is down at first.
	bucket.setDown(true)
	d2, err := OpenDir(DirConfig{Path: root, Uploader: bucket})
	must(t, err)
	recs, err = d2.Recover(t.Context())
	if !errors.Is(err, ErrUpload) || len(recs) != 1 {
		t.Fatalf("Recover with the bucket down: %+v, %v", recs, err)
	}
	rc := recs[0]
	if rc.Key != "AC1/AP2/cut.wav" || rc.Repair == nil || !rc.Repair.Changed || rc.Repair.Truncated != 1 || rc.Uploaded || !errors.Is(rc.Err, ErrUpload) {
		t.Fatalf("Recovered %+v (repair %+v)", rc, rc.Repair)
	}
	if rc.Info.Duration != 2*time.Second || rc.Path != d2.FilePath(ID{"AC1", "AP2", "cut"}, WAV) {
		t.Errorf("recovered file: %+v at %s", rc.Info, rc.Path)
	}
	// The bucket is back: the next Recover uploads it, once.
	bucket.setDown(false)
	recs, err = d2.Recover(t.Context())
	must(t, err)
	if len(recs) != 1 || !recs[0].Uploaded || recs[0].Repair != nil || bucket.puts["AC1/AP2/cut.wav"] != 1 {
		t.Fatalf("second Recover: %+v, puts %v", recs, bucket.puts)
	}
	w := readWAV(t, bucket.path("AC1/AP2/cut.wav"))
	m := newModel(1, 16000)
	m.put(0, 0, tone(1000, 8000, rate8k, 0, 16000))
	m.compare(t, w)
	if recs, err := d2.Recover(t.Context()); err != nil || len(recs) != 0 {
		t.Errorf("third Recover: %+v, %v; want nothing left", recs, err)
	}
	if bucket.puts["AC1/AP1/done.wav"] != 1 {
		t.Errorf("puts %v", bucket.puts)
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
