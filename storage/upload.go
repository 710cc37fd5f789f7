package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"

	"github.com/voicegw/voicegw/storage/bucketconfig"
)

// Content types of recordings.
const (
	ContentTypeWAV = "audio/wav"
	ContentTypeMP3 = "audio/mpeg"
)

// MetadataUploadID is the metadata key under which an upload's UploadID is
// stored with the object.
const MetadataUploadID = "voicegw-upload-id"

// UploadOptions describe one upload. The zero value (or nil) works for keys
// ending in .wav or .mp3.
type UploadOptions struct {
	// ContentType of the object. Default: from the key's extension
	// (".wav" audio/wav, ".mp3" audio/mpeg), else application/octet-stream.
	ContentType string
	// Tags are added to the bucket's configured tags; a tag here replaces a
	// configured tag of the same name. They must fit the vendor's limits
	// (S3 and Azure: at most 10 tags in all).
	Tags Tags
	// UploadID, when set, is stored as object metadata (MetadataUploadID),
	// so that whoever retries an upload whose answer was lost can see that
	// the object already landed (the Spool does).
	UploadID string
}

// ContentTypeFor returns the content type of a recording from its key.
func ContentTypeFor(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".wav":
		return ContentTypeWAV
	case ".mp3":
		return ContentTypeMP3
	}
	return "application/octet-stream"
}

// UploadFile uploads the file at name to key. The file is streamed: it is
// never held in memory as a whole (see Options.ChunkSize). Transient
// failures are retried with backoff per Options.Retry; cancelling ctx stops
// the upload and leaves no object behind. The configured tags and
// opts.Tags are applied (S3 object tagging, Azure blob index tags, GCS
// metadata, blob metadata for file and memory).
//
// The file is left in place: the caller deletes it once UploadFile returned
// nil, or hands it to a Spool, which does both and survives restarts.
func (b *Bucket) UploadFile(ctx context.Context, key, name string, opts *UploadOptions) error {
	f, err := os.Open(name)
	if err != nil {
		return &OpError{Op: "write", Bucket: b.String(), Key: key, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return &OpError{Op: "write", Bucket: b.String(), Key: key, Err: err}
	}
	return b.Upload(ctx, key, f, st.Size(), opts)
}

// Upload uploads size bytes of content to key; see UploadFile. content is
// read again from the start on every retry.
func (b *Bucket) Upload(ctx context.Context, key string, content io.ReaderAt, size int64, opts *UploadOptions) error {
	var o UploadOptions
	if opts != nil {
		o = *opts
	}
	if err := ValidateKey(key); err != nil {
		return &OpError{Op: "write", Bucket: b.String(), Key: key, Kind: ErrInvalidKey, Err: err}
	}
	if o.ContentType == "" {
		o.ContentType = ContentTypeFor(key)
	}
	tags := b.tags.With(o.Tags)
	if err := bucketconfig.ValidateTags(b.vendor, "tags", tags); err != nil {
		return &OpError{Op: "write", Bucket: b.String(), Key: key, Kind: ErrInvalidConfig, Err: err}
	}
	if size < 0 {
		return &OpError{Op: "write", Bucket: b.String(), Key: key, Err: fmt.Errorf("negative size %d", size)}
	}
	u := upload{key: key, content: content, size: size, contentType: o.ContentType, tags: tags, uploadID: o.UploadID}
	tried := false
	return b.retry(ctx, "write", key, func(ctx context.Context) error {
		if tried && u.uploadID != "" {
			// The last try may have landed with its answer lost: do not
			// store the object twice.
			if ok, _ := b.Landed(ctx, key, size, u.uploadID); ok {
				return nil
			}
		}
		tried = true
		return b.put(ctx, &u)
	})
}

// finalError marks a failure that was retried already at a finer grain.
type finalError struct{ err error }

func (f *finalError) Error() string { return f.err.Error() }
func (f *finalError) Unwrap() error { return f.err }

type upload struct {
	key         string
	content     io.ReaderAt
	size        int64
	contentType string
	tags        Tags
	uploadID    string
}

func (u *upload) metadata() map[string]string {
	if u.uploadID == "" {
		return nil
	}
	return map[string]string{MetadataUploadID: u.uploadID}
}

// retry runs op until it succeeds, fails for good, runs out of attempts or
// ctx ends. The error is an *OpError of the last failure.
func (b *Bucket) retry(ctx context.Context, opName, key string, op func(context.Context) error) error {
	p := b.opts.Retry
	var err error
	for attempt := 1; ; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			if err == nil {
				err = cerr
			}
			return b.opError(opName, key, err)
		}
		err = op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return b.opError(opName, key, fmt.Errorf("%w (after: %v)", ctx.Err(), describe(err)))
		}
		var f *finalError
		if errors.As(err, &f) {
			return b.opError(opName, key, f.err)
		}
		if !isTransient(err) || attempt >= p.Attempts {
			return b.opError(opName, key, err)
		}
		wait := backoff(p.MinBackoff, p.MaxBackoff, attempt)
		b.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "storage: retrying after a transient failure",
			slog.String("bucket", b.String()), slog.String("op", opName), slog.String("key", key),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("error", describe(err)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return b.opError(opName, key, fmt.Errorf("%w (after: %v)", ctx.Err(), describe(err)))
		case <-t.C:
		}
	}
}

// backoff returns the full-jitter wait before try attempt+1.
func backoff(minB, maxB time.Duration, attempt int) time.Duration {
	ceil := minB
	for i := 1; i < attempt && ceil < maxB; i++ {
		ceil *= 2
	}
	if ceil > maxB {
		ceil = maxB
	}
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

func (b *Bucket) put(ctx context.Context, u *upload) error {
	if b.s3 != nil {
		return b.putS3(ctx, u)
	}
	wo := &blob.WriterOptions{
		ContentType:                 u.contentType,
		DisableContentTypeDetection: true,
		BufferSize:                  b.opts.ChunkSize,
		MaxConcurrency:              1,
		Metadata:                    u.metadata(),
	}
	switch b.vendor {
	case VendorAzure:
		if len(u.tags) > 0 {
			wo.BeforeWrite = func(as func(any) bool) error {
				var uo *azblob.UploadStreamOptions
				if !as(&uo) {
					return errors.New("azure upload options not reachable")
				}
				uo.Tags = u.tags.Map()
				return nil
			}
		}
	default: // GCS, file, memory: tags are object metadata.
		if len(u.tags) > 0 {
			md := make(map[string]string, len(u.tags)+1)
			for _, t := range u.tags {
				md[strings.ToLower(t.Name)] = t.Value
			}
			for k, v := range u.metadata() {
				md[k] = v
			}
			wo.Metadata = md
		}
	}
	return b.bkt.Upload(ctx, u.key, io.NewSectionReader(u.content, 0, u.size), wo)
}

// encodeTagging returns tags as the x-amz-tagging header wants them: URL
// query encoding, spaces as %20.
func encodeTagging(tags Tags) *string {
	if len(tags) == 0 {
		return nil
	}
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = queryEscape(t.Name) + "=" + queryEscape(t.Value)
	}
	return aws.String(strings.Join(parts, "&"))
}

func queryEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// putS3 sends the object with PutObject, or as a multipart upload above
// Options.S3PartSize, reading every part from content as it is sent.
func (b *Bucket) putS3(ctx context.Context, u *upload) error {
	part := b.opts.S3PartSize
	if u.size <= part {
		_, err := b.s3.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(b.s3Bucket),
			Key:           aws.String(u.key),
			Body:          io.NewSectionReader(u.content, 0, u.size),
			ContentLength: aws.Int64(u.size),
			ContentType:   aws.String(u.contentType),
			Tagging:       encodeTagging(u.tags),
			Metadata:      u.metadata(),
		})
		return err
	}
	// S3 allows at most 10,000 parts.
	if n := (u.size + part - 1) / part; n > 10000 {
		part = (u.size + 9999) / 10000
	}
	create := &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(b.s3Bucket),
		Key:         aws.String(u.key),
		ContentType: aws.String(u.contentType),
		Tagging:     encodeTagging(u.tags),
		Metadata:    u.metadata(),
	}
	if b.s3Amazon {
		create.ChecksumAlgorithm = s3types.ChecksumAlgorithmCrc32
	}
	mu, err := b.s3.CreateMultipartUpload(ctx, create)
	if err != nil {
		return err
	}
	abort := func() {
		// The upload failed or ctx ended: drop the parts so they are not
		// billed, on a context that outlives ctx for a moment.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = b.s3.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(b.s3Bucket), Key: aws.String(u.key), UploadId: mu.UploadId,
		})
	}
	var parts []s3types.CompletedPart
	for n, off := int32(1), int64(0); off < u.size; n, off = n+1, off+part {
		l := min(part, u.size-off)
		in := &s3.UploadPartInput{
			Bucket:        aws.String(b.s3Bucket),
			Key:           aws.String(u.key),
			UploadId:      mu.UploadId,
			PartNumber:    aws.Int32(n),
			ContentLength: aws.Int64(l),
		}
		if b.s3Amazon {
			in.ChecksumAlgorithm = s3types.ChecksumAlgorithmCrc32
		}
		var out *s3.UploadPartOutput
		err := b.retry(ctx, fmt.Sprintf("write part %d", n), u.key, func(ctx context.Context) error {
			in.Body = io.NewSectionReader(u.content, off, l)
			var err error
			out, err = b.s3.UploadPart(ctx, in)
			return err
		})
		if err != nil {
			abort()
			// The part was retried already; do not retry the whole upload.
			return &finalError{err}
		}
		parts = append(parts, s3types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	}
	sort.Slice(parts, func(i, j int) bool { return *parts[i].PartNumber < *parts[j].PartNumber })
	_, err = b.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(b.s3Bucket),
		Key:             aws.String(u.key),
		UploadId:        mu.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		abort()
	}
	return err
}

// Landed reports whether key holds an object of size bytes stored by an
// upload with uploadID (see UploadOptions.UploadID): the check a retry makes
// when the answer to an earlier try was lost.
func (b *Bucket) Landed(ctx context.Context, key string, size int64, uploadID string) (bool, error) {
	a, err := b.Attributes(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return a.Size == size && uploadID != "" && a.Metadata[MetadataUploadID] == uploadID, nil
}
