package storagetest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gstorage "cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage"
)

// GCSServer is an in-process Google Cloud Storage server:
// github.com/fsouza/fake-gcs-server (JSON API) behind an OAuth 2.0 check,
// plus the token endpoint a service key names in "token_uri".
//
// fake-gcs-server accepts any request; in front of it, the token endpoint
// runs the service-account flow of RFC 7523 (a JWT bearer assertion signed
// RS256 with the key's private key, verified here with the public key of the
// one service account the server knows) and issues access tokens, and the
// storage endpoint refuses requests without one of them (401, as GCS does).
// V4 signed URLs (GOOG4-RSA-SHA256) are verified the same way before the
// object is served. A service key with another private key is refused by
// the token endpoint with invalid_grant "Invalid JWT Signature.", like
// Google's.
type GCSServer struct {
	t      testing.TB
	fake   *fakestorage.Server
	srv    *httptest.Server
	email  string
	kid    string
	key    *rsa.PrivateKey
	other  *rsa.PrivateKey
	mu     sync.Mutex
	tokens map[string]bool
}

// NewGCSServer starts a GCS server on 127.0.0.1 and stops it when t ends.
func NewGCSServer(t testing.TB) *GCSServer {
	t.Helper()
	s := &GCSServer{t: t, email: "recorder@voicegw-test.iam.gserviceaccount.com", kid: "kid-1", tokens: map[string]bool{}}
	var err error
	if s.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if s.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewUnstartedServer(nil)
	s.srv.Start()
	s.fake, err = fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener:  true,
		ExternalURL: s.srv.URL,
		PublicHost:  strings.TrimPrefix(s.srv.URL, "http://"),
		Scheme:      "http",
	})
	if err != nil {
		t.Fatalf("fake-gcs-server: %v", err)
	}
	s.srv.Config.Handler = s.handler(s.fake.HTTPHandler())
	t.Cleanup(func() {
		s.srv.Close()
		s.fake.Stop()
	})
	return s
}

// Endpoint returns the JSON API base URL for GCSConfig.Endpoint.
func (s *GCSServer) Endpoint() string { return s.srv.URL + "/storage/v1/" }

// ServiceKey returns the JSON key of the service account the server knows.
func (s *GCSServer) ServiceKey() secret.String { return s.serviceKey(s.key) }

// WrongServiceKey returns a well-formed key of the same account with a
// private key the server does not know.
func (s *GCSServer) WrongServiceKey() secret.String { return s.serviceKey(s.other) }

func (s *GCSServer) serviceKey(k *rsa.PrivateKey) secret.String {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "voicegw-test",
		"private_key_id": s.kid,
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   s.email,
		"client_id":      "100000000000000000001",
		"auth_uri":       "https://accounts.google.com/o/oauth2/auth",
		"token_uri":      s.srv.URL + "/token",
	})
	return secret.String(b)
}

// Config returns a GCS configuration of bucket on this server.
func (s *GCSServer) Config(bucket string, tags storage.Tags) storage.Config {
	return storage.Config{Vendor: storage.VendorGCS, GCS: &storage.GCSConfig{
		Bucket: bucket, ServiceKey: s.ServiceKey(), Tags: tags, Endpoint: s.Endpoint(),
	}}
}

// CreateBucket creates bucket.
func (s *GCSServer) CreateBucket(bucket string) {
	s.fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
}

// Client returns a Cloud Storage client of the server (the vendor's own
// client), authenticated with a token of the token endpoint.
func (s *GCSServer) Client(ctx context.Context) (*gstorage.Client, error) {
	tok := s.issue()
	hc := &http.Client{Transport: bearer{tok}}
	return gstorage.NewClient(ctx, option.WithEndpoint(s.Endpoint()), option.WithHTTPClient(hc))
}

// ObjectMetadata returns the metadata of bucket/key through the Cloud
// Storage client.
func (s *GCSServer) ObjectMetadata(ctx context.Context, bucket, key string) (map[string]string, string, error) {
	c, err := s.Client(ctx)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	a, err := c.Bucket(bucket).Object(key).Attrs(ctx)
	if err != nil {
		return nil, "", err
	}
	return a.Metadata, a.ContentType, nil
}

type bearer struct{ tok string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return http.DefaultTransport.RoundTrip(r)
}

func (s *GCSServer) issue() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := "ya29.test-" + hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = true
	s.mu.Unlock()
	return tok
}

func (s *GCSServer) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			s.token(w, r)
			return
		}
		if r.URL.Query().Get("X-Goog-Signature") != "" {
			if err := s.verifySignedURL(r); err != nil {
				writeGCSError(w, http.StatusForbidden, "SignatureDoesNotMatch: "+err.Error())
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		known := ok && s.tokens[tok]
		s.mu.Unlock()
		if !known {
			writeGCSError(w, http.StatusUnauthorized, "Invalid Credentials")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// token is the OAuth 2.0 token endpoint (RFC 7523 JWT bearer grant).
func (s *GCSServer) token(w http.ResponseWriter, r *http.Request) {
	fail := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		fail("invalid_request", err.Error())
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		fail("unsupported_grant_type", "Invalid grant_type: "+r.PostForm.Get("grant_type"))
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		fail("invalid_grant", "Invalid JWT.")
		return
	}
	var hdr struct{ Alg, Kid string }
	var claims struct {
		Iss, Aud, Scope string
		Exp, Iat        int64
	}
	if decodeSegment(parts[0], &hdr) != nil || decodeSegment(parts[1], &claims) != nil || hdr.Alg != "RS256" {
		fail("invalid_grant", "Invalid JWT.")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		fail("invalid_grant", "Invalid JWT Signature.")
		return
	}
	now := time.Now().Unix()
	switch {
	case claims.Iss != s.email:
		fail("invalid_grant", "Invalid email or User ID")
		return
	case claims.Aud != s.srv.URL+"/token":
		fail("invalid_grant", "Invalid JWT: audience")
		return
	case claims.Exp < now || claims.Iat > now+300:
		fail("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
		return
	case !strings.Contains(claims.Scope, "devstorage"):
		fail("invalid_scope", "no storage scope")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": s.issue(), "token_type": "Bearer", "expires_in": 3600})
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// verifySignedURL checks a V4 signed URL (GOOG4-RSA-SHA256) as GCS does.
func (s *GCSServer) verifySignedURL(r *http.Request) error {
	q := r.URL.Query()
	if q.Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" {
		return fmt.Errorf("algorithm %q", q.Get("X-Goog-Algorithm"))
	}
	cred := strings.Split(q.Get("X-Goog-Credential"), "/")
	if len(cred) != 5 || cred[0] != s.email {
		return fmt.Errorf("credential %q", q.Get("X-Goog-Credential"))
	}
	t, err := time.Parse("20060102T150405Z", q.Get("X-Goog-Date"))
	if err != nil {
		return err
	}
	var exp int
	if _, err := fmt.Sscan(q.Get("X-Goog-Expires"), &exp); err != nil {
		return err
	}
	if time.Now().After(t.Add(time.Duration(exp) * time.Second)) {
		return fmt.Errorf("expired")
	}
	sig, err := hex.DecodeString(q.Get("X-Goog-Signature"))
	if err != nil {
		return err
	}
	q.Del("X-Goog-Signature")
	var canon bytes.Buffer
	fmt.Fprintf(&canon, "%s\n%s\n%s\n", r.Method, r.URL.EscapedPath(), strings.ReplaceAll(q.Encode(), "+", "%20"))
	host := r.Host
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	fmt.Fprintf(&canon, "host:%s\n\n%s\nUNSIGNED-PAYLOAD", host, q.Get("X-Goog-SignedHeaders"))
	cr := sha256.Sum256(canon.Bytes())
	toSign := fmt.Sprintf("GOOG4-RSA-SHA256\n%s\n%s\n%s", q.Get("X-Goog-Date"), strings.Join(cred[1:], "/"), hex.EncodeToString(cr[:]))
	sum := sha256.Sum256([]byte(toSign))
	return rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, sum[:], sig)
}

func writeGCSError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"errors": []map[string]string{{"message": msg, "domain": "global", "reason": "authError"}},
	}})
}
