// Package storage turns an operator's bucket configuration into a working
// bucket for call recordings: Amazon S3, S3-compatible services, Google Cloud
// Storage, Azure Blob Storage, a local directory or memory, all through
// gocloud.dev/blob.
//
// # Configuration
//
// Config (an alias of bucketconfig.Config, which imports only the standard
// library, so configuration stores can embed it cheaply) holds a Vendor and
// that vendor's section, as in the "Call recording configuration" form:
// bucket, region, access key ID, secret access key and tags for S3; the same
// plus endpoint and path style for S3-compatible services; bucket, service
// key JSON and tags for GCS; container, connection string and tags for
// Azure; a directory; memory. Validate names every bad field (*FieldError,
// matching ErrInvalidConfig and ErrMissingField or ErrInvalidField).
// Secrets are [secret.String] values: redacted in logs and errors, masked in JSON and
// YAML (Masked, the show-back form), kept when a masked value is submitted
// back (Merge), and written for real only by MarshalStored, which is for
// durable configuration stores alone.
//
// # Buckets
//
// Open validates a Config and opens its bucket; OpenURL opens a gocloud.dev
// URL (s3://, gs://, azblob://, file://, mem://) with credentials from the
// environment. A Bucket offers:
//
//   - Test: write, read back and delete a probe object; the *OpError names
//     the step and matches ErrBadCredentials, ErrPermissionDenied,
//     ErrNoSuchBucket, ErrWrongRegion, ErrUnreachable, or ErrVerifyFailed
//     when the probe cannot be read back as written.
//   - UploadFile / Upload: streaming (S3 parts are read from the file as
//     they are sent; GCS and Azure hold one Options.ChunkSize buffer),
//     content type audio/wav or audio/mpeg from the key, the configured tags
//     plus the upload's (S3 object tagging, Azure blob index tags, GCS object
//     metadata), retries with backoff on transient failures only, ctx
//     cancellation honoured (no partial object is left).
//   - SignedURL: a playback link (S3 presigned, GCS V4 signed, Azure SAS), or
//     ErrNotSupported for the local directory and memory; the links answer
//     Range requests (a browser's audio element seeks with them).
//   - NewRangeReader and Attributes (size, content type, ETag): what a
//     gateway needs to serve a recording itself with HTTP Range semantics
//     (one ranged request to the vendor per range read).
//
// Requests are signed as each vendor requires: AWS Signature Version 4,
// OAuth 2.0 bearer tokens obtained with a JWT assertion (RFC 7523,
// RFC 6750) for GCS, Azure Shared Key or SAS; URLs follow RFC 3986.
//
// # Nothing lost: the spool
//
// A Spool keeps recordings in a local directory until the bucket has
// confirmed them. The recording package hands each finished file over with
// one call and forgets it:
//
//	key, _ := storage.RecordingKey(accountSID, applicationSID, sessionID, "wav")
//	_, err := spool.Enqueue(ctx, "/var/spool/voicegw/tmp/RE1.wav", key,
//		&storage.EnqueueOptions{Target: accountSID})
//
// Enqueue moves the file into the spool directory with a manifest, synced to
// disk, before it returns. Run (one goroutine per process) uploads waiting
// items, retries failures with backoff forever, removes a file only after
// the bucket accepted it, and checks for an object that landed although the
// answer was lost, so each file is stored once. OpenSpool reads the
// directory back after a restart. List and Inspect show what waits, how many
// tries it took and why the last one failed. With SpoolConfig.Resolve each
// item's Target (an account SID) picks its bucket at every try, so a fixed
// configuration is used for recordings that already wait.
//
// Package storagetest holds the conformance suite every vendor passes and
// the protocol servers the tests run against (gofakes3 behind a SigV4 check,
// fake-gcs-server behind an OAuth token endpoint, Azurite).
package storage
