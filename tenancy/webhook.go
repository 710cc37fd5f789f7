package tenancy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/voicegw/voicegw/internal/redact"
	"github.com/voicegw/voicegw/internal/signing"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/egress"
)

// SignatureHeader is the HTTP header that carries a webhook signature:
//
//	Voicegw-Signature: t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
// v1 is hex(HMAC-SHA256(secret, t + "." + body)) over the exact body bytes
// (RFC 2104 HMAC, FIPS 180-4 SHA-256), the form voice platforms already use.
// During a secret rotation the header carries one v1 per secret.
const SignatureHeader = signing.Header

// DefaultTolerance is how far a signature's timestamp may lie from the
// receiver's clock, in either direction, by default.
const DefaultTolerance = signing.DefaultTolerance

// Signature is a parsed signature header: the timestamp and the raw v1 MACs.
type Signature = signing.Signature

// Errors of webhook verification; match them with errors.Is.
var (
	ErrNoSignature     = signing.ErrNoSignature
	ErrMalformedHeader = signing.ErrMalformedHeader
	ErrTimestampTooOld = signing.ErrTimestampTooOld
	ErrTimestampTooNew = signing.ErrTimestampTooNew
	ErrNoMatch         = signing.ErrNoMatch
	// ErrNoSecret: no secret to sign or verify with. A sender never sends
	// an unsigned webhook.
	ErrNoSecret = signing.ErrNoSecret
	// ErrWebhookStatus: the receiver answered with a status outside 2xx.
	ErrWebhookStatus = errors.New("tenancy: webhook answered with an error status")
	// ErrBodyTooLarge: a webhook body exceeds the verifier's limit.
	ErrBodyTooLarge = errors.New("tenancy: webhook body too large")
)

// ParseSignatureHeader parses a signature header value: comma-separated
// key=value elements, exactly one t (Unix seconds) and at least one v1 (64 hex
// digits); elements of other schemes are ignored. Errors name the bad element.
func ParseSignatureHeader(h string) (Signature, error) { return signing.ParseHeader(h) }

func reveal(secrets []secret.String) [][]byte {
	out := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		if !s.IsZero() {
			out = append(out, []byte(s.Reveal()))
		}
	}
	return out
}

// SignWebhook returns the signature header value for body signed at t with
// every secret given (one, or two during a rotation).
func SignWebhook(t time.Time, body []byte, secrets ...secret.String) string {
	return signing.Sign(t, body, reveal(secrets)...)
}

// VerifyWebhook checks a signature header against body: the timestamp must lie
// within tolerance of now in either direction (DefaultTolerance when
// tolerance <= 0) and some v1 must match some secret (several secrets are
// accepted during a rotation). MACs are compared in constant time.
func VerifyWebhook(header string, body []byte, now time.Time, tolerance time.Duration, secrets ...secret.String) error {
	return signing.Verify(header, body, now, tolerance, reveal(secrets)...)
}

// WebhookSender signs and POSTs webhook requests. The zero value works.
type WebhookSender struct {
	// Client sends the requests. Default: an http.Client with a 10-second
	// timeout, created for this sender, that connects through an
	// &egress.Policy{} (storage/egress): webhook URLs are chosen by
	// accounts, so loopback, link-local (cloud metadata), unspecified and
	// multicast addresses are refused at connect time (errors.Is
	// egress.ErrRefused), redirects included. Give a client from
	// Policy.Client to allow a private receiver.
	Client *http.Client
	// Clock returns the signing time. Default: time.Now.
	Clock func() time.Time
	// UserAgent is sent as User-Agent. Default: "voicegw-webhook/1".
	UserAgent string
	// MaxResponseBytes bounds the response body read back. Default: 64 KiB.
	MaxResponseBytes int64
	// Logger receives one debug record per request (URL without its
	// password, status; never the body nor a secret). Default: discard.
	Logger *slog.Logger

	once          sync.Once
	defaultClient *http.Client
}

// WebhookResponse is what a webhook receiver answered.
type WebhookResponse struct {
	StatusCode int
	Header     http.Header
	// Body is the response body, at most MaxResponseBytes.
	Body []byte
}

// WebhookStatusError is returned with the response when the receiver answers
// with a status outside 2xx. It wraps ErrWebhookStatus.
type WebhookStatusError struct {
	URL        string
	StatusCode int
}

// Error implements error.
func (e *WebhookStatusError) Error() string {
	return fmt.Sprintf("tenancy: webhook %s answered %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// Unwrap returns ErrWebhookStatus.
func (e *WebhookStatusError) Unwrap() error { return ErrWebhookStatus }

func (s *WebhookSender) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	s.once.Do(func() { s.defaultClient = (&egress.Policy{}).Client(10 * time.Second) })
	return s.defaultClient
}

// Post signs body with secrets (at least one) at the current time and POSTs
// it to url with the given content type. A status outside 2xx returns the
// response and a *WebhookStatusError.
func (s *WebhookSender) Post(ctx context.Context, url, contentType string, body []byte, secrets ...secret.String) (*WebhookResponse, error) {
	keys := reveal(secrets)
	if len(keys) == 0 {
		return nil, fmt.Errorf("webhook %s: %w", redact.URL(url), ErrNoSecret)
	}
	now := time.Now
	if s.Clock != nil {
		now = s.Clock
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", redact.URL(url), redact.Error(err, url))
	}
	req.Header.Set("Content-Type", contentType)
	ua := s.UserAgent
	if ua == "" {
		ua = "voicegw-webhook/1"
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set(SignatureHeader, signing.Sign(now(), body, keys...))
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", redact.URL(url), redact.Error(err, url))
	}
	defer resp.Body.Close()
	limit := s.MaxResponseBytes
	if limit <= 0 {
		limit = 64 << 10
	}
	rb, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("webhook %s: reading response: %w", redact.URL(url), redact.Error(err, url))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	out := &WebhookResponse{StatusCode: resp.StatusCode, Header: resp.Header, Body: rb}
	if s.Logger != nil {
		s.Logger.DebugContext(ctx, "tenancy: webhook sent", "url", redact.URL(url), "status", resp.StatusCode, "bytes", len(body))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, &WebhookStatusError{URL: redact.URL(url), StatusCode: resp.StatusCode}
	}
	return out, nil
}

// PostAccount posts a webhook of acct: signed with acct.WebhookSecrets at the
// current time (the current secret, and the previous one during a rotation).
func (s *WebhookSender) PostAccount(ctx context.Context, acct *Account, url, contentType string, body []byte) (*WebhookResponse, error) {
	now := time.Now
	if s.Clock != nil {
		now = s.Clock
	}
	return s.Post(ctx, url, contentType, body, acct.WebhookSecrets(now())...)
}

// WebhookVerifier checks the signature of incoming webhook requests. Set
// Secrets, or SecretsFor to choose them per request; the zero value refuses
// every request (no secret).
type WebhookVerifier struct {
	// Secrets are accepted for every request: the current secret, plus the
	// previous one while a rotation is under way.
	Secrets []secret.String
	// SecretsFor, when set, returns the secrets for a request instead (for
	// example the account's, found by a path segment). An error refuses the
	// request with 401.
	SecretsFor func(r *http.Request) ([]secret.String, error)
	// Tolerance is how far the timestamp may lie from the receiver's clock,
	// in either direction. Default: DefaultTolerance (5 minutes).
	Tolerance time.Duration
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// MaxBodyBytes bounds the body read for verification; larger bodies are
	// refused with 413. Default: 1 MiB.
	MaxBodyBytes int64
	// Logger receives one debug record per refused request. Default:
	// discard.
	Logger *slog.Logger
}

// Verify reads r's body (at most MaxBodyBytes), checks its signature and
// replaces r.Body with the bytes read, so a handler reads the exact body that
// was verified. It returns the body.
func (v *WebhookVerifier) Verify(r *http.Request) ([]byte, error) {
	limit := v.MaxBodyBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		_ = r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("tenancy: reading webhook body: %w", err)
		}
		if int64(len(b)) > limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
		}
		body = b
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	secrets := v.Secrets
	if v.SecretsFor != nil {
		var err error
		if secrets, err = v.SecretsFor(r); err != nil {
			return nil, fmt.Errorf("tenancy: webhook secrets: %w", err)
		}
	}
	now := time.Now
	if v.Clock != nil {
		now = v.Clock
	}
	if err := VerifyWebhook(r.Header.Get(SignatureHeader), body, now(), v.Tolerance, secrets...); err != nil {
		return nil, err
	}
	return body, nil
}

// Middleware returns next behind signature verification (net/http
// middleware): a request with a missing, malformed, stale or wrong signature
// is answered 401 Unauthorized, a too large body 413, and next never sees it.
func (v *WebhookVerifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.Verify(r); err != nil {
			if v.Logger != nil {
				v.Logger.DebugContext(r.Context(), "tenancy: webhook refused", "path", r.URL.Path, "err", err)
			}
			if errors.Is(err, ErrBodyTooLarge) {
				http.Error(w, "webhook body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "invalid webhook signature", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
