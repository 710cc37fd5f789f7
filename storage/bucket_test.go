package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/storagetest"
)

// countingTransport counts the requests that reach the network.
type countingTransport struct {
	n    atomic.Int64
	puts atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	if r.Method == http.MethodPut {
		c.puts.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestUploadRetriesTransientFailures(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	ct := &countingTransport{}
	var logs bytes.Buffer
	cfg := srv.Config("recordings", nil)
	b, err := storage.Open(context.Background(), cfg, &storage.Options{
		HTTPClient: &http.Client{Transport: ct},
		Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
		Retry:      storage.RetryPolicy{Attempts: 4, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	body := storagetest.WAV(8000, 1, time.Second)
	ctx := context.Background()

	t.Run("succeeds after two 503s", func(t *testing.T) {
		srv.FailNextWrites(2)
		ct.puts.Store(0)
		if err := b.Upload(ctx, "AC1/AP1/RE1.wav", bytes.NewReader(body), int64(len(body)), nil); err != nil {
			t.Fatalf("Upload: %v", err)
		}
		if n := ct.puts.Load(); n != 3 {
			t.Fatalf("%d PUTs, want 3 (two refused, one stored)", n)
		}
		if n := srv.Writes("recordings", "AC1/AP1/RE1.wav"); n != 1 {
			t.Fatalf("stored %d times", n)
		}
		if c := strings.Count(logs.String(), "retrying after a transient failure"); c != 2 {
			t.Fatalf("%d retry log lines, want 2:\n%s", c, logs.String())
		}
		if strings.Contains(logs.String(), cfg.S3Compatible.SecretAccessKey.Reveal()) {
			t.Fatal("log leaks the secret")
		}
	})
	t.Run("gives up after the attempts", func(t *testing.T) {
		srv.FailNextWrites(10)
		defer srv.FailNextWrites(0)
		ct.puts.Store(0)
		err := b.Upload(ctx, "AC1/AP1/RE2.wav", bytes.NewReader(body), int64(len(body)), nil)
		if err == nil || !strings.Contains(err.Error(), "SlowDown") {
			t.Fatalf("Upload = %v, want the last SlowDown", err)
		}
		if n := ct.puts.Load(); n != 4 {
			t.Fatalf("%d PUTs, want 4", n)
		}
	})
	t.Run("permanent failure is not retried", func(t *testing.T) {
		bad := srv.Config("recordings", nil)
		bad.S3Compatible.AccessKeyID = "AKIAUNKNOWNKEY000001"
		ct2 := &countingTransport{}
		bb, err := storage.Open(ctx, bad, &storage.Options{HTTPClient: &http.Client{Transport: ct2}})
		if err != nil {
			t.Fatal(err)
		}
		defer bb.Close()
		err = bb.Upload(ctx, "AC1/AP1/RE3.wav", bytes.NewReader(body), int64(len(body)), nil)
		if !errors.Is(err, storage.ErrBadCredentials) {
			t.Fatalf("Upload = %v, want ErrBadCredentials", err)
		}
		if n := ct2.n.Load(); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
		if !strings.Contains(err.Error(), "InvalidAccessKeyId") {
			t.Fatalf("error does not say which: %v", err)
		}
	})
	t.Run("multipart part is retried alone", func(t *testing.T) {
		mb, err := storage.Open(ctx, cfg, &storage.Options{
			HTTPClient: &http.Client{Transport: ct},
			S3PartSize: 5 << 20,
			Retry:      storage.RetryPolicy{Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer mb.Close()
		big := storagetest.WAV(8000, 2, 6*time.Minute) // 11.5 MB: three parts
		ct.puts.Store(0)
		srv.FailNextWrites(1) // the first part
		if err := mb.Upload(ctx, "AC1/AP1/BIG.wav", bytes.NewReader(big), int64(len(big)), nil); err != nil {
			t.Fatalf("Upload: %v", err)
		}
		if n := ct.puts.Load(); n != 4 {
			t.Fatalf("%d PUTs, want 4 (3 parts + 1 retry)", n)
		}
		if n := srv.Writes("recordings", "AC1/AP1/BIG.wav"); n != 1 {
			t.Fatalf("completed %d times", n)
		}
		r, err := mb.NewReader(ctx, "AC1/AP1/BIG.wav")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var got bytes.Buffer
		_, _ = got.ReadFrom(r)
		if !bytes.Equal(got.Bytes(), big) {
			t.Fatal("multipart object differs")
		}
	})
}

func TestUploadTagLimitsAreCheckedBeforeSending(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	ct := &countingTransport{}
	var tags storage.Tags
	for i := range 8 {
		tags = append(tags, storage.Tag{Name: "t" + string(rune('a'+i)), Value: "v"})
	}
	b, err := storage.Open(context.Background(), srv.Config("recordings", tags), &storage.Options{HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	extra := storage.Tags{{Name: "x1", Value: "1"}, {Name: "x2", Value: "2"}, {Name: "x3", Value: "3"}}
	err = b.Upload(context.Background(), "a/b.wav", strings.NewReader("x"), 1, &storage.UploadOptions{Tags: extra})
	if !errors.Is(err, storage.ErrInvalidConfig) || !strings.Contains(err.Error(), "at most 10") {
		t.Fatalf("Upload with 11 tags = %v", err)
	}
	if ct.n.Load() != 0 {
		t.Fatal("a request was sent")
	}
	// An upload tag replaces a configured tag of the same name.
	if err := b.Upload(context.Background(), "a/b.wav", strings.NewReader("x"), 1, &storage.UploadOptions{Tags: storage.Tags{{Name: "ta", Value: "override"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := srv.Tagging(context.Background(), "recordings", "a/b.wav")
	if err != nil || got["ta"] != "override" || len(got) != 8 {
		t.Fatalf("tags %v, %v", got, err)
	}
}

// gofakes3 v1.2.0 has no object tagging API: GetObjectTagging gets no tag
// set back. This test documents that (and fails once gofakes3 gains it, so
// Tagging can switch to GetObjectTagging).
func TestGofakes3HasNoObjectTaggingAPI(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	b, err := storage.Open(context.Background(), srv.Config("recordings", storage.Tags{{Name: "team", Value: "voice"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Upload(context.Background(), "a/b.wav", strings.NewReader("RIFF"), 4, nil); err != nil {
		t.Fatal(err)
	}
	out, err := srv.Client().GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: aws.String("recordings"), Key: aws.String("a/b.wav")})
	if err == nil && len(out.TagSet) > 0 {
		t.Fatalf("gofakes3 now answers GetObjectTagging (%v): switch S3Server.Tagging to it", out.TagSet)
	}
	tags, err := srv.Tagging(context.Background(), "recordings", "a/b.wav")
	if err != nil || tags["team"] != "voice" {
		t.Fatalf("HeadObject x-amz-tagging: %v %v", tags, err)
	}
}

// Amazon S3 is reached at the regional virtual-hosted endpoint; a presigned
// URL shows where requests go without any network.
func TestAmazonS3Endpoint(t *testing.T) {
	cfg := storage.Config{Vendor: storage.VendorS3, S3: &storage.S3Config{
		Bucket: "call-recordings", Region: "eu-central-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	}}
	b, err := storage.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	link, err := b.SignedURL(context.Background(), "AC1/AP1/RE1.wav", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "https" || u.Host != "call-recordings.s3.eu-central-1.amazonaws.com" || u.Path != "/AC1/AP1/RE1.wav" ||
		!strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIAIOSFODNN7EXAMPLE/") || !strings.Contains(q.Get("X-Amz-Credential"), "/eu-central-1/s3/") ||
		q.Get("X-Amz-Expires") != "900" {
		t.Fatalf("presigned URL %s", link)
	}
	if _, err := b.SignedURL(context.Background(), "a.wav", 8*24*time.Hour); !errors.Is(err, storage.ErrInvalidConfig) {
		t.Fatalf("8-day expiry = %v, want ErrInvalidConfig", err)
	}
}

func TestOpenRejectsInvalidConfig(t *testing.T) {
	_, err := storage.Open(context.Background(), storage.Config{Vendor: storage.VendorS3, S3: &storage.S3Config{Bucket: "Bad_Bucket"}}, nil)
	var fe *storage.FieldError
	if !errors.Is(err, storage.ErrInvalidConfig) || !errors.As(err, &fe) || fe.Field != "s3.bucket" {
		t.Fatalf("Open = %v", err)
	}
	err = storage.Test(context.Background(), storage.Config{}, nil)
	if !errors.Is(err, storage.ErrMissingField) {
		t.Fatalf("Test(zero config) = %v", err)
	}
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	t.Run("mem", func(t *testing.T) {
		b, err := storage.OpenURL(ctx, "mem://", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if b.Vendor() != storage.VendorMemory {
			t.Fatalf("vendor %s", b.Vendor())
		}
		if err := b.Test(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		b, err := storage.OpenURL(ctx, "file://"+filepath.ToSlash(dir), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.Upload(ctx, "AC1/AP1/RE1.wav", strings.NewReader("RIFF"), 4, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "AC1", "AP1", "RE1.wav")); err != nil || string(got) != "RIFF" {
			t.Fatalf("file in the directory: %q %v", got, err)
		}
		if _, err := storage.OpenURL(ctx, "file://"+filepath.ToSlash(filepath.Join(dir, "missing")), nil); !errors.Is(err, storage.ErrNoSuchBucket) {
			t.Fatalf("missing directory: %v", err)
		}
	})
	t.Run("s3", func(t *testing.T) {
		srv := storagetest.NewS3Server(t)
		srv.CreateBucket("recordings")
		// gocloud.dev's s3:// opener takes credentials from the AWS
		// environment; keep any real shared config out of it.
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_ACCESS_KEY_ID", srv.KeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey.Reveal())
		t.Setenv("AWS_SESSION_TOKEN", "")
		u := "s3://recordings?region=us-east-1&use_path_style=true&request_checksum_calculation=when_required&response_checksum_validation=when_required&endpoint=" + url.QueryEscape(srv.Endpoint())
		b, err := storage.OpenURL(ctx, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if b.Vendor() != storage.VendorS3 || b.Name() != "recordings" {
			t.Fatalf("vendor %s name %s", b.Vendor(), b.Name())
		}
		if err := b.Test(ctx); err != nil {
			t.Fatalf("Test: %v", err)
		}
		if err := b.Upload(ctx, "AC1/AP1/RE1.wav", strings.NewReader("RIFF"), 4, &storage.UploadOptions{Tags: storage.Tags{{Name: "k", Value: "v w"}}}); err != nil {
			t.Fatal(err)
		}
		tags, err := srv.Tagging(ctx, "recordings", "AC1/AP1/RE1.wav")
		if err != nil || tags["k"] != "v w" {
			t.Fatalf("tags %v %v", tags, err)
		}
	})
	t.Run("gs signs offline", func(t *testing.T) {
		srv := storagetest.NewGCSServer(t)
		keyFile := filepath.Join(t.TempDir(), "key.json")
		if err := os.WriteFile(keyFile, []byte(srv.ServiceKey().Reveal()), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", keyFile)
		b, err := storage.OpenURL(ctx, "gs://recordings", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		link, err := b.SignedURL(ctx, "AC1/AP1/RE1.wav", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(link, "X-Goog-Algorithm=GOOG4-RSA-SHA256") || !strings.Contains(link, url.QueryEscape("recorder@voicegw-test.iam.gserviceaccount.com")) {
			t.Fatalf("signed URL %s", link)
		}
	})
	for _, bad := range []string{"ftp://x", "://nope", "dropbox://x"} {
		if _, err := storage.OpenURL(ctx, bad, nil); !errors.Is(err, storage.ErrInvalidConfig) {
			t.Errorf("OpenURL(%q) = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	// A SAS connection string: its signature would travel in request URLs.
	cs := secret.String("BlobEndpoint=" + storagetest.UnreachableEndpoint(t) + "/acct;SharedAccessSignature=sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=SECRETSIGNATUREVALUE%3D")
	cfg := storage.Config{Vendor: storage.VendorAzure, Azure: &storage.AzureConfig{Container: "recordings", ConnectionString: cs}}
	err := storage.Test(context.Background(), cfg, &storage.Options{Retry: storage.RetryPolicy{Attempts: 1}})
	if !errors.Is(err, storage.ErrUnreachable) {
		t.Fatalf("Test = %v", err)
	}
	if strings.Contains(err.Error(), "SECRETSIGNATURE") {
		t.Fatalf("error shows the SAS signature: %v", err)
	}
	b, err := storage.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.SignedURL(context.Background(), "a.wav", time.Hour); !errors.Is(err, storage.ErrNotSupported) {
		t.Fatalf("SignedURL with a SAS connection string = %v, want ErrNotSupported", err)
	}
}

// tamperingTransport changes what the bucket sends back for GETs of probe
// objects, so that Test's read-back step sees a real S3 answer it must
// refuse.
type tamperingTransport struct {
	// remove, when set, deletes the object (through the S3 server's own
	// client) before the GET goes out: the server answers NoSuchKey.
	remove func(key string)
}

func (tt tamperingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	_, key, probe := strings.Cut(r.URL.Path, "/"+storage.ProbePrefix)
	if r.Method != http.MethodGet || !probe {
		return http.DefaultTransport.RoundTrip(r)
	}
	if tt.remove != nil {
		tt.remove(storage.ProbePrefix + key)
		return http.DefaultTransport.RoundTrip(r)
	}
	res, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || res.StatusCode != http.StatusOK {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(bytes.ToUpper(body))) // same length, other bytes
	return res, nil
}

// TestTestReadBackFails: Test reports ErrVerifyFailed at the read step when
// the probe cannot be read back or reads back different bytes, and leaves
// no probe object behind.
func TestTestReadBackFails(t *testing.T) {
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	for _, tc := range []struct {
		name    string
		tamper  tamperingTransport
		mention string
	}{
		{"different bytes", tamperingTransport{}, "different bytes"},
		{"not found after the write", tamperingTransport{remove: func(key string) {
			if _, err := srv.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("recordings"), Key: aws.String(key)}); err != nil {
				t.Errorf("deleting the probe behind Test's back: %v", err)
			}
		}}, "cannot be read back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b, err := storage.Open(ctx, srv.Config("recordings", nil), &storage.Options{HTTPClient: &http.Client{Transport: tc.tamper}})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			err = b.Test(ctx)
			var oe *storage.OpError
			if !errors.Is(err, storage.ErrVerifyFailed) || !errors.As(err, &oe) || oe.Op != storage.StepRead {
				t.Fatalf("Test = %v, want ErrVerifyFailed at %q", err, storage.StepRead)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error does not say %q: %v", tc.mention, err)
			}
			it := b.Blob().List(&blob.ListOptions{Prefix: storage.ProbePrefix})
			if obj, err := it.Next(ctx); err != io.EOF {
				t.Fatalf("a probe object was left behind: %+v, %v", obj, err)
			}
		})
	}
}
