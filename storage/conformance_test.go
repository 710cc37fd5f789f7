package storage_test

import (
	"context"
	"path/filepath"
	"testing"

	"gocloud.dev/blob/fileblob"

	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/storagetest"
)

var confTags = storage.Tags{{Name: "team", Value: "voice"}, {Name: "env", Value: "test env"}}

func TestConformanceS3Compatible(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	wrong := srv.Config("recordings", confTags)
	wrong.S3Compatible.SecretAccessKey = "not-the-secret-key-at-all-0123456789"
	unreach := srv.Config("recordings", confTags)
	unreach.S3Compatible.Endpoint = storagetest.UnreachableEndpoint(t)
	storagetest.RunConformance(t, storagetest.Harness{
		Config:           srv.Config("recordings", confTags),
		WrongCredentials: wrong,
		MissingBucket:    srv.Config("no-such-bucket", confTags),
		Unreachable:      unreach,
		VendorTags: func(ctx context.Context, key string) (map[string]string, error) {
			return srv.Tagging(ctx, "recordings", key)
		},
		SignedURLs: true,
	})
}

func TestConformanceGCS(t *testing.T) {
	srv := storagetest.NewGCSServer(t)
	srv.CreateBucket("recordings")
	wrong := srv.Config("recordings", confTags)
	wrong.GCS.ServiceKey = srv.WrongServiceKey()
	unreach := srv.Config("recordings", confTags)
	unreach.GCS.Endpoint = storagetest.UnreachableEndpoint(t) + "/storage/v1/"
	storagetest.RunConformance(t, storagetest.Harness{
		Config:           srv.Config("recordings", confTags),
		WrongCredentials: wrong,
		MissingBucket:    srv.Config("no-such-bucket", confTags),
		Unreachable:      unreach,
		VendorTags: func(ctx context.Context, key string) (map[string]string, error) {
			md, _, err := srv.ObjectMetadata(ctx, "recordings", key)
			return md, err
		},
		SignedURLs: true,
	})
}

func TestConformanceAzure(t *testing.T) {
	az := storagetest.StartAzurite(t)
	az.CreateContainer(t, "recordings")
	wrong := az.Config("recordings", confTags)
	wrong.Azure.ConnectionString = az.WrongConnectionString()
	unreach := az.Config("recordings", confTags)
	unreach.Azure.ConnectionString = storage.Secret("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" +
		"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=" +
		storagetest.UnreachableEndpoint(t) + "/devstoreaccount1;")
	storagetest.RunConformance(t, storagetest.Harness{
		Config:           az.Config("recordings", confTags),
		WrongCredentials: wrong,
		MissingBucket:    az.Config("no-such-container", confTags),
		Unreachable:      unreach,
		VendorTags: func(ctx context.Context, key string) (map[string]string, error) {
			return az.BlobTags(ctx, "recordings", key)
		},
		SignedURLs: true,
	})
}

func TestConformanceFile(t *testing.T) {
	dir := t.TempDir()
	cfg := storage.Config{Vendor: storage.VendorFile, File: &storage.FileConfig{Dir: dir, Tags: confTags}}
	storagetest.RunConformance(t, storagetest.Harness{
		Config:        cfg,
		MissingBucket: storage.Config{Vendor: storage.VendorFile, File: &storage.FileConfig{Dir: filepath.Join(dir, "missing")}},
		VendorTags: func(ctx context.Context, key string) (map[string]string, error) {
			// The directory's own reader: fileblob's sidecar attributes.
			b, err := fileblob.OpenBucket(dir, nil)
			if err != nil {
				return nil, err
			}
			defer b.Close()
			a, err := b.Attributes(ctx, key)
			if err != nil {
				return nil, err
			}
			return a.Metadata, nil
		},
	})
}

func TestConformanceMemory(t *testing.T) {
	cfg := storage.Config{Vendor: storage.VendorMemory, Memory: &storage.MemoryConfig{Tags: confTags}}
	// Every Open of a memory configuration is a new bucket: share one, and
	// read tags through the blob API of that bucket (memory has no other
	// client).
	shared, err := storage.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	storagetest.RunConformance(t, storagetest.Harness{
		Config: cfg,
		Open: func(context.Context, *storage.Options) (*storage.Bucket, error) {
			return shared, nil
		},
		VendorTags: func(ctx context.Context, key string) (map[string]string, error) {
			a, err := shared.Blob().Attributes(ctx, key)
			if err != nil {
				return nil, err
			}
			return a.Metadata, nil
		},
	})
}
