package spool_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/storage"
)

// A gateway's recordings go to each account's bucket through one spool:
// the account SID is the spool's target, and Resolve returns its bucket.
func ExampleUploader() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "spool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	// Buckets by account (memory here; each account's S3, GCS, Azure or
	// directory configuration in production, opened with storage.Open).
	buckets := map[string]*storage.Bucket{}
	for _, acc := range []string{"AC1", "AC2"} {
		b, err := storage.Open(ctx, storage.Config{Vendor: storage.VendorMemory}, nil)
		if err != nil {
			log.Fatal(err)
		}
		defer b.Close()
		buckets[acc] = b
	}
	sp, err := storage.OpenSpool(storage.SpoolConfig{
		Dir: filepath.Join(root, "upload"),
		Resolve: func(ctx context.Context, account string) (*storage.Bucket, error) {
			if b, ok := buckets[account]; ok {
				return b, nil
			}
			return nil, fmt.Errorf("no bucket for account %s", account)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sp.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sp.Run(runCtx) }()
	defer func() { stop(); <-done }()

	uploader := &spool.Uploader{Spool: sp}
	dir, err := recording.OpenDir(recording.DirConfig{Path: filepath.Join(root, "rec"), Uploader: uploader})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := dir.Create(recording.ID{Account: "AC2", Application: "AP1", Session: "S1"}, recording.Config{})
	if err != nil {
		log.Fatal(err)
	}
	_ = rec.Stream(0).StartAt(0)
	_ = rec.Stream(0).Write(0, make([]int16, 8000))
	res, err := rec.Finish(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := uploader.Wait(ctx, res.Key); err != nil {
		log.Fatal(err)
	}
	attrs, err := buckets["AC2"].Attributes(ctx, res.Key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Key, "in AC2's bucket:", attrs.ContentType, attrs.Size == res.Size)
	// Output: AC2/AP1/S1.wav in AC2's bucket: audio/wav true
}
