package tenancy

import (
	"errors"
	"net/url"
	"path"
	"reflect"
	"strings"

	"github.com/voicegw/voicegw/internal/redact"
	"github.com/voicegw/voicegw/storage/bucketconfig"
)

// AudioFormat is the container of a call recording.
type AudioFormat string

// Audio formats (seed "Call recording configuration": .wav or .mp3).
const (
	FormatWAV AudioFormat = "wav"
	FormatMP3 AudioFormat = "mp3"
)

// Ext returns the file extension with its dot: ".wav" or ".mp3".
func (f AudioFormat) Ext() string { return "." + string(f) }

// RecordingConfig is an account's call recording configuration.
type RecordingConfig struct {
	// Enabled turns call recording on for the account. Without it nothing
	// is recorded, whatever RecordAllCalls and the applications say.
	Enabled bool `json:"enabled"`
	// Format is FormatWAV (the default when empty) or FormatMP3.
	Format AudioFormat `json:"format"`
	// Bucket is where recordings are uploaded: the bucket configuration of
	// package storage (storage.Config is the same type). Required when
	// Enabled. Its secrets marshal masked; stores keep them through
	// MarshalStored.
	Bucket bucketconfig.Config `json:"bucket"`
	// BucketURL is the alternative to Bucket for operators who already
	// configure buckets as gocloud.dev URLs: s3://BUCKET?region=...,
	// gs://BUCKET, azblob://CONTAINER, file:///ABSOLUTE/DIR, mem://.
	// Credentials then come from the gateway's environment, as gocloud.dev
	// documents for each scheme (see storage.OpenURL), so it suits
	// single-tenant deployments. At most one of Bucket and BucketURL is set.
	BucketURL string `json:"bucket_url,omitempty"`
	// RecordAllCalls records the calls of every application of the account;
	// otherwise each application's own RecordAllCalls decides.
	RecordAllCalls bool `json:"record_all_calls"`
}

func (r *RecordingConfig) clone() RecordingConfig {
	c := *r
	c.Bucket = r.Bucket.Clone()
	return c
}

func (r *RecordingConfig) equal(o *RecordingConfig) bool {
	return r.Enabled == o.Enabled && r.Format == o.Format && r.RecordAllCalls == o.RecordAllCalls &&
		r.BucketURL == o.BucketURL && reflect.DeepEqual(r.Bucket, o.Bucket)
}

func (r *RecordingConfig) normalize() {
	r.BucketURL = strings.TrimSpace(r.BucketURL)
	if r.Format == "" {
		r.Format = FormatWAV
	}
}

func (r *RecordingConfig) validate() []error {
	var errs []error
	switch r.Format {
	case "", FormatWAV, FormatMP3:
	default:
		errs = append(errs, invalid("account", "recording.format", string(r.Format), `must be "wav" or "mp3"`))
	}
	switch {
	case r.BucketURL != "" && !r.Bucket.IsZero():
		errs = append(errs, invalid("account", "recording.bucket_url", redact.URL(r.BucketURL), "give either bucket or bucket_url, not both"))
	case r.BucketURL != "":
		if reason := checkBucketURL(r.BucketURL); reason != "" {
			errs = append(errs, invalid("account", "recording.bucket_url", redact.URL(r.BucketURL), reason))
		}
	case r.Bucket.IsZero() && r.Enabled:
		errs = append(errs, invalid("account", "recording.bucket", "", "required when recording is enabled"))
	case !r.Bucket.IsZero():
		if err := r.Bucket.Validate(); err != nil {
			errs = append(errs, bucketErrors(err)...)
		}
	}
	return errs
}

// checkBucketURL returns why u is not a bucket URL of a scheme package
// storage opens, or "".
func checkBucketURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "not a URL"
	}
	if p.User != nil {
		return "must not carry credentials (they come from the environment)"
	}
	switch p.Scheme {
	case "s3", "gs", "azblob":
		if p.Host == "" {
			return "no bucket name (" + p.Scheme + "://BUCKET)"
		}
	case "file":
		if p.Host != "" && p.Host != "localhost" || !strings.HasPrefix(p.Path, "/") || p.Path == "/" {
			return "want file:///ABSOLUTE/DIRECTORY"
		}
	case "mem":
	default:
		return "scheme must be s3, gs, azblob, file or mem"
	}
	return ""
}

// bucketErrors turns the bucket's field errors into account field errors
// named recording.bucket.FIELD.
func bucketErrors(err error) []error {
	fes := bucketconfig.FieldErrors(err)
	if len(fes) == 0 {
		return []error{&FieldError{Entity: "account", Field: "recording.bucket", Reason: err.Error(), Err: ErrInvalid}}
	}
	out := make([]error, 0, len(fes))
	for _, fe := range fes {
		reason := fe.Reason
		switch {
		case reason == "" && fe.Err != nil:
			reason = fe.Err.Error()
		case errors.Is(fe.Err, bucketconfig.ErrMissingField) && !strings.Contains(reason, "missing"):
			reason = "missing: " + reason
		}
		// Both sentinels match: ErrInvalid, and storage's own
		// (bucketconfig.ErrMissingField or ErrInvalidField).
		out = append(out, &FieldError{Entity: "account", Field: "recording.bucket." + fe.Field, Value: fe.Value, Reason: reason, Err: errors.Join(ErrInvalid, fe.Err)})
	}
	return out
}

// RecordingDecision says whether a call is recorded, and how.
type RecordingDecision struct {
	// Record is true when the call must be recorded.
	Record bool
	// Format is the account's format (set when Record is true).
	Format AudioFormat
	// Reason says which setting decided, for logs.
	Reason string
}

// Decide applies the recording policy of seeds 000/001 to a call of app
// (nil when the call has no application) on account acct:
//
//   - nothing is recorded unless the account's recording is enabled;
//   - the account's RecordAllCalls records every application of the account;
//   - otherwise the application's own RecordAllCalls decides;
//   - the format always comes from the account.
//
// An application of another account never makes a call recorded.
func Decide(acct *Account, app *Application) RecordingDecision {
	rc := &acct.Recording
	format := rc.Format
	if format == "" {
		format = FormatWAV
	}
	switch {
	case !rc.Enabled:
		return RecordingDecision{Reason: "account recording disabled"}
	case rc.RecordAllCalls:
		return RecordingDecision{Record: true, Format: format, Reason: "account records all calls"}
	case app == nil:
		return RecordingDecision{Reason: "no application"}
	case app.Account != acct.SID:
		return RecordingDecision{Reason: "application belongs to another account"}
	case app.RecordAllCalls:
		return RecordingDecision{Record: true, Format: format, Reason: "application records all calls"}
	}
	return RecordingDecision{Reason: "application does not record calls"}
}

// RecordingKey returns the object key of a recording in the account's bucket:
// ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav (or .mp3), the shape of
// audio_url in the Insights session document. A call without an application
// uses "-" in its place. Path separators in sessionID are replaced by '_'.
func RecordingKey(account, application SID, sessionID string, f AudioFormat) string {
	app := string(application)
	if app == "" {
		app = "-"
	}
	clean := []byte(sessionID)
	for i, c := range clean {
		if c == '/' || c == '\\' {
			clean[i] = '_'
		}
	}
	return path.Join(string(account), app, string(clean)+f.Ext())
}

// keepSecrets keeps the stored bucket credentials where the submitted
// configuration carries them masked or empty (bucketconfig.Config.Merge; it
// refuses to keep a secret whose endpoint changed).
func (r *RecordingConfig) keepSecrets(stored *RecordingConfig) error {
	merged, err := stored.Bucket.Merge(r.Bucket)
	if err != nil {
		return joinErrs(bucketErrors(err))
	}
	r.Bucket = merged
	return nil
}
