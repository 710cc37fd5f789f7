//go:build linux

package storage_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// A recording on another file system than the spool (here tmpfs /dev/shm)
// is copied in, synced, and only then removed from where it was.
func TestSpoolEnqueueAcrossFileSystems(t *testing.T) {
	shm, err := os.MkdirTemp("/dev/shm", "voicegw-spool-test")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	defer os.RemoveAll(shm)
	dir := t.TempDir()
	var a, b syscall.Stat_t
	if syscall.Stat(shm, &a) != nil || syscall.Stat(dir, &b) != nil || a.Dev == b.Dev {
		t.Skip("/dev/shm is on the same file system as the temporary directory")
	}
	srvBucket := openMemory(t)
	sp := openSpool(t, dir, storageSpoolConfig(srvBucket))
	defer sp.Close()
	name, content := recording(t, shm, "call.wav", time.Second)
	it, err := sp.Enqueue(context.Background(), name, "AC1/AP1/RE1.wav", nil)
	if err != nil {
		t.Fatalf("Enqueue across file systems: %v", err)
	}
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("source not removed after the copy: %v", err)
	}
	got, err := os.ReadFile(dir + "/" + it.ID + ".data")
	if err != nil || string(got) != string(content) {
		t.Fatalf("spooled copy differs: %v", err)
	}
	run(t, sp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sp.WaitEmpty(ctx); err != nil {
		t.Fatal(err)
	}
	if string(objectBytes(t, srvBucket, "AC1/AP1/RE1.wav")) != string(content) {
		t.Fatal("object differs")
	}
}
