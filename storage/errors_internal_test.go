package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/voicegw/voicegw/rbac/secret"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
)

func s3err(status int, code string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: &smithy.GenericAPIError{Code: code, Message: "msg"}},
	}}
}

func s3errMsg(status int, code, msg string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: &smithy.GenericAPIError{Code: code, Message: msg}},
	}}
}

func azerr(status int, code, statusLine string) error {
	return &azcore.ResponseError{ErrorCode: code, StatusCode: status, RawResponse: &http.Response{StatusCode: status, Status: statusLine}}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		kind      error
		transient bool
	}{
		{"s3 wrong secret", s3err(403, "SignatureDoesNotMatch"), ErrBadCredentials, false},
		{"s3 unknown key", s3err(403, "InvalidAccessKeyId"), ErrBadCredentials, false},
		{"s3 policy", s3err(403, "AccessDenied"), ErrPermissionDenied, false},
		{"s3 no bucket", s3err(404, "NoSuchBucket"), ErrNoSuchBucket, false},
		{"s3 no key", s3err(404, "NoSuchKey"), ErrNotFound, false},
		{"s3 slow down", s3err(503, "SlowDown"), errServer, true},
		{"s3 other region", s3err(301, "PermanentRedirect"), ErrWrongRegion, false},
		{"s3 region in signature", s3errMsg(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'"), ErrWrongRegion, false},
		{"s3 malformed header", s3errMsg(400, "AuthorizationHeaderMalformed", "The authorization header is malformed"), ErrBadCredentials, false},
		{"s3 500 without code", s3err(500, ""), errServer, true},
		{"azure wrong key", azerr(403, "AuthenticationFailed", "403 Server failed to authenticate the request."), ErrBadCredentials, false},
		{"azurite wrong key", azerr(403, "AuthorizationFailure", "403 Server failed to authenticate the request. Make sure ..."), ErrBadCredentials, false},
		{"azure not allowed", azerr(403, "AuthorizationPermissionMismatch", "403 This request is not authorized"), ErrPermissionDenied, false},
		{"azure no container", azerr(404, "ContainerNotFound", "404 The specified container does not exist."), ErrNoSuchBucket, false},
		{"azure busy", azerr(503, "ServerBusy", "503"), errServer, true},
		{"gcs no bucket", &googleapi.Error{Code: 404, Message: "The specified bucket does not exist."}, ErrNoSuchBucket, false},
		{"gcs 401", &googleapi.Error{Code: 401, Message: "Invalid Credentials"}, ErrBadCredentials, false},
		{"gcs 403", &googleapi.Error{Code: 403, Message: "does not have storage.objects.create access"}, ErrPermissionDenied, false},
		{"gcs 429", &googleapi.Error{Code: 429}, errServer, true},
		{"token refused", fmt.Errorf("oauth2: %w", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 400}, Body: []byte(`{"error":"invalid_grant"}`)}), ErrBadCredentials, false},
		{"token endpoint down", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 502}}, errServer, true},
		{"refused", &url.Error{Op: "Put", URL: "http://x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, ErrUnreachable, true},
		{"reset", fmt.Errorf("send: %w", syscall.ECONNRESET), ErrUnreachable, true},
		{"eof", &url.Error{Op: "Put", URL: "http://x", Err: io.EOF}, ErrUnreachable, true},
		{"dns", &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}, ErrUnreachable, false},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), nil, false},
		{"deadline", context.DeadlineExceeded, nil, false},
		{"plain", errors.New("something"), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, transient := classify(tc.err)
			if kind != tc.kind || transient != tc.transient {
				t.Fatalf("classify = %v, %v; want %v, %v", kind, transient, tc.kind, tc.transient)
			}
		})
	}
}

func TestDescribeAndScrub(t *testing.T) {
	for _, tc := range []struct {
		err     error
		want    string
		mustNot []string
	}{
		{s3err(403, "SignatureDoesNotMatch"), "HTTP 403 SignatureDoesNotMatch: msg", nil},
		{&oauth2.RetrieveError{Response: &http.Response{StatusCode: 400}, Body: []byte(`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)},
			"token endpoint refused the service key: HTTP 400 invalid_grant: Invalid JWT Signature.", nil},
		{&url.Error{Op: "Put", URL: "https://acct.blob.core.windows.net/c/k?sv=2022&sig=ABCDEF%3D", Err: syscall.ECONNREFUSED},
			`Put "https://acct.blob.core.windows.net/c/k?[REDACTED]"`, []string{"ABCDEF", "sv=2022"}},
		{errors.New("parse: AccountKey=c2VjcmV0; AccountName=a"), "AccountKey=[REDACTED]", []string{"c2VjcmV0"}},
		{errors.New(`GET https://b.s3.amazonaws.com/k?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA/x`), "?[REDACTED]", []string{"deadbeef", "AKIA"}},
	} {
		got := describe(tc.err)
		if !strings.Contains(got, tc.want) {
			t.Errorf("describe(%v) = %q, want it to contain %q", tc.err, got, tc.want)
		}
		for _, m := range tc.mustNot {
			if strings.Contains(got, m) {
				t.Errorf("describe leaks %q: %q", m, got)
			}
		}
	}
}

func TestBackoffStaysInBounds(t *testing.T) {
	for attempt := 1; attempt < 40; attempt++ {
		for range 50 {
			d := backoff(100*time.Millisecond, 2*time.Second, attempt)
			ceil := min(100*time.Millisecond<<min(attempt-1, 30), 2*time.Second)
			if d <= 0 || d > ceil {
				t.Fatalf("backoff(attempt %d) = %v, want (0, %v]", attempt, d, ceil)
			}
			s := spoolBackoff(time.Second, time.Minute, attempt)
			sceil := min(time.Second<<min(attempt-1, 30), time.Minute)
			if s < sceil/2 || s > sceil+time.Nanosecond {
				t.Fatalf("spoolBackoff(attempt %d) = %v, want [%v, %v]", attempt, s, sceil/2, sceil)
			}
		}
	}
}

func TestValidateKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"AC1/AP1/RE1.wav", true},
		{"a", true},
		{"dir/naïve name.mp3", true},
		{"", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"a/./b", false},
		{"a/../b", false},
		{"..", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"\xff", false},
		{strings.Repeat("k", 1025), false},
	} {
		err := ValidateKey(tc.key)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) error does not match ErrInvalidKey", tc.key)
		}
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"AC1/AP1/RE1.wav", "a/../b", "", "/x", "ü/ß.mp3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if ValidateKey(key) != nil {
			return
		}
		// Every valid key is a relative path of non-empty segments that
		// survives a round trip through splitting and joining.
		parts := strings.Split(key, "/")
		if strings.Join(parts, "/") != key {
			t.Fatal("round trip")
		}
		for _, p := range parts {
			if p == "" || p == "." || p == ".." {
				t.Fatalf("valid key %q has segment %q", key, p)
			}
		}
		// A valid key is also a valid recording key prefix.
		if ContentTypeFor(key+".wav") != ContentTypeWAV {
			t.Fatal("content type")
		}
	})
}

// The Amazon S3 client settings (CRC32 checksums on every request,
// multipart parts with checksums) against the in-process S3 protocol
// server; the Amazon endpoint itself is replaced by the test server's.
func TestAmazonChecksumModeUploads(t *testing.T) {
	srv := newTestS3(t)
	b := &Bucket{vendor: VendorS3, name: "recordings", s3Bucket: "recordings", s3Amazon: true,
		opts: (&Options{S3PartSize: 5 << 20}).resolved()}
	b.s3 = newS3Client("us-east-1", srv.keyID, srv.secret, srv.endpoint, true, true, b.opts.HTTPClient, b.opts.Logger)
	for _, size := range []int{1000, 11 << 20} {
		body := bytes.Repeat([]byte("voicegw!"), size/8)
		u := &upload{key: fmt.Sprintf("AC1/AP1/%d.wav", size), content: bytes.NewReader(body), size: int64(len(body)), contentType: ContentTypeWAV,
			tags: Tags{{Name: "team", Value: "voice"}}}
		if err := b.putS3(context.Background(), u); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got := srv.get(t, u.key)
		if !bytes.Equal(got, body) {
			t.Fatalf("size %d: object differs (%d bytes)", size, len(got))
		}
	}
}

type testS3 struct {
	endpoint, keyID string
	secret          secret.String
}

// newTestS3 starts gofakes3 without the signature check of storagetest
// (which this package's internal tests cannot import).
func newTestS3(t *testing.T) *testS3 {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket("recordings"); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(hs.Close)
	return &testS3{endpoint: hs.URL, keyID: "AKIAVOICEGWTEST00001", secret: "secret-secret-secret"}
}

func (s *testS3) get(t *testing.T, key string) []byte {
	t.Helper()
	resp, err := http.Get(s.endpoint + "/recordings/" + key)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", key, resp.StatusCode, b)
	}
	return b
}
