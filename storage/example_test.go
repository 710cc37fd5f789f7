package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/voicegw/voicegw/storage"
)

// Open a bucket from a configuration, check it with Test, upload a
// recording with its tags.
func ExampleOpen() {
	ctx := context.Background()
	cfg := storage.Config{Vendor: storage.VendorMemory, Memory: &storage.MemoryConfig{
		Tags: storage.Tags{{Name: "team", Value: "voice"}},
	}}
	b, err := storage.Open(ctx, cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	if err := b.Test(ctx); err != nil {
		fmt.Println("test failed:", err)
		return
	}
	key, _ := storage.RecordingKey("AC1", "AP1", "RE1", "wav")
	body := "RIFF....WAVEfmt "
	if err := b.Upload(ctx, key, strings.NewReader(body), int64(len(body)), nil); err != nil {
		fmt.Println(err)
		return
	}
	a, _ := b.Attributes(ctx, key)
	fmt.Println(key, a.ContentType, a.Size, a.Metadata["team"])
	// Output: AC1/AP1/RE1.wav audio/wav 16 voice
}

// Test says which step failed and why, in an error callers can match.
func ExampleTest() {
	cfg := storage.Config{Vendor: storage.VendorFile, File: &storage.FileConfig{Dir: "/nonexistent/recordings"}}
	err := storage.Test(context.Background(), cfg, nil)
	var oe *storage.OpError
	fmt.Println(errors.Is(err, storage.ErrNoSuchBucket), errors.As(err, &oe) && oe.Op == storage.StepOpen)
	// Output: true true
}

// TestURL probes the bucket a URL names; a bucket that cannot be opened
// fails at the open step, as Test's does.
func ExampleTestURL() {
	ctx := context.Background()
	fmt.Println(storage.TestURL(ctx, "mem://", nil))
	err := storage.TestURL(ctx, "file:///nonexistent/recordings", nil)
	var oe *storage.OpError
	fmt.Println(errors.Is(err, storage.ErrNoSuchBucket), errors.As(err, &oe) && oe.Op == storage.StepOpen)
	// Output:
	// <nil>
	// true true
}

// The show-back form masks secrets; a form submitted back unchanged keeps
// the stored secret; stores use the explicit durable encoding.
func ExampleConfig_Merge() {
	stored := storage.Config{Vendor: storage.VendorS3, S3: &storage.S3Config{
		Bucket: "call-recordings", Region: "eu-west-1",
		AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	}}
	shown, _ := json.Marshal(stored.Masked())
	fmt.Println(string(shown))

	var submitted storage.Config
	_ = json.Unmarshal(shown, &submitted)
	submitted.S3.Bucket = "call-recordings-2"
	merged, err := stored.Merge(submitted)
	fmt.Println(merged.S3.Bucket, merged.S3.SecretAccessKey.Equal(stored.S3.SecretAccessKey), err)

	durable, _ := merged.MarshalStored()
	var back storage.Config
	_ = back.UnmarshalStored(durable)
	fmt.Println(back.S3.SecretAccessKey.Equal(stored.S3.SecretAccessKey))
	// Output:
	// {"vendor":"s3","s3":{"bucket":"call-recordings","region":"eu-west-1","access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"wJalXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}}
	// call-recordings-2 true <nil>
	// true
}

// Validate names every bad field.
func ExampleConfig_Validate() {
	cfg := storage.Config{Vendor: storage.VendorAzure, Azure: &storage.AzureConfig{Container: "Recordings"}}
	for _, fe := range storage.FieldErrors(cfg.Validate()) {
		fmt.Println(fe.Field, errors.Is(fe, storage.ErrMissingField))
	}
	// Output:
	// azure.container false
	// azure.connection_string true
}

// How the recording package hands a finished file over: Enqueue moves it
// into the spool and returns; Run uploads it, retrying until the bucket
// confirms it, across restarts.
func ExampleSpool() {
	ctx := context.Background()
	work, _ := os.MkdirTemp("", "voicegw-example")
	defer os.RemoveAll(work)
	b, _ := storage.Open(ctx, storage.Config{Vendor: storage.VendorMemory}, nil)
	defer b.Close()
	spool, err := storage.OpenSpool(storage.SpoolConfig{Dir: filepath.Join(work, "spool"), Bucket: b})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer spool.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- spool.Run(runCtx) }()
	defer func() { stop(); <-done }() // shutdown: in-flight uploads stop, items stay

	// A finished recording.
	name := filepath.Join(work, "RE1.wav")
	_ = os.WriteFile(name, []byte("RIFF....WAVE"), 0o600)
	key, _ := storage.RecordingKey("AC1", "AP1", "RE1", "wav")
	if _, err := spool.Enqueue(ctx, name, key, nil); err != nil {
		fmt.Println(err)
		return
	}

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = spool.WaitEmpty(wctx)
	a, err := b.Attributes(ctx, key)
	fmt.Println(a.Size, a.ContentType, err, spool.Len())
	// Output: 12 audio/wav <nil> 0
}

// Read part of a recording, as a player seeking in it does: one ranged
// request to the vendor, whatever the object's size.
func ExampleBucket_NewRangeReader() {
	ctx := context.Background()
	b, _ := storage.Open(ctx, storage.Config{Vendor: storage.VendorMemory}, nil)
	defer b.Close()
	body := "RIFF....WAVEfmt 0123456789"
	_ = b.Upload(ctx, "AC1/AP1/RE1.wav", strings.NewReader(body), int64(len(body)), nil)

	r, err := b.NewRangeReader(ctx, "AC1/AP1/RE1.wav", 16, 4)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	part, _ := io.ReadAll(r)
	a, _ := b.Attributes(ctx, "AC1/AP1/RE1.wav")
	fmt.Println(string(part), a.Size, a.ETag != "")
	// Output: 0123 26 true
}
