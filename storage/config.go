package storage

import (
	"github.com/voicegw/voicegw/storage/bucketconfig"
)

// The configuration types live in package bucketconfig, which imports only
// the standard library, so configuration stores can embed them without the
// cloud SDKs. These aliases make them the types of this package too:
// storage.Config and bucketconfig.Config are the same type.
type (
	// Config is the configuration of one recording bucket: a Vendor and that
	// vendor's section. See bucketconfig.Config.
	Config = bucketconfig.Config
	// Vendor names a bucket vendor ("s3", "s3-compatible", "gcs", "azure",
	// "file", "memory").
	Vendor = bucketconfig.Vendor
	// S3Config configures an Amazon S3 bucket.
	S3Config = bucketconfig.S3
	// S3CompatibleConfig configures a bucket of an S3-compatible service.
	S3CompatibleConfig = bucketconfig.S3Compatible
	// GCSConfig configures a Google Cloud Storage bucket.
	GCSConfig = bucketconfig.GCS
	// AzureConfig configures an Azure Blob Storage container.
	AzureConfig = bucketconfig.Azure
	// FileConfig configures a local directory as a bucket.
	FileConfig = bucketconfig.File
	// MemoryConfig configures an in-process bucket.
	MemoryConfig = bucketconfig.Memory
	// Tag is a name/value pair applied to every uploaded recording.
	Tag = bucketconfig.Tag
	// Tags is an ordered list of tags.
	Tags = bucketconfig.Tags
	// FieldError names one bad field of a configuration.
	FieldError = bucketconfig.FieldError
)

// The vendors.
const (
	VendorS3           = bucketconfig.VendorS3
	VendorS3Compatible = bucketconfig.VendorS3Compatible
	VendorGCS          = bucketconfig.VendorGCS
	VendorAzure        = bucketconfig.VendorAzure
	VendorFile         = bucketconfig.VendorFile
	VendorMemory       = bucketconfig.VendorMemory
)

// Validation errors; see bucketconfig.
var (
	// ErrInvalidConfig matches every validation error of a configuration.
	ErrInvalidConfig = bucketconfig.ErrInvalidConfig
	// ErrMissingField matches a required field left empty.
	ErrMissingField = bucketconfig.ErrMissingField
	// ErrInvalidField matches a field whose value cannot be right.
	ErrInvalidField = bucketconfig.ErrInvalidField
	// ErrNotStoredForm is returned by Config.UnmarshalStored for data that is
	// not the durable encoding.
	ErrNotStoredForm = bucketconfig.ErrNotStoredForm
)

// FieldErrors returns every *FieldError in an error of Validate (or Merge),
// in order, so a form can show one message per field.
func FieldErrors(err error) []*FieldError { return bucketconfig.FieldErrors(err) }
