package recording_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/storage"
)

// The tests hand recordings to package storage's real spool and real
// buckets: a file bucket (a directory, through gocloud.dev's fileblob) and
// the in-process S3 server of storage/storagetest (gofakes3 behind an AWS
// Signature Version 4 check). No test-only uploader is left.

// fastRetry keeps a bucket's own retries short, so a failing try reaches
// the spool (and its backoff) quickly.
var fastRetry = &storage.Options{Retry: storage.RetryPolicy{Attempts: 2, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}}

// fileBucket opens a file bucket in a new directory and returns it and the
// directory.
func fileBucket(t testing.TB) (*storage.Bucket, string) {
	t.Helper()
	root := t.TempDir()
	b, err := storage.Open(context.Background(), storage.Config{Vendor: storage.VendorFile, File: &storage.FileConfig{Dir: root}}, fastRetry)
	Must(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b, root
}

// testSpool is a storage.Spool running in the background.
type testSpool struct {
	*storage.Spool
	dir    string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startSpool opens a spool in dir with short backoffs and runs it until
// stop, which the end of the test calls too.
func startSpool(t testing.TB, dir string, cfg storage.SpoolConfig) *testSpool {
	t.Helper()
	cfg.Dir = dir
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 20 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 100 * time.Millisecond
	}
	sp, err := storage.OpenSpool(cfg)
	Must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s := &testSpool{Spool: sp, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- sp.Run(ctx) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop stops Run and closes the spool (its items stay in the directory).
func (s *testSpool) stop(t testing.TB) {
	s.once.Do(func() {
		s.cancel()
		if err := <-s.done; err != nil {
			t.Errorf("Spool.Run: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Spool.Close: %v", err)
		}
	})
}

// spoolFiles returns the names in a spool directory besides its lock file.
func spoolFiles(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	Must(t, err)
	var out []string
	for _, e := range es {
		if e.Name() != ".lock" {
			out = append(out, e.Name())
		}
	}
	return out
}

// download copies key from b into a local file named after the key's base
// name and returns its path.
func download(t testing.TB, b *storage.Bucket, key string) string {
	t.Helper()
	r, err := b.NewReader(context.Background(), key)
	Must(t, err)
	defer r.Close()
	path := filepath.Join(t.TempDir(), filepath.Base(key))
	f, err := os.Create(path)
	Must(t, err)
	if _, err := io.Copy(f, r); err != nil {
		t.Fatal(err)
	}
	Must(t, f.Close())
	return path
}

// waitFor polls cond every 5 ms until it holds, or fails the test after
// 20 s (a bound on a broken test, not a timing assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// landed waits (at most 20 s) until the uploader's spool no longer holds key.
func landed(t testing.TB, up *spool.Uploader, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := up.Wait(ctx, key); err != nil {
		t.Fatalf("spool.Uploader.Wait(%s): %v", key, err)
	}
}

// notExist fails unless path is gone.
func notExist(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there (%v)", path, err)
	}
}
