package bucketconfig_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/voicegw/voicegw/storage/bucketconfig"
)

// Validate reports every bad field at once, each as a *FieldError naming the
// field's path in the JSON form, the bad value (never a secret's) and what
// to do, so a form can show one message per field.
func ExampleConfig_Validate() {
	cfg := bucketconfig.Config{Vendor: bucketconfig.VendorS3Compatible, S3Compatible: &bucketconfig.S3Compatible{
		Endpoint:    "minio.example.net:9000", // no scheme
		Bucket:      "recordings",
		AccessKeyID: "minio-voicegw",
		Tags:        bucketconfig.Tags{{Name: "team", Value: "voice"}, {Name: "team", Value: "ops"}},
	}}
	err := cfg.Validate()
	fmt.Println(errors.Is(err, bucketconfig.ErrInvalidConfig))
	for _, fe := range bucketconfig.FieldErrors(err) {
		kind := "invalid"
		if errors.Is(fe, bucketconfig.ErrMissingField) {
			kind = "missing"
		}
		fmt.Printf("%s %s: %v\n", kind, fe.Field, fe)
	}
	// Output:
	// true
	// invalid s3_compatible.endpoint: storage: s3_compatible.endpoint "minio.example.net:9000": an endpoint is an http:// or https:// URL with a host
	// missing s3_compatible.secret_access_key: storage: s3_compatible.secret_access_key: enter the secret access key
	// invalid s3_compatible.tags[1].name: storage: s3_compatible.tags[1].name "team": same name as tag 0
}

// Merge keeps a stored secret when the operator submits the masked form
// back, but asks for it again when the endpoint it would be sent to changed.
func ExampleConfig_Merge() {
	stored := bucketconfig.Config{Vendor: bucketconfig.VendorS3Compatible, S3Compatible: &bucketconfig.S3Compatible{
		Endpoint: "https://minio.example.net:9000", PathStyle: true, Bucket: "recordings",
		AccessKeyID: "minio-voicegw", SecretAccessKey: "minio-secret-0123456789",
	}}
	form, _ := json.Marshal(stored.Masked()) // what the operator sees
	fmt.Println(string(form))

	var same bucketconfig.Config
	_ = json.Unmarshal(form, &same)
	same.S3Compatible.Bucket = "recordings-2023"
	merged, err := stored.Merge(same)
	fmt.Println(merged.S3Compatible.Bucket, merged.S3Compatible.SecretAccessKey.Equal(stored.S3Compatible.SecretAccessKey), err)

	var moved bucketconfig.Config
	_ = json.Unmarshal(form, &moved)
	moved.S3Compatible.Endpoint = "https://attacker.example.com"
	_, err = stored.Merge(moved)
	fmt.Println(errors.Is(err, bucketconfig.ErrMissingField), err)
	// Output:
	// {"vendor":"s3-compatible","s3_compatible":{"endpoint":"https://minio.example.net:9000","path_style":true,"bucket":"recordings","access_key_id":"minio-voicegw","secret_access_key":"miniXXXXXXXXXXXXXXXXXXX"}}
	// recordings-2023 true <nil>
	// true storage: s3_compatible.secret_access_key: the endpoint changed: enter the secret again
}
