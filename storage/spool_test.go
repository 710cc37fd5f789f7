package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/storagetest"
)

// fastOptions keep retries short so the tests run in well under a second
// per failure.
var fastOptions = &storage.Options{Retry: storage.RetryPolicy{Attempts: 2, MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}}

func openS3(t *testing.T, srv *storagetest.S3Server, bucket string) *storage.Bucket {
	t.Helper()
	b, err := storage.Open(context.Background(), srv.Config(bucket, storage.Tags{{Name: "team", Value: "voice"}}), fastOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func openSpool(t *testing.T, dir string, cfg storage.SpoolConfig) *storage.Spool {
	t.Helper()
	cfg.Dir = dir
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 10 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 40 * time.Millisecond
	}
	s, err := storage.OpenSpool(cfg)
	if err != nil {
		t.Fatalf("OpenSpool: %v", err)
	}
	return s
}

// run starts s.Run and returns a stop function that waits for it.
func run(t *testing.T, s *storage.Spool) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func recording(t *testing.T, dir, name string, d time.Duration) (string, []byte) {
	t.Helper()
	content := storagetest.WAV(8000, 2, d)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, content
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Name() != ".lock" {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// itemFiles lists the data and manifest files, leaving out a manifest
// being rewritten right now (*.tmp) by a running spool.
func itemFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range spoolFiles(t, dir) {
		if !strings.HasSuffix(f, ".tmp") {
			out = append(out, f)
		}
	}
	return out
}

func objectBytes(t *testing.T, b *storage.Bucket, key string) []byte {
	t.Helper()
	r, err := b.NewReader(context.Background(), key)
	if err != nil {
		t.Fatalf("NewReader(%s): %v", key, err)
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The bucket is down while a recording is handed over; it waits in the
// spool, lands exactly once when the bucket is back, and the spool empties.
func TestSpoolBucketDownThenBack(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	b := openS3(t, srv, "recordings")
	dir, src := t.TempDir(), t.TempDir()
	var landed, failed []storage.Item
	var mu sync.Mutex
	sp := openSpool(t, dir, storage.SpoolConfig{Bucket: b, OnUploaded: func(it storage.Item) {
		mu.Lock()
		landed = append(landed, it)
		mu.Unlock()
	}, OnFailed: func(it storage.Item) {
		mu.Lock()
		failed = append(failed, it)
		mu.Unlock()
	}})
	defer sp.Close()

	srv.Stop()
	name, content := recording(t, src, "call.wav", 5*time.Second)
	key, err := storage.RecordingKey("AC1", "AP1", "RE1", "wav")
	if err != nil {
		t.Fatal(err)
	}
	it, err := sp.Enqueue(context.Background(), name, key, &storage.EnqueueOptions{Tags: storage.Tags{{Name: "session", Value: "RE1"}}})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Enqueue left the source file (stat: %v); the spool owns it now", err)
	}
	run(t, sp)
	waitFor(t, "two failed tries", func() bool {
		got, ok := sp.Inspect(it.ID)
		return ok && got.Attempts >= 2 && got.LastError != ""
	})
	got, _ := sp.Inspect(it.ID)
	if got.Reason != storage.ErrUnreachable.Error() || got.Key != key || got.Size != int64(len(content)) {
		t.Fatalf("Inspect = %+v; want reason %q", got, storage.ErrUnreachable)
	}
	if files := itemFiles(t, dir); len(files) != 2 {
		t.Fatalf("spool directory holds %v; want the data and its manifest", files)
	}
	if list := sp.List(); len(list) != 1 || list[0].ID != it.ID {
		t.Fatalf("List = %+v", list)
	}
	if byKey, ok := sp.InspectKey(key); !ok || byKey.ID != it.ID || byKey.Attempts < 2 {
		t.Fatalf("InspectKey(%s) = %+v, %v", key, byKey, ok)
	}
	if _, ok := sp.InspectKey("AC1/AP1/other.wav"); ok {
		t.Fatal("InspectKey found a key that was never enqueued")
	}
	waitFor(t, "two OnFailed calls", func() bool { mu.Lock(); defer mu.Unlock(); return len(failed) >= 2 })
	mu.Lock()
	if len(failed) < 2 || failed[0].ID != it.ID || failed[0].Attempts != 1 || failed[1].Attempts != 2 ||
		failed[0].LastError == "" || failed[0].Reason != storage.ErrUnreachable.Error() || failed[0].Uploading {
		t.Fatalf("OnFailed calls: %+v", failed)
	}
	failures := len(failed)
	mu.Unlock()

	srv.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sp.WaitEmpty(ctx); err != nil {
		t.Fatalf("spool did not empty after the bucket came back: %v (items %+v)", err, sp.List())
	}
	if n := srv.Writes("recordings", key); n != 1 {
		t.Fatalf("object written %d times, want exactly once", n)
	}
	if _, ok := sp.InspectKey(key); ok {
		t.Fatal("InspectKey still finds the landed recording")
	}
	if !bytes.Equal(objectBytes(t, b, key), content) {
		t.Fatal("landed object differs from the recording")
	}
	tags, err := srv.Tagging(ctx, "recordings", key)
	if err != nil || tags["team"] != "voice" || tags["session"] != "RE1" {
		t.Fatalf("tags of the landed object: %v, %v", tags, err)
	}
	if files := spoolFiles(t, dir); len(files) != 0 {
		t.Fatalf("spool directory not empty after landing: %v", files)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(landed) != 1 || landed[0].ID != it.ID {
		t.Fatalf("OnUploaded calls: %+v", landed)
	}
	if len(failed) > failures+1 {
		t.Fatalf("OnFailed called %d more times after the bucket came back", len(failed)-failures)
	}
}

// A restart while the bucket is down loses nothing: the new spool reads the
// directory back, with the attempts and the last error, and uploads every
// recording once.
func TestSpoolSurvivesRestart(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	b := openS3(t, srv, "recordings")
	dir, src := t.TempDir(), t.TempDir()

	srv.Stop()
	sp := openSpool(t, dir, storage.SpoolConfig{Bucket: b})
	want := map[string][]byte{}
	for _, id := range []string{"RE1", "RE2", "RE3"} {
		name, content := recording(t, src, id+".wav", time.Second)
		key, _ := storage.RecordingKey("AC1", "AP1", id, "wav")
		if _, err := sp.Enqueue(context.Background(), name, key, nil); err != nil {
			t.Fatal(err)
		}
		want[key] = content
	}
	stop := run(t, sp)
	waitFor(t, "a failed try of every item", func() bool {
		for _, it := range sp.List() {
			if it.Attempts == 0 || it.LastError == "" {
				return false
			}
		}
		return true
	})
	stop()
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	// "Process restart": a new spool on the same directory.
	sp2 := openSpool(t, dir, storage.SpoolConfig{Bucket: b})
	defer sp2.Close()
	list := sp2.List()
	if len(list) != 3 {
		t.Fatalf("after restart the spool lists %d items, want 3: %+v", len(list), list)
	}
	for _, it := range list {
		if it.Attempts == 0 || !strings.Contains(it.LastError, "connection refused") || it.Reason != storage.ErrUnreachable.Error() {
			t.Errorf("restarted item lost its history: %+v", it)
		}
		if _, ok := want[it.Key]; !ok {
			t.Errorf("unexpected key %q", it.Key)
		}
	}
	srv.Start()
	run(t, sp2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sp2.WaitEmpty(ctx); err != nil {
		t.Fatalf("WaitEmpty: %v (%+v)", err, sp2.List())
	}
	for key, content := range want {
		if n := srv.Writes("recordings", key); n != 1 {
			t.Errorf("%s written %d times, want 1", key, n)
		}
		if !bytes.Equal(objectBytes(t, b, key), content) {
			t.Errorf("%s differs from the recording", key)
		}
	}
	if files := spoolFiles(t, dir); len(files) != 0 {
		t.Fatalf("spool directory not empty: %v", files)
	}
}

// The bucket stores the object but the answer is lost (the connection is
// cut): the retry finds the object by its upload ID instead of writing it
// again.
func TestSpoolLostAnswerStoresOnce(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	b := openS3(t, srv, "recordings")
	dir, src := t.TempDir(), t.TempDir()
	sp := openSpool(t, dir, storage.SpoolConfig{Bucket: b})
	defer sp.Close()
	srv.DropNextResponses(1)
	name, content := recording(t, src, "call.wav", time.Second)
	if _, err := sp.Enqueue(context.Background(), name, "AC1/AP1/RE1.wav", nil); err != nil {
		t.Fatal(err)
	}
	run(t, sp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sp.WaitEmpty(ctx); err != nil {
		t.Fatalf("WaitEmpty: %v", err)
	}
	if n := srv.Writes("recordings", "AC1/AP1/RE1.wav"); n != 1 {
		t.Fatalf("object written %d times, want exactly once", n)
	}
	if !bytes.Equal(objectBytes(t, b, "AC1/AP1/RE1.wav"), content) {
		t.Fatal("object differs")
	}
}

// The process stopped after the upload landed but before the spool removed
// its files: after the restart, the spool sees the object is there and
// removes the files without writing again.
func TestSpoolRestartAfterLandingBeforeRemoval(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	b := openS3(t, srv, "recordings")
	dir, src := t.TempDir(), t.TempDir()
	sp := openSpool(t, dir, storage.SpoolConfig{Bucket: b})
	name, _ := recording(t, src, "call.wav", time.Second)
	it, err := sp.Enqueue(context.Background(), name, "AC1/AP1/RE9.wav", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	// What the spool had done before the "crash": counted the attempt in
	// the manifest, uploaded with the item's ID.
	mpath := filepath.Join(dir, it.ID+".json")
	raw, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["attempts"] = 1
	raw, _ = json.Marshal(m)
	if err := os.WriteFile(mpath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.UploadFile(context.Background(), it.Key, filepath.Join(dir, it.ID+".data"), &storage.UploadOptions{UploadID: it.ID}); err != nil {
		t.Fatal(err)
	}

	sp2 := openSpool(t, dir, storage.SpoolConfig{Bucket: b})
	defer sp2.Close()
	run(t, sp2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sp2.WaitEmpty(ctx); err != nil {
		t.Fatal(err)
	}
	if n := srv.Writes("recordings", it.Key); n != 1 {
		t.Fatalf("object written %d times, want 1", n)
	}
}

// A configuration with a wrong secret keeps the recording waiting with the
// reason; once the operator fixes the configuration (seen through Resolve)
// and asks for a retry, it lands.
func TestSpoolBadCredentialsWaitUntilFixed(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	ctx := context.Background()
	good := srv.Config("recordings", nil)
	bad := srv.Config("recordings", nil)
	bad.S3Compatible.SecretAccessKey = "wrong-secret-wrong-secret-wrong-secret"
	var mu sync.Mutex
	cfgs := map[string]storage.Config{"AC1": bad}
	open := map[string]*storage.Bucket{}
	resolve := func(ctx context.Context, target string) (*storage.Bucket, error) {
		mu.Lock()
		defer mu.Unlock()
		if b := open[target]; b != nil {
			return b, nil
		}
		b, err := storage.Open(ctx, cfgs[target], fastOptions)
		if err == nil {
			open[target] = b
		}
		return b, err
	}
	dir, src := t.TempDir(), t.TempDir()
	sp := openSpool(t, dir, storage.SpoolConfig{Resolve: resolve, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	defer sp.Close()
	name, _ := recording(t, src, "call.wav", time.Second)
	it, err := sp.Enqueue(ctx, name, "AC1/AP1/RE1.wav", &storage.EnqueueOptions{Target: "AC1"})
	if err != nil {
		t.Fatal(err)
	}
	run(t, sp)
	waitFor(t, "a failed try", func() bool { got, _ := sp.Inspect(it.ID); return got.Attempts == 1 && got.LastError != "" })
	got, _ := sp.Inspect(it.ID)
	if got.Reason != storage.ErrBadCredentials.Error() || got.NextAttempt.Before(time.Now().Add(20*time.Minute)) {
		t.Fatalf("Inspect = %+v; want reason %q and a retry in about an hour", got, storage.ErrBadCredentials)
	}
	if strings.Contains(got.LastError, "wrong-secret") {
		t.Fatalf("LastError leaks the secret: %s", got.LastError)
	}
	mu.Lock()
	cfgs["AC1"] = good
	_ = open["AC1"].Close()
	delete(open, "AC1")
	mu.Unlock()
	sp.RetryNow()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sp.WaitEmpty(wctx); err != nil {
		t.Fatalf("WaitEmpty after the fix: %v (%+v)", err, sp.List())
	}
	if n := srv.Writes("recordings", "AC1/AP1/RE1.wav"); n != 1 {
		t.Fatalf("written %d times", n)
	}
}

func TestSpoolDirectoryIsLocked(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.Open(context.Background(), storage.Config{Vendor: storage.VendorMemory}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := openSpool(t, dir, storage.SpoolConfig{Bucket: b})
	if _, err := storage.OpenSpool(storage.SpoolConfig{Dir: dir, Bucket: b}); !errors.Is(err, storage.ErrSpoolLocked) {
		t.Fatalf("second OpenSpool = %v, want ErrSpoolLocked", err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	sp2, err := storage.OpenSpool(storage.SpoolConfig{Dir: dir, Bucket: b})
	if err != nil {
		t.Fatalf("OpenSpool after Close: %v", err)
	}
	_ = sp2.Close()
}

func TestSpoolEnqueueRefusesBadInput(t *testing.T) {
	dir, src := t.TempDir(), t.TempDir()
	b, _ := storage.Open(context.Background(), storage.Config{Vendor: storage.VendorMemory}, nil)
	sp := openSpool(t, dir, storage.SpoolConfig{Bucket: b})
	defer sp.Close()
	name, _ := recording(t, src, "call.wav", time.Second)
	for _, tc := range []struct {
		name, file, key string
		tags            storage.Tags
		want            error
	}{
		{"bad key", name, "../x.wav", nil, storage.ErrInvalidKey},
		{"empty key", name, "", nil, storage.ErrInvalidKey},
		{"tag without name", name, "a/b.wav", storage.Tags{{Name: "", Value: "x"}}, storage.ErrInvalidConfig},
		{"missing file", filepath.Join(src, "nope.wav"), "a/b.wav", nil, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sp.Enqueue(context.Background(), tc.file, tc.key, &storage.EnqueueOptions{Tags: tc.tags})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Enqueue = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := sp.Enqueue(context.Background(), src, "a/b.wav", nil); err == nil {
		t.Fatal("Enqueue of a directory succeeded")
	}
	if _, err := os.Stat(name); err != nil {
		t.Fatalf("a refused Enqueue touched the source file: %v", err)
	}
	if files := spoolFiles(t, dir); len(files) != 0 {
		t.Fatalf("refused enqueues left files: %v", files)
	}
}

// TestSpoolEnqueueAfterClose: a closed spool refuses new files with
// ErrClosed and leaves them where they are.
func TestSpoolEnqueueAfterClose(t *testing.T) {
	dir, src := t.TempDir(), t.TempDir()
	b, _ := storage.Open(context.Background(), storage.Config{Vendor: storage.VendorMemory}, nil)
	sp := openSpool(t, dir, storage.SpoolConfig{Bucket: b})
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	name, _ := recording(t, src, "call.wav", time.Second)
	if _, err := sp.Enqueue(context.Background(), name, "a/b.wav", nil); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Enqueue after Close = %v, want ErrClosed", err)
	}
	if _, err := os.Stat(name); err != nil {
		t.Fatalf("the refused file was moved: %v", err)
	}
	if files := spoolFiles(t, dir); len(files) != 0 {
		t.Fatalf("a refused enqueue left files: %v", files)
	}
}

// What a crash can leave in the directory: a half-written temporary file is
// removed, a manifest without data (the move never happened) is removed, and
// data without a manifest is never deleted.
func TestSpoolReloadCleansOnlyWhatIsSafe(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"0001-aa.json.tmp": "{",
		"0002-bb.json":     `{"id":"0002-bb","key":"a/b.wav"}`,
		"0003-cc.data":     "RIFF....",
		"0004-dd.json":     `{"id":"0004-dd","key":"a/c.wav","size":4}`,
		"0004-dd.data":     "RIFF",
		"0005-ee.json":     `not json`,
		"0005-ee.data":     "RIFF",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := storage.Open(context.Background(), storage.Config{Vendor: storage.VendorMemory}, nil)
	sp := openSpool(t, dir, storage.SpoolConfig{Bucket: b})
	defer sp.Close()
	if list := sp.List(); len(list) != 1 || list[0].ID != "0004-dd" || list[0].Key != "a/c.wav" {
		t.Fatalf("List = %+v, want the one complete item", list)
	}
	want := []string{"0003-cc.data", "0004-dd.data", "0004-dd.json", "0005-ee.data", "0005-ee.json"}
	if got := spoolFiles(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files after reload %v, want %v", got, want)
	}
}

func TestRecordingKey(t *testing.T) {
	for _, tc := range []struct {
		acc, app, sess, format, want string
		ok                           bool
	}{
		{"AC1", "AP1", "RE1", "wav", "AC1/AP1/RE1.wav", true},
		{"AC1", "AP1", "RE1", "mp3", "AC1/AP1/RE1.mp3", true},
		{"AC1", "AP1", "RE1", "ogg", "", false},
		{"", "AP1", "RE1", "wav", "", false},
		{"AC1", "AP/1", "RE1", "wav", "", false},
		{"AC1", "..", "RE1", "wav", "", false},
	} {
		got, err := storage.RecordingKey(tc.acc, tc.app, tc.sess, tc.format)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("RecordingKey(%q,%q,%q,%q) = %q, %v", tc.acc, tc.app, tc.sess, tc.format, got, err)
		}
		if err != nil && !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("error %v does not match ErrInvalidKey", err)
		}
	}
}

// Cancelling Run's context stops an upload in flight: Run returns, the item
// stays (with its attempt counted) and lands on the next Run.
func TestSpoolShutdownMidUpload(t *testing.T) {
	// A server that accepts connections and never answers: the upload
	// hangs until its context ends.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	hangCfg := srv.Config("recordings", nil)
	hangCfg.S3Compatible.Endpoint = "http://" + hung.Addr().String()
	hangBucket, err := storage.Open(context.Background(), hangCfg, fastOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer hangBucket.Close()

	dir, src := t.TempDir(), t.TempDir()
	sp := openSpool(t, dir, storage.SpoolConfig{Bucket: hangBucket})
	name, content := recording(t, src, "call.wav", 2*time.Second)
	it, err := sp.Enqueue(context.Background(), name, "AC1/AP1/RE1.wav", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	waitFor(t, "the upload to start", func() bool { got, _ := sp.Inspect(it.ID); return got.Uploading })
	if err := sp.Run(context.Background()); !errors.Is(err, storage.ErrSpoolRunning) {
		t.Fatalf("second Run = %v, want ErrSpoolRunning", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	got, ok := sp.Inspect(it.ID)
	if !ok || got.Uploading || got.Attempts != 1 {
		t.Fatalf("after shutdown: %+v (present %v)", got, ok)
	}
	if len(spoolFiles(t, dir)) != 2 {
		t.Fatalf("files after shutdown: %v", spoolFiles(t, dir))
	}

	_ = sp.Close()

	good := openS3(t, srv, "recordings")
	sp2 := openSpool(t, dir, storage.SpoolConfig{Bucket: good})
	defer sp2.Close()
	run(t, sp2)
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := sp2.WaitEmpty(wctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(objectBytes(t, good, "AC1/AP1/RE1.wav"), content) || srv.Writes("recordings", "AC1/AP1/RE1.wav") != 1 {
		t.Fatal("the recording did not land exactly once after the restart")
	}
}

func openMemory(t *testing.T) *storage.Bucket {
	t.Helper()
	b, err := storage.Open(context.Background(), storage.Config{Vendor: storage.VendorMemory}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func storageSpoolConfig(b *storage.Bucket) storage.SpoolConfig { return storage.SpoolConfig{Bucket: b} }

// A target whose bucket cannot be resolved (no configuration) keeps its
// recording, and the retries slow down.
func TestSpoolUnresolvableTargetBacksOff(t *testing.T) {
	dir, src := t.TempDir(), t.TempDir()
	errNoConfig := errors.New("account AC9 has no recording configuration")
	sp := openSpool(t, dir, storage.SpoolConfig{
		Resolve:    func(context.Context, string) (*storage.Bucket, error) { return nil, errNoConfig },
		MinBackoff: 20 * time.Millisecond, MaxBackoff: time.Hour,
	})
	defer sp.Close()
	name, _ := recording(t, src, "call.wav", time.Second)
	it, err := sp.Enqueue(context.Background(), name, "AC9/AP1/RE1.wav", &storage.EnqueueOptions{Target: "AC9", Tags: storage.Tags{{Name: "cost center", Value: "a b"}}})
	if err != nil {
		t.Fatalf("Enqueue with an S3-style tag: %v", err)
	}
	run(t, sp)
	waitFor(t, "three tries", func() bool { got, _ := sp.Inspect(it.ID); return got.Attempts >= 3 })
	got, _ := sp.Inspect(it.ID)
	if !strings.Contains(got.LastError, "no recording configuration") {
		t.Fatalf("LastError = %q", got.LastError)
	}
	if wait := time.Until(got.NextAttempt); wait < 30*time.Millisecond {
		t.Fatalf("next try in %v after %d failures; the backoff does not grow", wait, got.Attempts)
	}
	if _, err := os.Stat(filepath.Join(dir, it.ID+".data")); err != nil {
		t.Fatalf("the recording left the spool: %v", err)
	}
}
