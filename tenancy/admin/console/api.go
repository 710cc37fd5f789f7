package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// The console does nothing the APIs do not: every page reads and every form
// writes through the admin API's and the Insights API's typed clients,
// whose requests a Transport hands to the console's own API handlers in the
// same process. The member's caller travels in the request's context, the
// one way those handlers authenticate; nothing a browser sends can set it.

// apiBase is the base URL of the in-process APIs (never dialled).
const apiBase = "http://console.invalid"

type callerKey struct{}

// accountKey carries the account the Insights API is asked about
// (insights.AccountHeader) for members reaching more than one.
type accountKey struct{}

// withCaller returns ctx carrying the signed-in member's caller.
func withCaller(ctx context.Context, c *admin.Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerOf(ctx context.Context) *admin.Caller {
	c, _ := ctx.Value(callerKey{}).(*admin.Caller)
	return c
}

// withInsightsAccount names the account the Insights API works on.
func withInsightsAccount(ctx context.Context, account string) context.Context {
	return context.WithValue(ctx, accountKey{}, account)
}

// sessionCaller is the console's admin API Authenticator.
func sessionCaller(r *http.Request) (*admin.Caller, error) {
	if c := callerOf(r.Context()); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("%w: no signed-in member", admin.ErrUnauthorized)
}

// sessionPrincipal is the console's Insights API Authenticate.
func sessionPrincipal(r *http.Request) (*rbac.Principal, error) {
	if c := callerOf(r.Context()); c != nil {
		return c.Principal, nil
	}
	return nil, nil
}

// inProcess is the http.RoundTripper of the console's API clients: it
// serves each request with the console's admin or Insights handler.
type inProcess struct {
	admin, insights http.Handler
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	var h http.Handler
	req = req.Clone(req.Context()) // a RoundTripper leaves its request alone
	switch {
	case strings.HasPrefix(req.URL.Path, admin.BasePath+"/"):
		h = t.admin
	case strings.HasPrefix(req.URL.Path, "/insights/"):
		h = t.insights
		if a, _ := req.Context().Value(accountKey{}).(string); a != "" && req.Header.Get(insights.AccountHeader) == "" {
			req.Header.Set(insights.AccountHeader, a)
		}
	default:
		return nil, fmt.Errorf("console: no in-process API serves %s", req.URL.Path)
	}
	if req.Body == nil {
		req.Body = http.NoBody
	}
	req.RequestURI = req.URL.RequestURI()
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status)), StatusCode: rec.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.header, Body: io.NopCloser(&rec.body), ContentLength: int64(rec.body.Len()), Request: req,
	}, nil
}

// recorder is the http.ResponseWriter of an in-process call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// adminClient returns the admin API client; its requests act as the caller
// of their context.
func (c *Console) adminClient() *admin.Client {
	return &admin.Client{BaseURL: apiBase, HTTPClient: c.api}
}

// insightsClient returns the Insights API client.
func (c *Console) insightsClient() *insights.Client {
	return &insights.Client{BaseURL: apiBase, HTTPClient: c.api}
}

// getJSON calls a GET route of the in-process APIs that the typed clients do
// not cover (the raw session document, the OpenAPI document) and returns
// its body; an answer outside 2xx is an error carrying the status.
func (c *Console) getJSON(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiBase+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error  string `json:"error"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(b, &e)
		msg := e.Error + e.Detail
		return nil, &insights.APIError{StatusCode: resp.StatusCode, Message: msg}
	}
	return b, nil
}
