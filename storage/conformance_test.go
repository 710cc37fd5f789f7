package storage_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"gocloud.dev/blob/fileblob"

	"github.com/voicegw/voicegw/rbac/secret"
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
	unreach.Azure.ConnectionString = secret.String("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" +
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

// Amazon S3 (VendorS3) has no endpoint setting: Open sends every request to
// https://BUCKET.s3.REGION.amazonaws.com, with virtual-hosted addressing and
// CRC32 trailing checksums in aws-chunked bodies (the SDK's form for https).
// Tests have no network, so the configuration's HTTP client
// (Options.HTTPClient, S3Server.AmazonHTTPClient) carries those requests,
// unchanged but for the scheme, to the in-process S3 server on loopback. The
// server checks the SigV4 signature made for the amazonaws.com host, decodes
// the aws-chunked body and verifies its checksum, and serves the request as
// gofakes3's path-style one. Everything above the transport is what runs
// against Amazon.
func TestConformanceAmazonS3(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	hc := srv.AmazonHTTPClient()
	wrong := srv.AmazonConfig("recordings", confTags)
	wrong.S3.SecretAccessKey = "not-the-secret-key-at-all-0123456789"
	storagetest.RunConformance(t, storagetest.Harness{
		Config:           srv.AmazonConfig("recordings", confTags),
		Options:          &storage.Options{HTTPClient: hc},
		WrongCredentials: wrong,
		MissingBucket:    srv.AmazonConfig("no-such-bucket", confTags),
		// Unreachable: Amazon configurations have no endpoint; see below.
		VendorTags: func(ctx context.Context, key string) (map[string]string, error) {
			return srv.Tagging(ctx, "recordings", key)
		},
		SignedURLs: true,
		HTTPClient: hc,
	})

	t.Run("RequestsAreAmazons", func(t *testing.T) {
		// What the server saw is Amazon's form, not S3-compatible's: the
		// virtual-hosted host and a verified trailing CRC32.
		var seen []string
		rec := &recordingTransport{next: hc.Transport, seen: &seen}
		b, err := storage.Open(context.Background(), srv.AmazonConfig("recordings", confTags), &storage.Options{HTTPClient: &http.Client{Transport: rec}})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		body := storagetest.WAV(8000, 1, time.Second)
		if err := b.Upload(context.Background(), "AC1/AP1/amazon.wav", bytes.NewReader(body), int64(len(body)), nil); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1 || seen[0] != "PUT https://recordings.s3.us-east-1.amazonaws.com/AC1/AP1/amazon.wav?x-id=PutObject STREAMING-UNSIGNED-PAYLOAD-TRAILER x-amz-checksum-crc32 checksum-answered" {
			t.Fatalf("requests: %q", seen)
		}
		if srv.Writes("recordings", "AC1/AP1/amazon.wav") != 1 {
			t.Fatalf("server counted %d writes", srv.Writes("recordings", "AC1/AP1/amazon.wav"))
		}
	})

	t.Run("UnreachableAmazon", func(t *testing.T) {
		// Amazon itself unreachable: the transport's connection is refused.
		down := storagetest.NewS3Server(t)
		client := down.AmazonHTTPClient()
		down.Stop()
		opts := &storage.Options{HTTPClient: client, Retry: storage.RetryPolicy{Attempts: 1}}
		err := storage.Test(context.Background(), srv.AmazonConfig("recordings", confTags), opts)
		if !errors.Is(err, storage.ErrUnreachable) {
			t.Fatalf("Test = %v, want ErrUnreachable", err)
		}
	})
}

// recordingTransport notes each request's method, URL, payload hash and
// trailer, and whether the answer carried the trailer's checksum.
type recordingTransport struct {
	next http.RoundTripper
	seen *[]string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	tr := req.Header.Get("X-Amz-Trailer")
	answered := "no-checksum-answer"
	if tr != "" && resp.Header.Get(tr) != "" {
		answered = "checksum-answered"
	}
	*r.seen = append(*r.seen, req.Method+" "+req.URL.String()+" "+req.Header.Get("X-Amz-Content-Sha256")+" "+tr+" "+answered)
	return resp, nil
}
