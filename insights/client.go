package insights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/voicegw/voicegw/rbac/secret"
)

// Client calls the Insights HTTP API (NewHandler's, or any server of seed
// 004's API). The zero value is not usable: set BaseURL and Key.
type Client struct {
	// BaseURL is the server's root, for example "https://gw.example.com";
	// the client appends /insights/sessions….
	BaseURL string
	// Key is sent as X-Vgai-Key.
	Key secret.String
	// Account, when set, is sent as X-Vgai-Account: the account a service
	// provider's or administrator's key acts on (see AccountHeader).
	Account string
	// HTTPClient makes the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// NewClient returns a client of the API at baseURL with an API key.
func NewClient(baseURL string, key secret.String) *Client {
	return &Client{BaseURL: baseURL, Key: key}
}

// APIError is a non-2xx answer of the API. It matches ErrUnauthorized (401),
// ErrForbidden (403), ErrNotFound (404) and ErrUnavailable (503) with
// errors.Is.
type APIError struct {
	StatusCode int
	// Message is the server's error message.
	Message string
	// RetryAfter is the server's Retry-After (in seconds), 0 when absent.
	RetryAfter time.Duration
}

// Error implements error: the status code and the server's message.
func (e *APIError) Error() string {
	return fmt.Sprintf("insights: HTTP %d: %s", e.StatusCode, e.Message)
}

// Unwrap maps the status to this package's errors.
func (e *APIError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	}
	return nil
}

// Retryable reports whether the same request may succeed later unchanged:
// 429, 502, 503 and 504. The client does not retry by itself; wait
// RetryAfter (when set) before retrying.
func (e *APIError) Retryable() bool {
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Search runs a query (validated locally first, so a bad query fails with
// the same typed errors as Query.Validate, without a request). With Aggs,
// the result's Aggregations carry their kinds from the request.
func (c *Client) Search(ctx context.Context, q *Query) (*Result, error) {
	if q == nil {
		return nil, invalid(ErrMissingRange, "insights: nil query")
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var res Result
	if err := c.do(ctx, http.MethodGet, basePath, q.Encode(), &res); err != nil {
		return nil, err
	}
	res.Aggregations.applyKinds(q.Aggs)
	return &res, nil
}

// Get returns the session with this ID that started on the day of start.
func (c *Client) Get(ctx context.Context, id string, start Bound) (*Session, error) {
	var s Session
	v := url.Values{ParamSessionStartTime: {start.String()}}
	if err := c.do(ctx, http.MethodGet, basePath+"/"+url.PathEscape(id)+"/parameters", v.Encode(), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Find returns the session with this ID whatever day it started.
func (c *Client) Find(ctx context.Context, id string) (*Session, error) {
	var s Session
	if err := c.do(ctx, http.MethodGet, basePath+"/search/"+url.PathEscape(id), "", &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Delete deletes the session with this ID that started on the day of start.
func (c *Client) Delete(ctx context.Context, id string, start Bound) error {
	v := url.Values{ParamSessionStartTime: {start.String()}}
	return c.do(ctx, http.MethodDelete, basePath+"/"+url.PathEscape(id), v.Encode(), nil)
}

func (c *Client) do(ctx context.Context, method, path, rawQuery string, out any) error {
	if c.BaseURL == "" {
		return errors.New("insights: client has no BaseURL")
	}
	u := strings.TrimRight(c.BaseURL, "/") + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return fmt.Errorf("insights: %s %s: %w", method, path, err)
	}
	req.Header.Set(KeyHeader, c.Key.Reveal())
	if c.Account != "" {
		req.Header.Set(AccountHeader, c.Account)
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("insights: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("insights: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		ae := &APIError{StatusCode: resp.StatusCode, Message: msg}
		if n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && n > 0 {
			ae.RetryAfter = time.Duration(n) * time.Second
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("insights: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}
