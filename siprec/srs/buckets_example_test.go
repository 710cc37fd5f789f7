package srs_test

import (
	"context"
	"fmt"
	"os"

	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

// Probe each account's recording bucket at start, and say which ones fail
// (their recordings would wait in the spool).
func ExampleProbeAccountBuckets() {
	dir, _ := os.MkdirTemp("", "bucket")
	defer os.RemoveAll(dir)
	accounts := []*tenancy.Account{
		{Name: "acme", Recording: tenancy.RecordingConfig{Enabled: true,
			Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: dir}}}},
		{Name: "quiet"}, // records nothing: not probed
	}
	for i, err := range srs.ProbeAccountBuckets(context.Background(), accounts, nil, 0) {
		fmt.Println(accounts[i].Name, err == nil)
	}
	// Output:
	// acme true
	// quiet true
}
