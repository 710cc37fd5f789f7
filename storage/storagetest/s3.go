package storagetest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage"
)

// S3Server is an in-process S3 server: github.com/johannesboyne/gofakes3
// behind an AWS Signature Version 4 check, on a loopback port. It serves
// path-style requests at Endpoint (S3-compatible configurations, Config) and
// Amazon's virtual-hosted requests through AmazonHTTPClient (Amazon S3
// configurations, AmazonConfig).
//
// gofakes3 accepts any credentials; the check in front of it recomputes each
// request's signature (header or presigned query) with the AWS SDK's own
// signer and the server's one known key pair, and answers like S3 does:
// 403 InvalidAccessKeyId for an unknown key ID, 403 SignatureDoesNotMatch
// for a wrong secret, 403 AccessDenied for an expired presigned URL.
//
// gofakes3 v1.2.0 has no object tagging API (no ?tagging routes:
// GetObjectTagging is answered with the object's body). It does keep every
// x-amz-* request header of a PutObject or CreateMultipartUpload with the
// object and sends it back on HEAD and GET, so the tags an upload sent are
// visible to the AWS SDK's HeadObject as the X-Amz-Tagging response header;
// Tagging reads them that way.
type S3Server struct {
	t       testing.TB
	backend *s3mem.Backend
	faker   *gofakes3.GoFakeS3
	addr    string
	// KeyID is the one access key ID the server accepts.
	KeyID string
	// SecretKey is its secret access key.
	SecretKey secret.String
	// Region is the region signatures must name.
	Region string

	mu      sync.Mutex
	srv     *http.Server
	writes  map[string]int // "bucket/key" -> completed object writes
	failPut int            // answer the next failPut object writes with 503
	drop    int            // store the next drop object writes, then cut the connection
	discard bool
}

// NewS3Server starts an S3 server on 127.0.0.1 (a free port) and stops it
// when t ends.
func NewS3Server(t testing.TB) *S3Server {
	t.Helper()
	s := &S3Server{
		t:         t,
		backend:   s3mem.New(),
		KeyID:     "AKIAVOICEGWTEST00001",
		SecretKey: "voicegw/test/secret/key/0123456789abcdefgh",
		Region:    "us-east-1",
		writes:    map[string]int{},
	}
	s.faker = gofakes3.New(s.backend, gofakes3.WithTimeSkewLimit(0))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("s3 server: %v", err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	t.Cleanup(s.Stop)
	return s
}

// Endpoint returns the server's base URL.
func (s *S3Server) Endpoint() string { return "http://" + s.addr }

// Config returns an S3-compatible configuration of bucket on this server
// with the server's credentials and path-style addressing.
func (s *S3Server) Config(bucket string, tags storage.Tags) storage.Config {
	return storage.Config{Vendor: storage.VendorS3Compatible, S3Compatible: &storage.S3CompatibleConfig{
		Endpoint: s.Endpoint(), PathStyle: true, Bucket: bucket, Region: s.Region,
		AccessKeyID: s.KeyID, SecretAccessKey: s.SecretKey, Tags: tags,
	}}
}

// CreateBucket creates bucket.
func (s *S3Server) CreateBucket(bucket string) {
	s.t.Helper()
	if err := s.backend.CreateBucket(bucket); err != nil {
		s.t.Fatalf("create bucket %s: %v", bucket, err)
	}
}

// Client returns an AWS SDK client of the server: the "vendor's own client"
// tests check uploads with.
func (s *S3Server) Client() *s3.Client {
	return s3.NewFromConfig(aws.Config{
		Region:      s.Region,
		Credentials: credentials.NewStaticCredentialsProvider(s.KeyID, s.SecretKey.Reveal(), ""),
	}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint())
		o.UsePathStyle = true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

// Tagging returns the tags stored with bucket/key, read with the AWS SDK's
// HeadObject (see the type's doc for why not GetObjectTagging).
func (s *S3Server) Tagging(ctx context.Context, bucket, key string) (map[string]string, error) {
	out, err := s.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	raw, ok := rawResponseHeader(out.ResultMetadata, "X-Amz-Tagging")
	if !ok {
		return map[string]string{}, nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("x-amz-tagging %q: %w", raw, err)
	}
	m := map[string]string{}
	for k, v := range q {
		m[k] = v[0]
	}
	return m, nil
}

// Writes returns how many times an object write of bucket/key completed
// (PutObject or CompleteMultipartUpload answered 200).
func (s *S3Server) Writes(bucket, key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[bucket+"/"+key]
}

// FailNextWrites makes the next n object writes (PutObject, UploadPart)
// fail with 503 SlowDown, as S3 does under load.
func (s *S3Server) FailNextWrites(n int) {
	s.mu.Lock()
	s.failPut = n
	s.mu.Unlock()
}

// DropNextResponses makes the next n object writes (PutObject,
// CompleteMultipartUpload) be stored, and then the connection closed before
// the answer is sent: the client cannot know that the write landed.
func (s *S3Server) DropNextResponses(n int) {
	s.mu.Lock()
	s.drop = n
	s.mu.Unlock()
}

// DiscardBodies makes PutObject and UploadPart read the body (after the
// signature check) and throw it away instead of storing it, answering 200
// with the body's MD5 as ETag: a sink that measures a client without the
// server's own copy of the object. Objects written so are not readable.
func (s *S3Server) DiscardBodies(on bool) {
	s.mu.Lock()
	s.discard = on
	s.mu.Unlock()
}

// Stop closes the listener and every connection: the endpoint refuses
// connections until Start. Objects are kept.
func (s *S3Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Start listens again on the same address after Stop.
func (s *S3Server) Start() {
	s.t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port may linger briefly after Close
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("s3 server restart on %s: %v", s.addr, err)
	}
	s.serve(l)
}

func (s *S3Server) serve(l net.Listener) {
	srv := &http.Server{Handler: s.handler(s.faker.Server()), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (s *S3Server) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, msg := s.verify(r); code != "" {
			writeS3Error(w, http.StatusForbidden, code, msg)
			return
		}
		toPathStyle(r)
		if code, msg := decodeAWSChunked(w, r); code != "" {
			writeS3Error(w, http.StatusBadRequest, code, msg)
			return
		}
		q := r.URL.Query()
		_, isTagging := q["tagging"]
		isObjectWrite := r.Method == http.MethodPut && !isTagging && r.Header.Get("X-Amz-Copy-Source") == "" && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1
		isComplete := r.Method == http.MethodPost && q.Get("uploadId") != ""
		if isObjectWrite {
			s.mu.Lock()
			fail := s.failPut > 0
			if fail {
				s.failPut--
			}
			s.mu.Unlock()
			if fail {
				writeS3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
				return
			}
		}
		s.mu.Lock()
		discard := s.discard && isObjectWrite
		drop := s.drop > 0 && (isObjectWrite && q.Get("uploadId") == "" || isComplete)
		if drop {
			s.drop--
		}
		s.mu.Unlock()
		if discard {
			h := md5.New()
			if _, err := io.Copy(h, r.Body); err != nil {
				writeS3Error(w, http.StatusBadRequest, "IncompleteBody", err.Error())
				return
			}
			w.Header().Set("ETag", `"`+hex.EncodeToString(h.Sum(nil))+`"`)
			w.WriteHeader(http.StatusOK)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		if drop {
			rec.ResponseWriter = httptest.NewRecorder()
		}
		next.ServeHTTP(rec, r)
		if (isObjectWrite && q.Get("uploadId") == "" || isComplete) && rec.code == http.StatusOK && !rec.errorBody {
			s.mu.Lock()
			s.writes[strings.TrimPrefix(r.URL.Path, "/")]++
			s.mu.Unlock()
		}
		if drop {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
				}
			}
		}
	})
}

// verify checks the request's SigV4 signature; it returns an S3 error code
// and message when the request must be refused.
func (s *S3Server) verify(r *http.Request) (code, msg string) {
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") != "" {
		return s.verifyPresigned(r)
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "AccessDenied", "Anonymous access is forbidden for this operation"
	}
	cred, signed, sig, ok := parseAuthorization(auth)
	if !ok {
		return "AuthorizationHeaderMalformed", "The authorization header is malformed"
	}
	keyID, date, region, ok := parseCredential(cred)
	if !ok {
		return "AuthorizationHeaderMalformed", "The authorization header is malformed"
	}
	if keyID != s.KeyID {
		return "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
	}
	t, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || !strings.HasPrefix(r.Header.Get("X-Amz-Date"), date) {
		return "AccessDenied", "X-Amz-Date is missing or does not match the credential scope"
	}
	clone := s.canonicalClone(r, strings.Split(signed, ";"))
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(
		r.Context(), aws.Credentials{AccessKeyID: s.KeyID, SecretAccessKey: s.SecretKey.Reveal()},
		clone, r.Header.Get("X-Amz-Content-Sha256"), "s3", region, t)
	if err != nil {
		return "AccessDenied", err.Error()
	}
	_, _, want, _ := parseAuthorization(clone.Header.Get("Authorization"))
	if want != sig {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	}
	return "", ""
}

func (s *S3Server) verifyPresigned(r *http.Request) (code, msg string) {
	q := r.URL.Query()
	keyID, _, region, ok := parseCredential(q.Get("X-Amz-Credential"))
	if !ok {
		return "AuthorizationQueryParametersError", "X-Amz-Credential is malformed"
	}
	if keyID != s.KeyID {
		return "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
	}
	t, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	exp, err2 := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || err2 != nil {
		return "AuthorizationQueryParametersError", "X-Amz-Date or X-Amz-Expires is malformed"
	}
	if time.Now().After(t.Add(time.Duration(exp) * time.Second)) {
		return "AccessDenied", "Request has expired"
	}
	sig := q.Get("X-Amz-Signature")
	clone := s.canonicalClone(r, strings.Split(q.Get("X-Amz-SignedHeaders"), ";"))
	cq := clone.URL.Query()
	for _, k := range []string{"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm", "X-Amz-Date", "X-Amz-SignedHeaders"} {
		cq.Del(k)
	}
	clone.URL.RawQuery = cq.Encode()
	signedURL, _, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).PresignHTTP(
		r.Context(), aws.Credentials{AccessKeyID: s.KeyID, SecretAccessKey: s.SecretKey.Reveal()},
		clone, "UNSIGNED-PAYLOAD", "s3", region, t)
	if err != nil {
		return "AccessDenied", err.Error()
	}
	u, err := url.Parse(signedURL)
	if err != nil || u.Query().Get("X-Amz-Signature") != sig {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	}
	return "", ""
}

// canonicalClone returns a bodiless copy of r with only the signed headers,
// for the signer to sign again.
func (s *S3Server) canonicalClone(r *http.Request, signed []string) *http.Request {
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	clone, _ := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	clone.URL = u
	clone.Host = r.Host
	clone.Header = http.Header{}
	for _, h := range signed {
		switch h {
		case "host":
		case "content-length":
			clone.ContentLength = r.ContentLength
		default:
			if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
				clone.Header[http.CanonicalHeaderKey(h)] = v
			}
		}
	}
	return clone
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func parseAuthorization(h string) (cred, signed, sig string, ok bool) {
	rest, found := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !found {
		return "", "", "", false
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig = v
		}
	}
	return cred, signed, sig, cred != "" && signed != "" && sig != ""
}

// parseCredential splits "KEYID/DATE/REGION/s3/aws4_request".
func parseCredential(c string) (keyID, date, region string, ok bool) {
	p := strings.Split(c, "/")
	if len(p) != 5 || p[3] != "s3" || p[4] != "aws4_request" {
		return "", "", "", false
	}
	return p[0], p[1], p[2], true
}

func rawResponseHeader(md middleware.Metadata, name string) (string, bool) {
	raw, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok {
		return "", false
	}
	v, ok := raw.Header[http.CanonicalHeaderKey(name)]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		RequestID string `xml:"RequestId"`
	}{Code: code, Message: msg, RequestID: "voicegw-test"})
}

type statusRecorder struct {
	http.ResponseWriter
	code      int
	errorBody bool
	wrote     bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.wrote = true
	}
	// CompleteMultipartUpload can fail with 200 and an <Error> body.
	if strings.Contains(string(b[:min(len(b), 128)]), "<Error>") {
		r.errorBody = true
	}
	return r.ResponseWriter.Write(b)
}
