package storagetest_test

import (
	"context"
	"testing"

	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/storagetest"
)

// testS3CompatibleBucket is what a test function of another package looks
// like: start a real protocol server, describe the vendor to the harness,
// run the suite.
func testS3CompatibleBucket(t *testing.T) {
	srv := storagetest.NewS3Server(t) // stopped when t ends
	srv.CreateBucket("recordings")
	tags := storage.Tags{{Name: "team", Value: "voice"}}
	wrong := srv.Config("recordings", tags)
	wrong.S3Compatible.SecretAccessKey = "not-the-secret-key-at-all-0123456789"
	storagetest.RunConformance(t, storagetest.Harness{
		Config:           srv.Config("recordings", tags),
		WrongCredentials: wrong,
		MissingBucket:    srv.Config("no-such-bucket", tags),
		VendorTags: func(ctx context.Context, key string) (map[string]string, error) {
			return srv.Tagging(ctx, "recordings", key)
		},
		SignedURLs: true,
	})
}

// RunConformance needs the *testing.T of a running test (it runs subtests
// and fails them), so this example has no output to check and is only
// compiled; TestExampleRunConformanceHelper runs its helper. The same
// harness runs for every vendor in package storage's conformance_test.go.
func ExampleRunConformance() {
	_ = testS3CompatibleBucket // called as func TestS3CompatibleBucket(t *testing.T) { testS3CompatibleBucket(t) }
}
