// Package bucketconfig holds the typed configuration of a recording bucket,
// as an operator enters it in "Call recording configuration" (Amazon S3,
// S3-compatible, Google Cloud Storage, Azure Blob Storage, a local directory
// or memory): validation that names the bad field, the masked form shown back
// to the operator, the merge of a submitted form that keeps stored secrets,
// and an explicit durable encoding for stores.
//
// The package imports only the standard library (and two small internal
// helpers), so configuration stores
// (the tenancy package, a gateway's config file loader) can embed these types
// without linking any cloud SDK. Package storage re-exports every name here
// (storage.Config is bucketconfig.Config) and turns a Config into a bucket.
//
// # Secrets
//
// Secret fields (S3 secret access key, GCS service key JSON, Azure connection
// string) have type [secret.String]: every printed form is redacted, JSON, YAML and
// text marshalling give the masked form (first characters then X), and
// unmarshalling takes the plain value. So a Config marshalled with
// encoding/json is the show-back form, never the durable one; stores call
// MarshalStored and UnmarshalStored instead.
package bucketconfig

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/voicegw/voicegw/internal/errwalk"
	"github.com/voicegw/voicegw/rbac/secret"
)

// Vendor names a bucket vendor. Its values are what the JSON and YAML forms
// of Config hold in "vendor".
type Vendor string

// The bucket vendors.
const (
	// VendorS3 is Amazon S3.
	VendorS3 Vendor = "s3"
	// VendorS3Compatible is a service that speaks the S3 API at its own
	// endpoint (MinIO, Ceph RGW, Wasabi, Cloudflare R2, ...).
	VendorS3Compatible Vendor = "s3-compatible"
	// VendorGCS is Google Cloud Storage.
	VendorGCS Vendor = "gcs"
	// VendorAzure is Azure Blob Storage.
	VendorAzure Vendor = "azure"
	// VendorFile is a directory of the local file system (development and
	// single-host deployments).
	VendorFile Vendor = "file"
	// VendorMemory is an in-process bucket that forgets everything when the
	// process ends (development and tests).
	VendorMemory Vendor = "memory"
)

// Vendors lists every vendor, in the order a form offers them.
func Vendors() []Vendor {
	return []Vendor{VendorS3, VendorS3Compatible, VendorGCS, VendorAzure, VendorFile, VendorMemory}
}

// Known reports whether v is one of the vendors of this package.
func (v Vendor) Known() bool {
	for _, k := range Vendors() {
		if v == k {
			return true
		}
	}
	return false
}

// Title returns the name a form shows for v ("Amazon S3", ...), or v itself
// when v is unknown.
func (v Vendor) Title() string {
	switch v {
	case VendorS3:
		return "Amazon S3"
	case VendorS3Compatible:
		return "S3-compatible"
	case VendorGCS:
		return "Google Cloud Storage"
	case VendorAzure:
		return "Azure Blob Storage"
	case VendorFile:
		return "Local directory"
	case VendorMemory:
		return "Memory"
	}
	return string(v)
}

// Errors of validation. Every error Validate returns matches ErrInvalidConfig
// and one of ErrMissingField or ErrInvalidField with errors.Is, and is (or
// joins) *FieldError values that name the field.
var (
	// ErrInvalidConfig matches every validation error of a configuration.
	ErrInvalidConfig = errors.New("invalid bucket configuration")
	// ErrMissingField: a required field is empty (or a masked secret was
	// submitted where the stored secret cannot be kept).
	ErrMissingField = errors.New("missing field")
	// ErrInvalidField: a field holds a value that cannot be right.
	ErrInvalidField = errors.New("invalid field")
)

// FieldError is one bad field of a configuration.
type FieldError struct {
	// Field is the path of the field in the JSON/YAML form, for example
	// "s3.region" or "azure.tags[2].name".
	Field string
	// Value is the bad value, quoted in the message; it is always empty for
	// secret fields.
	Value string
	// Reason says what is wrong, in words an operator can act on.
	Reason string
	// Err is ErrMissingField or ErrInvalidField.
	Err error
}

// Error implements error.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("storage: ")
	b.WriteString(e.Field)
	if e.Value != "" {
		b.WriteString(" ")
		b.WriteString(strconv.Quote(e.Value))
	}
	b.WriteString(": ")
	if e.Reason != "" {
		b.WriteString(e.Reason)
	} else if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap lets errors.Is match Err and ErrInvalidConfig.
func (e *FieldError) Unwrap() []error { return []error{e.Err, ErrInvalidConfig} }

func missing(field, reason string) *FieldError {
	return &FieldError{Field: field, Reason: reason, Err: ErrMissingField}
}

func invalid(field, value, reason string) *FieldError {
	return &FieldError{Field: field, Value: value, Reason: reason, Err: ErrInvalidField}
}

// FieldErrors returns every *FieldError in err (which may be a joined error),
// in order; a form shows one message per field.
func FieldErrors(err error) []*FieldError { return errwalk.All[*FieldError](err) }

// Tag is one name/value pair the operator attaches to every recording. It is
// applied as S3 object tagging, Azure blob index tags, GCS object metadata,
// and blob metadata for the local directory and memory.
type Tag struct {
	// Name of the tag (S3 and Azure: at most 128 characters).
	Name string `json:"name" yaml:"name"`
	// Value of the tag (S3 and Azure: at most 256 characters).
	Value string `json:"value" yaml:"value"`
}

// Tags is an ordered list of tags; names are unique.
type Tags []Tag

// Map returns the tags as a map (nil for no tags).
func (t Tags) Map() map[string]string {
	if len(t) == 0 {
		return nil
	}
	m := make(map[string]string, len(t))
	for _, tag := range t {
		m[tag.Name] = tag.Value
	}
	return m
}

// Get returns the value of the tag named name.
func (t Tags) Get(name string) (string, bool) {
	for _, tag := range t {
		if tag.Name == name {
			return tag.Value, true
		}
	}
	return "", false
}

// With returns t with extra appended; a tag of extra whose name is already in
// t replaces that tag's value in place. t is not modified.
func (t Tags) With(extra Tags) Tags {
	if len(extra) == 0 {
		return t
	}
	out := make(Tags, len(t), len(t)+len(extra))
	copy(out, t)
next:
	for _, e := range extra {
		for i := range out {
			if out[i].Name == e.Name {
				out[i].Value = e.Value
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// S3 is the configuration of an Amazon S3 bucket.
type S3 struct {
	// Bucket is the bucket name (3-63 characters: lowercase letters,
	// digits, dots and hyphens). Required.
	Bucket string `json:"bucket" yaml:"bucket"`
	// Region is the AWS region of the bucket, for example "eu-central-1".
	// Required.
	Region string `json:"region" yaml:"region"`
	// AccessKeyID is the access key ID of an IAM user allowed to put, get,
	// tag and delete objects in the bucket. Required: the gateway never
	// falls back to its own ambient AWS credentials, which would let one
	// tenant write with another's rights.
	AccessKeyID string `json:"access_key_id" yaml:"access_key_id"`
	// SecretAccessKey is the secret of AccessKeyID. Required.
	SecretAccessKey secret.String `json:"secret_access_key" yaml:"secret_access_key"`
	// Tags are applied to every object as S3 object tagging (at most 10
	// tags in all, including those of an upload).
	Tags Tags `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// S3Compatible is the configuration of a bucket of a service that speaks the
// S3 API at its own endpoint.
type S3Compatible struct {
	// Endpoint is the service's base URL, http:// or https://, for example
	// "https://minio.example.net:9000". Required.
	Endpoint string `json:"endpoint" yaml:"endpoint"`
	// PathStyle addresses the bucket as ENDPOINT/BUCKET/KEY instead of
	// BUCKET.ENDPOINT/KEY; most self-hosted services need it. Default false.
	PathStyle bool `json:"path_style,omitempty" yaml:"path_style,omitempty"`
	// Bucket is the bucket name. Required.
	Bucket string `json:"bucket" yaml:"bucket"`
	// Region is the region the service expects in signatures. Default
	// "us-east-1" (what MinIO and most services accept).
	Region string `json:"region,omitempty" yaml:"region,omitempty"`
	// AccessKeyID is the access key. Required.
	AccessKeyID string `json:"access_key_id" yaml:"access_key_id"`
	// SecretAccessKey is the secret of AccessKeyID. Required.
	SecretAccessKey secret.String `json:"secret_access_key" yaml:"secret_access_key"`
	// Tags are applied to every object as S3 object tagging (at most 10).
	Tags Tags `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// DefaultS3CompatibleRegion is the region used when S3Compatible.Region is
// empty.
const DefaultS3CompatibleRegion = "us-east-1"

// GCS is the configuration of a Google Cloud Storage bucket.
type GCS struct {
	// Bucket is the bucket name. Required.
	Bucket string `json:"bucket" yaml:"bucket"`
	// ServiceKey is the JSON key of a service account allowed to create,
	// read and delete objects in the bucket (as downloaded from the Google
	// Cloud console). Required. Its client_email and private_key also sign
	// playback URLs.
	ServiceKey secret.String `json:"service_key" yaml:"service_key"`
	// Tags are applied to every object as custom object metadata
	// (x-goog-meta-NAME; names are lowercased).
	Tags Tags `json:"tags,omitempty" yaml:"tags,omitempty"`
	// Endpoint overrides the JSON API base URL, for an emulator or a
	// private endpoint, for example "http://127.0.0.1:4443/storage/v1/".
	// Default: Google's public endpoint.
	Endpoint string `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`
}

// Azure is the configuration of an Azure Blob Storage container.
type Azure struct {
	// Container is the container name (3-63 characters: lowercase letters,
	// digits and single hyphens). Required.
	Container string `json:"container" yaml:"container"`
	// ConnectionString is the storage account's connection string
	// ("DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;...",
	// or one with a SharedAccessSignature). Required.
	ConnectionString secret.String `json:"connection_string" yaml:"connection_string"`
	// Tags are applied to every blob as blob index tags (at most 10).
	Tags Tags `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// File is the configuration of a local directory used as a bucket. Keys map
// to paths below Dir. Meant for development and single-host deployments;
// multi-tenant front ends should let only administrators choose it.
type File struct {
	// Dir is the directory; it must exist. Required.
	Dir string `json:"dir" yaml:"dir"`
	// Tags are stored as blob metadata beside each file.
	Tags Tags `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// Memory is the configuration of an in-process bucket. Every Open returns a
// new, empty bucket. Meant for development and tests.
type Memory struct {
	// Tags are stored as blob metadata.
	Tags Tags `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// Config is the configuration of one recording bucket: the chosen Vendor and
// that vendor's section. Exactly the section of Vendor may be set (the
// Memory section may be omitted). The zero Config means "no bucket
// configured" (see IsZero).
//
// JSON and YAML forms (secrets masked when marshalled):
//
//	{"vendor": "s3", "s3": {"bucket": "recordings", "region": "eu-west-1",
//	  "access_key_id": "AKIA...", "secret_access_key": "wJal...",
//	  "tags": [{"name": "team", "value": "voice"}]}}
type Config struct {
	// Vendor chooses the section that applies. Required.
	Vendor Vendor `json:"vendor" yaml:"vendor"`

	// S3 is the section of VendorS3.
	S3 *S3 `json:"s3,omitempty" yaml:"s3,omitempty"`
	// S3Compatible is the section of VendorS3Compatible.
	S3Compatible *S3Compatible `json:"s3_compatible,omitempty" yaml:"s3_compatible,omitempty"`
	// GCS is the section of VendorGCS.
	GCS *GCS `json:"gcs,omitempty" yaml:"gcs,omitempty"`
	// Azure is the section of VendorAzure.
	Azure *Azure `json:"azure,omitempty" yaml:"azure,omitempty"`
	// File is the section of VendorFile.
	File *File `json:"file,omitempty" yaml:"file,omitempty"`
	// Memory is the section of VendorMemory (optional: it only holds tags).
	Memory *Memory `json:"memory,omitempty" yaml:"memory,omitempty"`
}

// IsZero reports whether c configures no bucket at all.
func (c Config) IsZero() bool {
	return c.Vendor == "" && c.S3 == nil && c.S3Compatible == nil && c.GCS == nil &&
		c.Azure == nil && c.File == nil && c.Memory == nil
}

// BucketName returns the bucket (container, directory) the configuration
// names, or "" for memory.
func (c Config) BucketName() string {
	switch c.Vendor {
	case VendorS3:
		if c.S3 != nil {
			return c.S3.Bucket
		}
	case VendorS3Compatible:
		if c.S3Compatible != nil {
			return c.S3Compatible.Bucket
		}
	case VendorGCS:
		if c.GCS != nil {
			return c.GCS.Bucket
		}
	case VendorAzure:
		if c.Azure != nil {
			return c.Azure.Container
		}
	case VendorFile:
		if c.File != nil {
			return c.File.Dir
		}
	}
	return ""
}

// Tags returns the configured tags of the chosen vendor.
func (c Config) Tags() Tags {
	switch c.Vendor {
	case VendorS3:
		if c.S3 != nil {
			return c.S3.Tags
		}
	case VendorS3Compatible:
		if c.S3Compatible != nil {
			return c.S3Compatible.Tags
		}
	case VendorGCS:
		if c.GCS != nil {
			return c.GCS.Tags
		}
	case VendorAzure:
		if c.Azure != nil {
			return c.Azure.Tags
		}
	case VendorFile:
		if c.File != nil {
			return c.File.Tags
		}
	case VendorMemory:
		if c.Memory != nil {
			return c.Memory.Tags
		}
	}
	return nil
}

// LogValue implements slog.LogValuer: vendor and bucket, never a secret.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("vendor", string(c.Vendor))}
	if b := c.BucketName(); b != "" {
		attrs = append(attrs, slog.String("bucket", b))
	}
	return slog.GroupValue(attrs...)
}

// String returns "VENDOR:BUCKET" (no secrets), for messages.
func (c Config) String() string {
	if b := c.BucketName(); b != "" {
		return string(c.Vendor) + ":" + b
	}
	return string(c.Vendor)
}

// Validate checks the configuration and returns nil or an error joining one
// *FieldError per bad field (see FieldErrors). Every error matches
// ErrInvalidConfig and ErrMissingField or ErrInvalidField with errors.Is.
// Validate does not contact the vendor; Test in package storage does.
func (c Config) Validate() error {
	var errs []error
	add := func(e ...*FieldError) {
		for _, x := range e {
			errs = append(errs, x)
		}
	}
	if c.Vendor == "" {
		add(missing("vendor", "choose a bucket vendor: "+vendorList()))
	} else if !c.Vendor.Known() {
		add(invalid("vendor", string(c.Vendor), "unknown bucket vendor; one of "+vendorList()))
	}
	sections := []struct {
		v   Vendor
		key string
		set bool
	}{
		{VendorS3, "s3", c.S3 != nil},
		{VendorS3Compatible, "s3_compatible", c.S3Compatible != nil},
		{VendorGCS, "gcs", c.GCS != nil},
		{VendorAzure, "azure", c.Azure != nil},
		{VendorFile, "file", c.File != nil},
		{VendorMemory, "memory", c.Memory != nil},
	}
	for _, s := range sections {
		if s.v == c.Vendor && !s.set && s.v != VendorMemory {
			add(missing(s.key, "the "+s.v.Title()+" settings are missing"))
		}
		if s.v != c.Vendor && s.set && c.Vendor.Known() {
			add(invalid(s.key, "", "settings of another vendor than "+strconv.Quote(string(c.Vendor))+"; remove them"))
		}
	}
	switch c.Vendor {
	case VendorS3:
		if c.S3 != nil {
			add(c.S3.validate("s3")...)
		}
	case VendorS3Compatible:
		if c.S3Compatible != nil {
			add(c.S3Compatible.validate("s3_compatible")...)
		}
	case VendorGCS:
		if c.GCS != nil {
			add(c.GCS.validate("gcs")...)
		}
	case VendorAzure:
		if c.Azure != nil {
			add(c.Azure.validate("azure")...)
		}
	case VendorFile:
		if c.File != nil {
			add(c.File.validate("file")...)
		}
	case VendorMemory:
		if c.Memory != nil {
			add(validateTags("memory.tags", c.Memory.Tags, metadataTags)...)
		}
	}
	return errors.Join(errs...)
}

func vendorList() string {
	var s []string
	for _, v := range Vendors() {
		s = append(s, strconv.Quote(string(v)))
	}
	return strings.Join(s, ", ")
}

// Validate checks the S3 section alone (field names without the "s3." prefix).
func (s S3) Validate() error { return joinFE(s.validate("")) }

// Validate checks the section alone.
func (s S3Compatible) Validate() error { return joinFE(s.validate("")) }

// Validate checks the section alone.
func (s GCS) Validate() error { return joinFE(s.validate("")) }

// Validate checks the section alone.
func (s Azure) Validate() error { return joinFE(s.validate("")) }

// Validate checks the section alone.
func (s File) Validate() error { return joinFE(s.validate("")) }

func joinFE(fe []*FieldError) error {
	errs := make([]error, len(fe))
	for i, e := range fe {
		errs[i] = e
	}
	return errors.Join(errs...)
}

func path(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

var awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

func (s S3) validate(p string) []*FieldError {
	var out []*FieldError
	out = append(out, validateS3BucketName(path(p, "bucket"), s.Bucket)...)
	switch {
	case s.Region == "":
		out = append(out, missing(path(p, "region"), "choose the bucket's AWS region (like eu-west-1)"))
	case !awsRegion.MatchString(s.Region):
		out = append(out, invalid(path(p, "region"), s.Region, "not an AWS region name (like eu-west-1)"))
	}
	out = append(out, validateAccessKey(path(p, "access_key_id"), s.AccessKeyID, true)...)
	out = append(out, validateSecretToken(path(p, "secret_access_key"), s.SecretAccessKey, "secret access key")...)
	out = append(out, validateTags(path(p, "tags"), s.Tags, s3Tags)...)
	return out
}

func (s S3Compatible) validate(p string) []*FieldError {
	var out []*FieldError
	out = append(out, validateEndpoint(path(p, "endpoint"), s.Endpoint, true)...)
	switch {
	case s.Bucket == "":
		out = append(out, missing(path(p, "bucket"), "enter the bucket name"))
	case len(s.Bucket) > 255 || strings.ContainsAny(s.Bucket, "/\\") || hasSpaceOrControl(s.Bucket):
		out = append(out, invalid(path(p, "bucket"), s.Bucket, "a bucket name has no slashes, spaces or control characters and at most 255 bytes"))
	}
	if s.Region != "" && (hasSpaceOrControl(s.Region) || len(s.Region) > 64) {
		out = append(out, invalid(path(p, "region"), s.Region, "a region is one word of at most 64 characters"))
	}
	out = append(out, validateAccessKey(path(p, "access_key_id"), s.AccessKeyID, false)...)
	out = append(out, validateSecretToken(path(p, "secret_access_key"), s.SecretAccessKey, "secret access key")...)
	out = append(out, validateTags(path(p, "tags"), s.Tags, s3Tags)...)
	return out
}

func (s GCS) validate(p string) []*FieldError {
	var out []*FieldError
	out = append(out, validateGCSBucketName(path(p, "bucket"), s.Bucket)...)
	if s.ServiceKey.IsZero() {
		out = append(out, missing(path(p, "service_key"), "paste the JSON key of a service account"))
	} else if _, err := ParseServiceKey(s.ServiceKey); err != nil {
		out = append(out, &FieldError{Field: path(p, "service_key"), Reason: err.Error(), Err: ErrInvalidField})
	}
	if s.Endpoint != "" {
		out = append(out, validateEndpoint(path(p, "endpoint"), s.Endpoint, false)...)
	}
	out = append(out, validateTags(path(p, "tags"), s.Tags, gcsTags)...)
	return out
}

func (s Azure) validate(p string) []*FieldError {
	var out []*FieldError
	out = append(out, validateAzureContainer(path(p, "container"), s.Container)...)
	if s.ConnectionString.IsZero() {
		out = append(out, missing(path(p, "connection_string"), "paste the storage account's connection string"))
	} else if _, err := ParseConnectionString(s.ConnectionString); err != nil {
		out = append(out, &FieldError{Field: path(p, "connection_string"), Reason: err.Error(), Err: ErrInvalidField})
	}
	out = append(out, validateTags(path(p, "tags"), s.Tags, azureTags)...)
	return out
}

func (s File) validate(p string) []*FieldError {
	var out []*FieldError
	switch {
	case s.Dir == "":
		out = append(out, missing(path(p, "dir"), "enter the directory recordings are written to"))
	case strings.ContainsRune(s.Dir, 0):
		out = append(out, invalid(path(p, "dir"), s.Dir, "a directory name has no NUL byte"))
	case !filepath.IsAbs(s.Dir):
		out = append(out, invalid(path(p, "dir"), s.Dir, "the directory must be an absolute path"))
	}
	out = append(out, validateTags(path(p, "tags"), s.Tags, metadataTags)...)
	return out
}

// validateS3BucketName applies Amazon's bucket naming rules.
func validateS3BucketName(field, b string) []*FieldError {
	if b == "" {
		return []*FieldError{missing(field, "enter the bucket name")}
	}
	bad := func(why string) []*FieldError { return []*FieldError{invalid(field, b, why)} }
	if len(b) < 3 || len(b) > 63 {
		return bad("an S3 bucket name has 3 to 63 characters")
	}
	for i, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return bad(fmt.Sprintf("character %q at position %d: an S3 bucket name has only lowercase letters, digits, dots and hyphens", r, i))
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return bad("an S3 bucket name begins and ends with a letter or digit")
	}
	if strings.Contains(b, "..") {
		return bad("an S3 bucket name has no two adjacent dots")
	}
	if net.ParseIP(b) != nil {
		return bad("an S3 bucket name is not an IP address")
	}
	return nil
}

func validateGCSBucketName(field, b string) []*FieldError {
	if b == "" {
		return []*FieldError{missing(field, "enter the bucket name")}
	}
	bad := func(why string) []*FieldError { return []*FieldError{invalid(field, b, why)} }
	if len(b) < 3 || len(b) > 222 {
		return bad("a GCS bucket name has 3 to 63 characters (222 with dots)")
	}
	for i, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return bad(fmt.Sprintf("character %q at position %d: a GCS bucket name has only lowercase letters, digits, dots, hyphens and underscores", r, i))
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return bad("a GCS bucket name begins and ends with a letter or digit")
	}
	for _, part := range strings.Split(b, ".") {
		if len(part) == 0 || len(part) > 63 {
			return bad("each dot-separated part of a GCS bucket name has 1 to 63 characters")
		}
	}
	if strings.HasPrefix(b, "goog") {
		return bad(`a GCS bucket name cannot begin with "goog"`)
	}
	return nil
}

func validateAzureContainer(field, c string) []*FieldError {
	if c == "" {
		return []*FieldError{missing(field, "enter the container name")}
	}
	bad := func(why string) []*FieldError { return []*FieldError{invalid(field, c, why)} }
	if len(c) < 3 || len(c) > 63 {
		return bad("an Azure container name has 3 to 63 characters")
	}
	for i, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return bad(fmt.Sprintf("character %q at position %d: an Azure container name has only lowercase letters, digits and hyphens", r, i))
		}
	}
	if !alnum(c[0]) || !alnum(c[len(c)-1]) || strings.Contains(c, "--") {
		return bad("an Azure container name begins and ends with a letter or digit and has no two adjacent hyphens")
	}
	return nil
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func hasSpaceOrControl(s string) bool {
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return true
		}
	}
	return false
}

func validateAccessKey(field, k string, aws bool) []*FieldError {
	if k == "" {
		return []*FieldError{missing(field, "enter the access key ID")}
	}
	if aws {
		if len(k) < 16 || len(k) > 128 {
			return []*FieldError{invalid(field, k, "an AWS access key ID has 16 to 128 letters and digits (like AKIA followed by 16 characters)")}
		}
		for i, r := range k {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
				return []*FieldError{invalid(field, k, fmt.Sprintf("character %q at position %d: an AWS access key ID has only letters and digits", r, i))}
			}
		}
		return nil
	}
	if hasSpaceOrControl(k) || len(k) > 256 {
		return []*FieldError{invalid(field, k, "an access key ID has no spaces or control characters and at most 256 bytes")}
	}
	return nil
}

// validateSecretToken never quotes the value.
func validateSecretToken(field string, s secret.String, what string) []*FieldError {
	if s.IsZero() {
		return []*FieldError{missing(field, "enter the "+what)}
	}
	if hasSpaceOrControl(s.Reveal()) {
		return []*FieldError{{Field: field, Reason: "the " + what + " has a space or control character (pasted with a line break?)", Err: ErrInvalidField}}
	}
	return nil
}

func validateEndpoint(field, e string, required bool) []*FieldError {
	if e == "" {
		if required {
			return []*FieldError{missing(field, "enter the service's endpoint URL (like https://minio.example.net:9000)")}
		}
		return nil
	}
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return []*FieldError{invalid(field, e, "an endpoint is an http:// or https:// URL with a host")}
	}
	if u.User != nil {
		return []*FieldError{invalid(field, u.Redacted(), "put credentials in their own fields, not in the endpoint URL")}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return []*FieldError{invalid(field, e, "an endpoint has no query or fragment")}
	}
	return nil
}

// tagRules are a vendor's limits on tags.
type tagRules struct {
	vendor     string
	max        int // 0: no count limit
	maxName    int
	maxValue   int
	totalBytes int // 0: no total limit
	nameChar   func(rune) bool
	valueChar  func(rune) bool
	foldCase   bool // names are case-insensitive (stored lowercased)
	allowEmpty bool // empty values allowed
}

// s3TagChar: letters, digits, spaces and + - = . _ : / @ (AWS tagging rules).
func s3TagChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune("+-=._:/@", r)
}

// azureTagChar: ASCII letters, digits, space and + - . / : = _ (blob index tags).
func azureTagChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' || strings.ContainsRune("+-./:=_", r)
}

// headerNameChar: what an HTTP header name (x-goog-meta-NAME) may hold.
func headerNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)
}

func printable(r rune) bool { return unicode.IsPrint(r) }

var (
	s3Tags       = tagRules{vendor: "S3", max: 10, maxName: 128, maxValue: 256, nameChar: s3TagChar, valueChar: s3TagChar, allowEmpty: true}
	azureTags    = tagRules{vendor: "Azure", max: 10, maxName: 128, maxValue: 256, nameChar: azureTagChar, valueChar: azureTagChar, allowEmpty: true}
	gcsTags      = tagRules{vendor: "GCS", maxName: 128, maxValue: 1024, totalBytes: 8 * 1024, nameChar: headerNameChar, valueChar: printable, foldCase: true, allowEmpty: true}
	metadataTags = tagRules{vendor: "blob metadata", maxName: 128, maxValue: 1024, nameChar: headerNameChar, valueChar: printable, foldCase: true, allowEmpty: true}
)

// ValidateTags checks tags against the limits of vendor v (count, length,
// characters, unique names); field names the list in errors. Package storage
// applies it to the configured tags plus an upload's own tags.
func ValidateTags(v Vendor, field string, t Tags) error {
	return joinFE(validateTags(field, t, rulesFor(v)))
}

func rulesFor(v Vendor) tagRules {
	switch v {
	case VendorS3, VendorS3Compatible:
		return s3Tags
	case VendorAzure:
		return azureTags
	case VendorGCS:
		return gcsTags
	}
	return metadataTags
}

func validateTags(field string, t Tags, r tagRules) []*FieldError {
	var out []*FieldError
	if r.max > 0 && len(t) > r.max {
		out = append(out, invalid(field, "", fmt.Sprintf("%d tags; %s allows at most %d per object", len(t), r.vendor, r.max)))
	}
	seen := map[string]int{}
	total := 0
	for i, tag := range t {
		f := fmt.Sprintf("%s[%d]", field, i)
		total += len(tag.Name) + len(tag.Value)
		switch {
		case tag.Name == "":
			out = append(out, missing(f+".name", "a tag needs a name"))
		case !utf8.ValidString(tag.Name) || utf8.RuneCountInString(tag.Name) > r.maxName:
			out = append(out, invalid(f+".name", tag.Name, fmt.Sprintf("a %s tag name has at most %d characters", r.vendor, r.maxName)))
		default:
			for j, c := range tag.Name {
				if !r.nameChar(c) {
					out = append(out, invalid(f+".name", tag.Name, fmt.Sprintf("character %q at position %d is not allowed in a %s tag name", c, j, r.vendor)))
					break
				}
			}
			k := tag.Name
			if r.foldCase {
				k = strings.ToLower(k)
			}
			if prev, dup := seen[k]; dup {
				out = append(out, invalid(f+".name", tag.Name, fmt.Sprintf("same name as tag %d", prev)))
			} else {
				seen[k] = i
			}
		}
		if !utf8.ValidString(tag.Value) || utf8.RuneCountInString(tag.Value) > r.maxValue {
			out = append(out, invalid(f+".value", tag.Value, fmt.Sprintf("a %s tag value has at most %d characters", r.vendor, r.maxValue)))
			continue
		}
		for j, c := range tag.Value {
			if !r.valueChar(c) {
				out = append(out, invalid(f+".value", tag.Value, fmt.Sprintf("character %q at position %d is not allowed in a %s tag value", c, j, r.vendor)))
				break
			}
		}
	}
	if r.totalBytes > 0 && total > r.totalBytes {
		out = append(out, invalid(field, "", fmt.Sprintf("tags hold %d bytes; %s allows at most %d", total, r.vendor, r.totalBytes)))
	}
	return out
}

// ServiceKey is what package storage needs from a GCS service account key.
type ServiceKey struct {
	// Type is "service_account".
	Type string `json:"type"`
	// ProjectID is the Google Cloud project of the account.
	ProjectID string `json:"project_id"`
	// PrivateKeyID names the key pair.
	PrivateKeyID string `json:"private_key_id"`
	// PrivateKey is the PEM private key; it signs token requests and URLs.
	PrivateKey secret.String `json:"private_key"`
	// ClientEmail is the service account's address.
	ClientEmail string `json:"client_email"`
	// TokenURI is the OAuth 2.0 token endpoint the key is exchanged at.
	TokenURI string `json:"token_uri"`
}

// ParseServiceKey checks that k is the JSON key of a service account and
// returns its fields. Its errors never quote the key.
func ParseServiceKey(k secret.String) (ServiceKey, error) {
	var sk ServiceKey
	if err := json.Unmarshal([]byte(k.Reveal()), &sk); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return sk, fmt.Errorf("the service key is not JSON (syntax error at byte %d); paste the whole key file", se.Offset)
		}
		return sk, errors.New("the service key is not a JSON object of a service account key")
	}
	switch {
	case sk.Type != "service_account":
		return sk, fmt.Errorf(`the service key has "type" %q; a service account key has "service_account"`, sk.Type)
	case sk.ClientEmail == "":
		return sk, errors.New(`the service key has no "client_email"`)
	case sk.PrivateKey.IsZero():
		return sk, errors.New(`the service key has no "private_key"`)
	case !strings.Contains(sk.PrivateKey.Reveal(), "PRIVATE KEY-----"):
		return sk, errors.New(`the service key's "private_key" is not a PEM private key`)
	}
	return sk, nil
}

// ConnectionString holds the fields of an Azure Storage connection string.
type ConnectionString struct {
	// Fields maps each key (as written) to its value.
	Fields map[string]string
}

// Get returns a field by key, ignoring case.
func (c ConnectionString) Get(key string) string {
	for k, v := range c.Fields {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// ParseConnectionString checks an Azure Storage connection string: key=value
// pairs separated by ';' with an AccountName and either an AccountKey or a
// SharedAccessSignature, or a BlobEndpoint with a SharedAccessSignature. Its
// errors name keys, never values.
func ParseConnectionString(s secret.String) (ConnectionString, error) {
	cs := ConnectionString{Fields: map[string]string{}}
	for i, part := range strings.Split(s.Reveal(), ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			return cs, fmt.Errorf("part %d of the connection string is not KEY=VALUE", i+1)
		}
		cs.Fields[k] = v
	}
	hasKey, hasSAS := cs.Get("AccountKey") != "", cs.Get("SharedAccessSignature") != ""
	switch {
	case len(cs.Fields) == 0:
		return cs, errors.New("the connection string is empty")
	case cs.Get("UseDevelopmentStorage") != "":
		return cs, nil
	case cs.Get("AccountName") == "" && cs.Get("BlobEndpoint") == "":
		return cs, errors.New("the connection string has no AccountName or BlobEndpoint")
	case !hasKey && !hasSAS:
		return cs, errors.New("the connection string has neither AccountKey nor SharedAccessSignature")
	case hasKey && cs.Get("AccountName") == "":
		return cs, errors.New("the connection string has an AccountKey but no AccountName")
	}
	if k := cs.Get("AccountKey"); k != "" {
		if _, err := base64.StdEncoding.DecodeString(k); err != nil {
			return cs, errors.New("the connection string's AccountKey is not base64 (copy it again from the portal)")
		}
	}
	if ep := cs.Get("BlobEndpoint"); ep != "" {
		if u, err := url.Parse(ep); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cs, errors.New("the connection string's BlobEndpoint is not an http:// or https:// URL")
		}
	}
	return cs, nil
}
