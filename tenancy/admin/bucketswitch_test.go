package admin_test

import (
	"context"
	"testing"

	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// RecordingPatch.Bucket replaces the stored bucket, as documented, through
// the merge patch: switching vendors with the typed client removes the
// previous vendor's section (else the API refuses two vendors' settings).
func TestClientSwitchesBucketVendor(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	ctx := context.Background()
	c := e.client(e.admin)
	mem := bucketconfig.Config{Vendor: bucketconfig.VendorMemory, Memory: &bucketconfig.Memory{}}
	if _, err := c.UpdateRecording(ctx, w.a1.SID, admin.RecordingPatch{Bucket: &mem}, 0); err != nil {
		t.Fatal(err)
	}
	s3 := bucketconfig.Config{Vendor: bucketconfig.VendorS3, S3: &bucketconfig.S3{Bucket: "rec", Region: "eu-west-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}
	got, err := c.UpdateRecording(ctx, w.a1.SID, admin.RecordingPatch{Bucket: &s3}, 0)
	if err != nil {
		t.Fatalf("switching from memory to S3: %v", err)
	}
	if got.Bucket.Vendor != bucketconfig.VendorS3 || got.Bucket.Memory != nil || got.Bucket.S3 == nil {
		t.Fatalf("bucket after the switch %+v", got.Bucket)
	}
	// The same through UpdateAccount.
	a, err := c.UpdateAccount(ctx, w.a1.SID, admin.AccountPatch{Recording: &admin.RecordingPatch{Bucket: &mem}}, 0)
	if err != nil {
		t.Fatalf("switching back through UpdateAccount: %v", err)
	}
	if a.Recording.Bucket.S3 != nil || a.Recording.Bucket.Vendor != bucketconfig.VendorMemory {
		t.Fatalf("bucket after UpdateAccount %+v", a.Recording.Bucket)
	}
	stored, _ := e.tenants.Account(ctx, w.a1.SID)
	if stored.Recording.Bucket.S3 != nil {
		t.Fatal("the stored account keeps the S3 section")
	}
}
