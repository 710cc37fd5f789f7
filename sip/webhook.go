package sip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/voicegw/voicegw/internal/redact"
	"github.com/voicegw/voicegw/internal/signing"
	"github.com/voicegw/voicegw/rbac/secret"
)

// ErrWebhookFailed is returned when a registration webhook could not give
// an answer: timeout, connection failure, a non-2xx status, or a body that
// is not the expected JSON. The request is refused (the Guard answers 503)
// and a log line says why.
var ErrWebhookFailed = errors.New("sip: registration webhook failed")

// SignatureHeader is the HTTP header carrying the webhook signature
// (t=UNIX,v1=HEX: HMAC-SHA256 of "t.body" with the webhook secret).
const SignatureHeader = signing.Header

// Webhook is a tenant's registration webhook (seed 000, "Registration
// Webhook"): a URL of the tenant's web application that decides digest
// answers instead of a local credential store.
type Webhook struct {
	// URL receives the POST; http or https.
	URL string
	// Secret signs each request (header Voicegw-Signature). Empty sends
	// requests unsigned.
	Secret secret.String
}

// WebhookRequest is the JSON body POSTed to a registration webhook. It
// carries the digest parameters as the client sent them, so the receiver
// can compute the expected response from the password it holds.
type WebhookRequest struct {
	Method    string `json:"method"`
	Realm     string `json:"realm"`
	Username  string `json:"username"`
	Nonce     string `json:"nonce"`
	URI       string `json:"uri"`
	Response  string `json:"response"`
	Algorithm string `json:"algorithm"`
	QOP       string `json:"qop,omitempty"`
	NC        string `json:"nc,omitempty"` // 8 hex digits, as in the header
	CNonce    string `json:"cnonce,omitempty"`
	// Expires is the REGISTER's requested expiry in seconds (Expires
	// header, else the first Contact's expires parameter); absent for other
	// requests or when the request gave none.
	Expires *int `json:"expires,omitempty"`
	// SourceAddress and SourcePort are where the request came from.
	SourceAddress string `json:"source_address"`
	SourcePort    uint16 `json:"source_port"`
	// Tenant is the tenant ID the realm resolved to.
	Tenant string `json:"tenant,omitempty"`
}

// WebhookResponse is the JSON answer of a registration webhook:
// {"status":"ok"} accepts, {"status":"fail","message":"…"} rejects.
// Anything else is a bad answer, which also rejects.
type WebhookResponse struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// WebhookClient calls registration webhooks. The zero value works.
type WebhookClient struct {
	// HTTPClient sends the requests. Default: a client that does not follow
	// redirects (a redirect is a bad answer). A registration webhook URL
	// is a tenant's choice: give a client whose transport comes from
	// storage/egress (Policy.Transport), so that it cannot reach loopback,
	// link-local (cloud metadata) or other internal addresses.
	HTTPClient *http.Client
	// Timeout bounds one call, connection included. Default 5 s.
	Timeout time.Duration
	// Logger receives one line per rejection or failure, saying why. Nil
	// discards.
	Logger *slog.Logger
	// Now is the clock for signatures. Default time.Now.
	Now func() time.Time
}

// maxWebhookAnswer bounds the answer body read.
const maxWebhookAnswer = 64 << 10

// Check POSTs req to hook and returns nil when the answer accepts, an error
// wrapping ErrBadCredentials when it rejects, and one wrapping
// ErrWebhookFailed when there is no usable answer.
func (c *WebhookClient) Check(ctx context.Context, hook Webhook, req WebhookRequest) error {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("webhook", redact.URL(hook.URL), "username", req.Username, "realm", req.Realm, "method", req.Method)
	err := c.call(ctx, hook, req)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrBadCredentials):
		log.Info("registration webhook rejected the credentials", "reason", err.Error())
	default:
		log.Warn("registration webhook failed; request rejected", "reason", err.Error())
	}
	return err
}

func (c *WebhookClient) call(ctx context.Context, hook Webhook, req WebhookRequest) error {
	u, err := url.Parse(hook.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: URL %q is not an http or https URL", ErrWebhookFailed, redact.URL(hook.URL))
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%w: encode request: %v", ErrWebhookFailed, err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrWebhookFailed, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	if hook.Secret != "" {
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		hr.Header.Set(SignatureHeader, signing.Sign(now(), body, []byte(hook.Secret.Reveal())))
	}
	client := c.HTTPClient
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	res, err := client.Do(hr)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%w: no answer within %s", ErrWebhookFailed, timeout)
		}
		return fmt.Errorf("%w: %v", ErrWebhookFailed, redact.Error(err, hook.URL))
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxWebhookAnswer+1))
	if err != nil {
		return fmt.Errorf("%w: reading the answer: %v", ErrWebhookFailed, redact.Error(err, hook.URL))
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%w: HTTP status %d", ErrWebhookFailed, res.StatusCode)
	}
	if len(raw) > maxWebhookAnswer {
		return fmt.Errorf("%w: answer larger than %d bytes", ErrWebhookFailed, maxWebhookAnswer)
	}
	var ans WebhookResponse
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("%w: answer is not JSON: %v", ErrWebhookFailed, err)
	}
	switch strings.ToLower(ans.Status) {
	case "ok":
		return nil
	case "fail":
		if ans.Message != "" {
			return fmt.Errorf("%w: webhook says %q", ErrBadCredentials, clip(ans.Message))
		}
		return fmt.Errorf("%w: webhook says fail", ErrBadCredentials)
	}
	return fmt.Errorf("%w: answer status %q is neither \"ok\" nor \"fail\"", ErrWebhookFailed, clip(ans.Status))
}

// Checker returns a ResponseChecker that asks hook, adding what the digest
// answer does not carry: where the request came from, its expiry, the tenant.
func (c *WebhookClient) Checker(hook Webhook, source netip.AddrPort, expires *int, tenant string) ResponseChecker {
	return webhookChecker{c: c, hook: hook, source: source, expires: expires, tenant: tenant}
}

type webhookChecker struct {
	c       *WebhookClient
	hook    Webhook
	source  netip.AddrPort
	expires *int
	tenant  string
}

func (w webhookChecker) CheckResponse(ctx context.Context, a DigestAnswer) error {
	req := WebhookRequest{
		Method:        a.Method,
		Realm:         a.Auth.Realm,
		Username:      a.Auth.Username,
		Nonce:         a.Auth.Nonce,
		URI:           a.Auth.URI,
		Response:      a.Auth.Response,
		Algorithm:     string(a.Algorithm),
		QOP:           a.Auth.QOP,
		CNonce:        a.Auth.CNonce,
		Expires:       w.expires,
		SourceAddress: w.source.Addr().String(),
		SourcePort:    w.source.Port(),
		Tenant:        w.tenant,
	}
	if a.Auth.NC != 0 {
		req.NC = fmt.Sprintf("%08x", a.Auth.NC)
	}
	return w.c.Check(ctx, w.hook, req)
}
