package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
)

// KeyHeader is the header that carries an API key, as in the Insights API.
// "Authorization: Bearer KEY" is accepted too.
const KeyHeader = insights.KeyHeader

// Caller is who sends a request: the principal every authorization decision
// is made for, and who the audit log names.
type Caller struct {
	// Principal is the caller's scope, tenant and privileges. Required.
	Principal *rbac.Principal
	// Email is the person behind the request when known: the creator of
	// the API key, or a signed-in member. It becomes the creator email of
	// API keys the caller creates, and the audit log's actor email.
	Email string
	// KeyID is the ID of the API key used, if any.
	KeyID string
}

// Authenticator finds the caller of a request. It returns an error wrapping
// ErrUnauthorized or rbac.ErrInvalidKey for a request without acceptable
// credentials (answered 401); any other error means it could not decide (its
// store is down: 503, so clients retry). A console that signs members in
// implements it over its session cookie and falls back to KeyAuthenticator.
type Authenticator interface {
	Authenticate(r *http.Request) (*Caller, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*Caller, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*Caller, error) { return f(r) }

// KeyAuthenticator authenticates requests by API key: "Authorization: Bearer
// KEY" or "X-Vgai-Key: KEY" (both may be sent only if they are equal). The
// key is checked on every request (no cache), so a deleted or revoked key
// fails on the very next request.
type KeyAuthenticator struct {
	// Keys checks the key. Required.
	Keys *rbac.KeyStore
	// Verifier, when set, checks the key instead of Keys (for example one
	// that rate-limits failed attempts); Keys still supplies the key's
	// creator email through the principal's "key:ID" subject.
	Verifier insights.KeyVerifier
}

// PresentedKey returns the API key of r: the Bearer token or X-Vgai-Key.
// It fails with ErrUnauthorized when there is none, the Authorization
// scheme is not Bearer, or both headers are present and differ.
func PresentedKey(r *http.Request) (secret.String, error) {
	header := strings.TrimSpace(r.Header.Get(KeyHeader))
	bearer := ""
	if a := strings.TrimSpace(r.Header.Get("Authorization")); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", fmt.Errorf("%w: the Authorization header must be \"Bearer API_KEY\"", ErrUnauthorized)
		}
		bearer = strings.TrimSpace(tok)
	}
	switch {
	case header == "" && bearer == "":
		return "", fmt.Errorf("%w: send the API key as \"Authorization: Bearer API_KEY\" or in the %s header", ErrUnauthorized, KeyHeader)
	case header != "" && bearer != "" && !secret.String(header).Equal(secret.String(bearer)):
		return "", fmt.Errorf("%w: Authorization and %s carry different keys", ErrUnauthorized, KeyHeader)
	case bearer != "":
		return secret.String(bearer), nil
	}
	return secret.String(header), nil
}

// Authenticate implements Authenticator.
func (a KeyAuthenticator) Authenticate(r *http.Request) (*Caller, error) {
	key, err := PresentedKey(r)
	if err != nil {
		return nil, err
	}
	if a.Keys == nil {
		return nil, errors.New("admin: KeyAuthenticator without a KeyStore")
	}
	ctx := r.Context()
	var v insights.KeyVerifier = a.Keys
	if a.Verifier != nil {
		v = a.Verifier
	}
	p, err := v.VerifyKey(ctx, key)
	if err != nil {
		return nil, err
	}
	c := &Caller{Principal: p}
	if id, ok := strings.CutPrefix(p.Subject, "key:"); ok {
		c.KeyID = id
		if k, err := a.Keys.Key(ctx, id); err == nil {
			c.Email = k.CreatorEmail
		}
	}
	return c, nil
}

type callerKey struct{}

// CallerFrom returns the authenticated caller of a request the Handler is
// serving (for a Notifier or a wrapping handler), or nil.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}
