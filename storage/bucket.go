package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	gstorage "cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
	"gocloud.dev/gcp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/storage/egress"
)

// Options tune how a bucket is reached. The zero value (or nil) works.
type Options struct {
	// Logger receives retries of uploads. Default: discard.
	Logger *slog.Logger
	// HTTPClient carries every request to the vendor (and, for GCS, to the
	// token endpoint of the service key). Default: a client that gives up
	// dialling and TLS handshakes after 10 s and waits at most 60 s for
	// response headers, with no overall timeout (an upload of a long
	// recording takes as long as it takes; use ctx to bound it).
	HTTPClient *http.Client
	// Egress, when set, checks every connection of the default HTTPClient
	// (see storage/egress): give it for buckets whose endpoint a tenant
	// chooses (an S3-compatible endpoint, a bucket URL, a service key's
	// token endpoint), so that they cannot reach loopback, link-local
	// (cloud metadata) or other refused addresses. A refused connection
	// fails with ErrEgressRefused, at once, without retries. Ignored when
	// HTTPClient is set: give that client a transport from
	// Egress.Transport. Default: nil, no check.
	Egress *egress.Policy
	// Retry decides how often a transient failure is retried.
	Retry RetryPolicy
	// ChunkSize is the buffer a GCS or Azure upload holds in memory: one
	// resumable-upload chunk or one block. Default 4 MiB. S3 uploads send
	// parts straight from the file and hold no such buffer.
	ChunkSize int
	// S3PartSize is the size above which an S3 upload becomes a multipart
	// upload, and the size of each part (each retried on its own). Parts
	// are read from the file as they are sent. Default 64 MiB; at least
	// 5 MiB (S3's minimum part size).
	S3PartSize int64
}

// RetryPolicy is how an operation is retried after a transient failure (a
// connection refused or reset, a timeout, HTTP 5xx, 429, S3 SlowDown).
// Failures that retrying cannot fix (bad credentials, no such bucket, a bad
// key) are returned at once. The wait before try n+1 is a random duration
// between 0 and min(MaxBackoff, MinBackoff*2^(n-1)) ("full jitter").
type RetryPolicy struct {
	// Attempts is how many times an operation is tried in all. Default 4;
	// 1 disables retries.
	Attempts int
	// MinBackoff bounds the first wait. Default 250 ms.
	MinBackoff time.Duration
	// MaxBackoff bounds every wait. Default 8 s.
	MaxBackoff time.Duration
}

const (
	defaultChunkSize  = 4 << 20
	defaultS3PartSize = 64 << 20
	minS3PartSize     = 5 << 20
)

func (o *Options) resolved() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.HTTPClient == nil {
		r.HTTPClient = defaultHTTPClient(r.Egress)
	}
	if r.Retry.Attempts <= 0 {
		r.Retry.Attempts = 4
	}
	if r.Retry.MinBackoff <= 0 {
		r.Retry.MinBackoff = 250 * time.Millisecond
	}
	if r.Retry.MaxBackoff <= 0 {
		r.Retry.MaxBackoff = 8 * time.Second
	}
	if r.Retry.MaxBackoff < r.Retry.MinBackoff {
		r.Retry.MaxBackoff = r.Retry.MinBackoff
	}
	if r.ChunkSize <= 0 {
		r.ChunkSize = defaultChunkSize
	}
	if r.S3PartSize <= 0 {
		r.S3PartSize = defaultS3PartSize
	}
	if r.S3PartSize < minS3PartSize {
		r.S3PartSize = minS3PartSize
	}
	return r
}

func defaultHTTPClient(p *egress.Policy) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = d.DialContext
	if p != nil {
		t = p.Transport(t)
	}
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	t.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: t}
}

// Bucket is an opened recording bucket of any vendor: the portable
// *blob.Bucket of gocloud.dev plus what recordings need (tags, a connection
// Test, retrying streaming uploads, playback links). It is safe for
// concurrent use. Close it when done.
type Bucket struct {
	bkt    *blob.Bucket
	vendor Vendor
	name   string // bucket, container or directory
	tags   Tags
	opts   Options

	// S3 vendors: uploads go to the S3 client directly, so parts stream
	// from the file instead of through the transfer manager's buffers.
	s3        *s3.Client
	s3Bucket  string
	s3Amazon  bool
	azureSAS  bool // Azure credential cannot sign URLs
	gcsSigner bool // GCS service key can sign URLs
	// GCS with an Endpoint: signed URLs point at that host.
	gcsHost     string
	gcsInsecure bool
}

// Open validates cfg and opens its bucket. It does not contact the vendor
// (except, for GCS, nothing either: the token is fetched on first use); call
// Test to check that the bucket works. Errors match ErrInvalidConfig for a
// bad configuration.
func Open(ctx context.Context, cfg Config, opts *Options) (*Bucket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := opts.resolved()
	b := &Bucket{vendor: cfg.Vendor, name: cfg.BucketName(), tags: cfg.Tags(), opts: o}
	var err error
	switch cfg.Vendor {
	case VendorS3:
		c := cfg.S3
		b.s3 = newS3Client(c.Region, c.AccessKeyID, c.SecretAccessKey, "", false, true, o.HTTPClient, o.Logger)
		b.s3Bucket, b.s3Amazon = c.Bucket, true
		b.bkt, err = s3blob.OpenBucket(ctx, b.s3, c.Bucket, &s3blob.Options{RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported})
	case VendorS3Compatible:
		c := cfg.S3Compatible
		region := c.Region
		if region == "" {
			region = bucketconfig.DefaultS3CompatibleRegion
		}
		b.s3 = newS3Client(region, c.AccessKeyID, c.SecretAccessKey, c.Endpoint, c.PathStyle, false, o.HTTPClient, o.Logger)
		b.s3Bucket = c.Bucket
		b.bkt, err = s3blob.OpenBucket(ctx, b.s3, c.Bucket, &s3blob.Options{RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	case VendorGCS:
		b.bkt, err = openGCS(ctx, cfg.GCS, o.HTTPClient)
		b.gcsSigner = err == nil
		if u, perr := url.Parse(cfg.GCS.Endpoint); cfg.GCS.Endpoint != "" && perr == nil {
			b.gcsHost, b.gcsInsecure = u.Host, u.Scheme == "http"
		}
	case VendorAzure:
		b.bkt, b.azureSAS, err = openAzure(ctx, cfg.Azure, o.HTTPClient)
	case VendorFile:
		b.bkt, err = fileblob.OpenBucket(cfg.File.Dir, &fileblob.Options{NoTempDir: true})
		if errors.Is(err, os.ErrNotExist) {
			return nil, &OpError{Op: "open", Bucket: b.String(), Kind: ErrNoSuchBucket, Err: fmt.Errorf("directory %q does not exist", cfg.File.Dir)}
		}
	case VendorMemory:
		b.bkt = memblob.OpenBucket(nil)
	}
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, opError("open", b.String(), "", err)
	}
	return b, nil
}

// newS3Client builds an S3 client with static credentials. The SDK's own
// retries are off: Upload and the Spool retry with their own policy, so a
// failure is not retried twice over.
func newS3Client(region, keyID string, secretKey secret.String, endpoint string, pathStyle, amazon bool, hc *http.Client, log *slog.Logger) *s3.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secretKey.Reveal(), ""),
		HTTPClient:  hc,
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
		// The SDK's warnings go to our logger, not to stderr.
		Logger: sdkLogger{log},
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(strings.TrimRight(endpoint, "/"))
		}
		o.UsePathStyle = pathStyle
		if amazon {
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
		} else {
			// Third-party stores often reject the newer checksum headers.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
}

// sdkLogger passes the AWS SDK's log lines to slog.
type sdkLogger struct{ l *slog.Logger }

func (s sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	s.l.Log(context.Background(), level, "storage: aws sdk: "+scrub(fmt.Sprintf(format, v...)))
}

const gcsScope = "https://www.googleapis.com/auth/devstorage.read_write"

func openGCS(ctx context.Context, c *GCSConfig, hc *http.Client) (*blob.Bucket, error) {
	sk, err := bucketconfig.ParseServiceKey(c.ServiceKey)
	if err != nil {
		return nil, err
	}
	// The token source keeps this context for every token refresh: it
	// carries our HTTP client and must outlive the Open call.
	tokenCtx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, hc)
	creds, err := google.CredentialsFromJSONWithType(tokenCtx, []byte(c.ServiceKey.Reveal()), google.ServiceAccount, gcsScope)
	if err != nil {
		return nil, &FieldError{Field: "gcs.service_key", Reason: "the service key was refused: " + scrub(err.Error()), Err: ErrInvalidField}
	}
	client, err := gcp.NewHTTPClient(hc.Transport, creds.TokenSource)
	if err != nil {
		return nil, err
	}
	client.Timeout = hc.Timeout
	gopts := &gcsblob.Options{GoogleAccessID: sk.ClientEmail, PrivateKey: []byte(sk.PrivateKey.Reveal())}
	if c.Endpoint != "" {
		gopts.ClientOptions = append(gopts.ClientOptions, option.WithEndpoint(c.Endpoint))
	}
	bkt, err := gcsblob.OpenBucket(ctx, client, c.Bucket, gopts)
	if err != nil {
		return nil, err
	}
	var gc *gstorage.Client
	if bkt.As(&gc) {
		// Upload and the Spool retry with their own policy.
		gc.SetRetry(gstorage.WithPolicy(gstorage.RetryNever))
	}
	return bkt, nil
}

func openAzure(ctx context.Context, c *AzureConfig, hc *http.Client) (*blob.Bucket, bool, error) {
	cs, err := bucketconfig.ParseConnectionString(c.ConnectionString)
	if err != nil {
		return nil, false, err
	}
	cc, err := container.NewClientFromConnectionString(c.ConnectionString.Reveal(), c.Container, &container.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: hc,
			// Upload and the Spool retry with their own policy.
			Retry: policy.RetryOptions{MaxRetries: -1},
		},
	})
	if err != nil {
		return nil, false, &FieldError{Field: "azure.connection_string", Reason: "the connection string was refused: " + scrub(err.Error()), Err: ErrInvalidField}
	}
	bkt, err := azureblob.OpenBucket(ctx, cc, nil)
	return bkt, cs.Get("AccountKey") == "", err
}

// OpenURL opens a bucket from a gocloud.dev URL, for users who already
// configure buckets that way: s3://BUCKET?region=...&endpoint=...,
// gs://BUCKET, azblob://CONTAINER, file:///DIR, mem://. Credentials come from
// the process environment as gocloud.dev documents for each scheme (AWS
// shared config, Google application default credentials,
// AZURE_STORAGE_ACCOUNT/AZURE_STORAGE_KEY ...), so OpenURL is for
// single-tenant deployments; per-tenant buckets use Open with a Config.
// Tags can still be given per upload.
func OpenURL(ctx context.Context, rawURL string, opts *Options) (*Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &OpError{Op: "open", Bucket: scrub(rawURL), Kind: ErrInvalidConfig, Err: fmt.Errorf("%w: bucket URL: %v", ErrInvalidConfig, scrub(err.Error()))}
	}
	var v Vendor
	switch u.Scheme {
	case s3blob.Scheme:
		v = VendorS3
	case gcsblob.Scheme:
		v = VendorGCS
	case azureblob.Scheme:
		v = VendorAzure
	case fileblob.Scheme:
		v = VendorFile
	case memblob.Scheme:
		v = VendorMemory
	default:
		return nil, &OpError{Op: "open", Bucket: scrub(rawURL), Kind: ErrInvalidConfig,
			Err: fmt.Errorf("%w: bucket URL scheme %q; one of s3, gs, azblob, file, mem", ErrInvalidConfig, u.Scheme)}
	}
	o := opts.resolved()
	b := &Bucket{vendor: v, name: u.Host + u.Path, opts: o}
	if v == VendorFile {
		b.name = u.Path
	}
	b.bkt, err = blob.OpenBucket(ctx, rawURL)
	if err != nil {
		kind, _ := classify(err)
		if kind == nil && v == VendorFile && errors.Is(err, os.ErrNotExist) {
			kind = ErrNoSuchBucket
		}
		return nil, &OpError{Op: "open", Bucket: b.String(), Kind: kind, Err: err}
	}
	if v == VendorS3 {
		var c *s3.Client
		if b.bkt.As(&c) {
			b.s3, b.s3Bucket = c, u.Host
			b.s3Amazon = u.Query().Get("endpoint") == ""
		}
	}
	b.gcsSigner = v == VendorGCS
	return b, nil
}

// Vendor returns the bucket's vendor.
func (b *Bucket) Vendor() Vendor { return b.vendor }

// Name returns the bucket (container, directory) name; "" for memory.
func (b *Bucket) Name() string { return b.name }

// Tags returns the configured tags applied to every upload.
func (b *Bucket) Tags() Tags { return append(Tags(nil), b.tags...) }

// String returns "VENDOR:NAME", for messages and logs.
func (b *Bucket) String() string {
	if b.name == "" {
		return string(b.vendor)
	}
	return string(b.vendor) + ":" + b.name
}

// Blob returns the underlying gocloud.dev bucket, for listing, reading
// ranges and everything else this package does not wrap.
func (b *Bucket) Blob() *blob.Bucket { return b.bkt }

// As exposes the vendor's client (see gocloud.dev/blob Bucket.As): *s3.Client,
// *storage.Client (GCS), *container.Client (Azure).
func (b *Bucket) As(i any) bool { return b.bkt.As(i) }

// Close releases the bucket's resources.
func (b *Bucket) Close() error { return b.bkt.Close() }

// Attributes is what a bucket reports about one object.
type Attributes struct {
	// Size is the object's size in bytes.
	Size int64
	// ContentType is the object's content type.
	ContentType string
	// ModTime is when the object was last written.
	ModTime time.Time
	// ETag is the vendor's entity tag of the object's content, quoted as
	// HTTP writes it (RFC 9110 §8.8.3), for example "\"9bb58f26\""; it
	// changes when the object is rewritten. "" when the vendor gives none.
	ETag string
	// Metadata holds the object's metadata (for GCS, file and memory also
	// the tags, which are stored as metadata). Keys are lowercase.
	Metadata map[string]string
}

// Attributes returns what the bucket knows of key. A missing object is an
// error matching ErrNotFound.
func (b *Bucket) Attributes(ctx context.Context, key string) (Attributes, error) {
	a, err := b.bkt.Attributes(ctx, key)
	if err != nil {
		return Attributes{}, b.opError("attributes", key, err)
	}
	return Attributes{Size: a.Size, ContentType: a.ContentType, ModTime: a.ModTime, ETag: quoteETag(a.ETag), Metadata: a.Metadata}, nil
}

// quoteETag returns an entity tag in its quoted HTTP form: vendors give it
// quoted (S3, Azure, files) or bare (GCS through gocloud.dev).
func quoteETag(e string) string {
	switch {
	case e == "":
		return ""
	case strings.HasPrefix(e, `"`) && strings.HasSuffix(e, `"`) && len(e) >= 2,
		strings.HasPrefix(e, `W/"`) && strings.HasSuffix(e, `"`):
		return e
	}
	return `"` + strings.ReplaceAll(e, `"`, "") + `"`
}

// NewReader opens key for reading (playback through the gateway itself, for
// vendors without signed URLs). The caller closes it.
func (b *Bucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := b.bkt.NewReader(ctx, key, nil)
	if err != nil {
		return nil, b.opError("read", key, err)
	}
	return r, nil
}

// NewRangeReader reads length bytes of key from offset (length < 0: to the
// end of the object): one ranged request to the vendor (an HTTP Range
// header for S3, GCS and Azure), so serving part of a long recording reads
// only that part. A missing object is an error matching ErrNotFound. The caller closes the reader.
func (b *Bucket) NewRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, &OpError{Op: "read", Bucket: b.String(), Key: key, Kind: ErrInvalidConfig,
			Err: fmt.Errorf("%w: negative offset %d", ErrInvalidConfig, offset)}
	}
	r, err := b.bkt.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, b.opError("read", key, err)
	}
	return r, nil
}

// Delete removes key. A missing object is an error matching ErrNotFound.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := b.bkt.Delete(ctx, key); err != nil {
		return b.opError("delete", key, err)
	}
	return nil
}

// SignedURL returns a link that plays key without credentials until expiry
// passes: an S3 presigned URL, a GCS V4 signed URL (signed with the service
// key), an Azure SAS URL (needs an AccountKey in the connection string). For
// the local directory, memory, and Azure configured with a SAS connection
// string it returns an error matching ErrNotSupported; serve the object
// through NewReader instead. Expiry defaults to 1 hour; S3 and GCS allow
// at most 7 days.
func (b *Bucket) SignedURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", b.opError("sign", key, err)
	}
	if expiry <= 0 {
		expiry = time.Hour
	}
	switch {
	case b.vendor == VendorFile || b.vendor == VendorMemory:
		return "", &OpError{Op: "sign", Bucket: b.String(), Key: key, Kind: ErrNotSupported,
			Err: fmt.Errorf("%s buckets have no signed URLs; serve recordings through NewReader", b.vendor.Title())}
	case b.vendor == VendorAzure && b.azureSAS:
		return "", &OpError{Op: "sign", Bucket: b.String(), Key: key, Kind: ErrNotSupported,
			Err: errors.New("the connection string has a SAS token, not an account key, so it cannot sign URLs")}
	case (b.vendor == VendorS3 || b.vendor == VendorS3Compatible || b.vendor == VendorGCS) && expiry > 7*24*time.Hour:
		return "", &OpError{Op: "sign", Bucket: b.String(), Key: key, Kind: ErrInvalidConfig,
			Err: fmt.Errorf("%w: expiry %v is longer than the 7 days %s allows", ErrInvalidConfig, expiry, b.vendor.Title())}
	}
	so := &blob.SignedURLOptions{Expiry: expiry, Method: http.MethodGet}
	if b.vendor == VendorGCS {
		so.BeforeSign = func(as func(any) bool) error {
			var o *gstorage.SignedURLOptions
			if as(&o) {
				// V4 signing (GOOG4-RSA-SHA256), not gocloud's V2 default.
				o.Scheme = gstorage.SigningSchemeV4
				if b.gcsHost != "" {
					o.Hostname, o.Insecure = b.gcsHost, b.gcsInsecure
				}
			}
			return nil
		}
	}
	u, err := b.bkt.SignedURL(ctx, key, so)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.Unimplemented {
			return "", &OpError{Op: "sign", Bucket: b.String(), Key: key, Kind: ErrNotSupported, Err: err}
		}
		return "", b.opError("sign", key, err)
	}
	return u, nil
}

func (b *Bucket) opError(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var oe *OpError
	if errors.As(err, &oe) {
		return err
	}
	kind, _ := classify(err)
	if kind == nil {
		switch gcerrors.Code(err) {
		case gcerrors.NotFound:
			kind = ErrNotFound
		case gcerrors.PermissionDenied:
			kind = ErrPermissionDenied
		case gcerrors.Unimplemented:
			kind = ErrNotSupported
		}
	}
	return &OpError{Op: op, Bucket: b.String(), Key: key, Kind: kind, Err: err}
}

// ValidateKey checks an object key: non-empty UTF-8 of at most 1024 bytes,
// no leading "/", no "." or ".." path segment, no control characters. Keys
// of recordings look like ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav.
func ValidateKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > 1024:
		return bad("longer than 1024 bytes")
	case strings.HasPrefix(key, "/"):
		return bad(`begins with "/"`)
	case strings.HasSuffix(key, "/"):
		return bad(`ends with "/"`)
	}
	if !utf8.ValidString(key) {
		return bad("not valid UTF-8")
	}
	for i, r := range key {
		if r < 0x20 || r == 0x7f {
			return bad(fmt.Sprintf("character %q at byte %d is not allowed", r, i))
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad(fmt.Sprintf("empty, \".\" or \"..\" path segment %q", seg))
		}
	}
	return nil
}
