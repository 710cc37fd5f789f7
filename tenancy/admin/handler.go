package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/egress"
	"github.com/voicegw/voicegw/tenancy"
)

var b64 = base64.RawURLEncoding

// BasePath starts every path the Handler serves; mount the handler at
// "/admin/" (or at the server's root).
const BasePath = "/admin/v1"

// ErrConfig is returned by NewHandler for a Config missing a required field.
var ErrConfig = errors.New("admin: incomplete handler configuration")

// Config configures NewHandler. Tenants, Keys, Members and Store are
// required; every other field has a working default.
type Config struct {
	// Tenants holds accounts and applications. Required.
	Tenants *tenancy.Store
	// Keys holds API keys: the API manages them and, through the default
	// Authenticator, authenticates every request with them. Required.
	Keys *rbac.KeyStore
	// Members holds members and roles. Required.
	Members *rbac.MemberStore
	// Store holds service providers, SMTP settings and the audit log
	// (tenancy/admin/memstore, tenancy/admin/sqlitestore). Required.
	Store *Store
	// Authenticator finds the caller of each request. Default:
	// KeyAuthenticator{Keys: Keys} (Authorization: Bearer, X-Vgai-Key),
	// verifying through Keys' own VerifyKey when it has one
	// (insights.KeyVerifier).
	Authenticator Authenticator
	// Authorizer decides every request. Default: rbac.Policy.
	Authorizer rbac.Authorizer
	// Notifier is told of every change once it is stored, before the
	// response is sent (see Change). Default: none.
	Notifier Notifier
	// TestBucket runs the recording bucket probe of POST
	// .../recording/test. Default: TestRecordingBucket with StorageOptions.
	TestBucket func(ctx context.Context, rc tenancy.RecordingConfig) error
	// StorageOptions are given to the default TestBucket (an HTTP client
	// for a proxy, ...). The probe never retries. Default: nil.
	StorageOptions *storage.Options
	// Egress checks the connections of the default TestBucket when
	// StorageOptions has neither an HTTPClient nor an Egress of its own:
	// the bucket endpoint is the account's choice, so loopback,
	// link-local (cloud metadata), unspecified and multicast endpoints are
	// refused at connect time (code egress_refused), nothing being sent.
	// Give the process's policy, with its allowlist. Default:
	// &egress.Policy{}.
	Egress *egress.Policy
	// SMTPTestOptions are the base options of POST /smtp/test (trusted
	// roots, timeout, EHLO name); the request supplies the recipient.
	// Default: nil (system roots, 15 s).
	SMTPTestOptions *tenancy.SMTPTestOptions
	// RequireIfMatch makes every update and delete of a resource with an
	// ETag require an If-Match header (428 Precondition Required without
	// it). Default false: If-Match is honoured when sent (412 on a
	// mismatch), and an update without it applies to the revision the
	// handler reads (409 if another writer changed it in between).
	RequireIfMatch bool
	// MaxBodyBytes bounds request bodies (413 beyond). Default: 1 MiB.
	MaxBodyBytes int64
	// DefaultPageSize and MaxPageSize bound list pages. Defaults: 50 and
	// 500.
	DefaultPageSize, MaxPageSize int
	// FailedKeys throttles failed credential checks (a missing or refused
	// key) per source address: past its allowance a source gets 429 Too
	// Many Requests with Retry-After, and its requests are not
	// authenticated at all until it has waited. Share one limiter with the
	// process's other APIs (insights.HandlerConfig.FailedKeys), so that a
	// source's failures count across them. Default: rbac.NewFailureLimiter
	// with its defaults, private to this handler.
	FailedKeys *rbac.FailureLimiter
	// ClientAddr returns the address FailedKeys counts a request by.
	// Default: the IP address of r.RemoteAddr. Behind a reverse proxy,
	// return the client address a trusted proxy reports.
	ClientAddr func(r *http.Request) netip.Addr
	// Logger receives one record per failed request (never a secret) and
	// audit write failures. Default: discard.
	Logger *slog.Logger
}

// Handler is the management API (seeds 000–002) as an http.Handler. Create
// it with NewHandler; it is safe for concurrent use.
type Handler struct {
	cfg    Config
	auth   Authenticator
	az     rbac.Authorizer
	log    *slog.Logger
	routes []*route
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns the admin API handler. Mount it at "/admin/":
//
//	mux.Handle("/admin/", h)
//
// It fails with ErrConfig when Tenants, Keys, Members or Store is nil.
func NewHandler(cfg Config) (*Handler, error) {
	var missing []string
	if cfg.Tenants == nil {
		missing = append(missing, "Tenants")
	}
	if cfg.Keys == nil {
		missing = append(missing, "Keys")
	}
	if cfg.Members == nil {
		missing = append(missing, "Members")
	}
	if cfg.Store == nil {
		missing = append(missing, "Store")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s required", ErrConfig, strings.Join(missing, ", "))
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.DefaultPageSize <= 0 {
		cfg.DefaultPageSize = 50
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = 500
	}
	if cfg.DefaultPageSize > cfg.MaxPageSize {
		cfg.DefaultPageSize = cfg.MaxPageSize
	}
	if cfg.TestBucket == nil {
		var opts storage.Options
		if cfg.StorageOptions != nil {
			opts = *cfg.StorageOptions
		}
		if opts.HTTPClient == nil && opts.Egress == nil {
			if opts.Egress = cfg.Egress; opts.Egress == nil {
				opts.Egress = &egress.Policy{}
			}
		}
		cfg.TestBucket = func(ctx context.Context, rc tenancy.RecordingConfig) error {
			return TestRecordingBucket(ctx, rc, &opts)
		}
	}
	h := &Handler{cfg: cfg, auth: cfg.Authenticator, az: cfg.Authorizer, log: cfg.Logger}
	if h.auth == nil {
		ka := KeyAuthenticator{Keys: cfg.Keys}
		// A KeyStore that verifies keys itself (rate-limiting failed
		// checks) is used as the verifier.
		if v, ok := any(cfg.Keys).(insights.KeyVerifier); ok {
			ka.Verifier = v
		}
		h.auth = ka
	}
	if h.az == nil {
		h.az = rbac.Policy{}
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.cfg.FailedKeys == nil {
		h.cfg.FailedKeys = rbac.NewFailureLimiter(rbac.FailureLimiterConfig{})
	}
	if h.cfg.ClientAddr == nil {
		h.cfg.ClientAddr = func(r *http.Request) netip.Addr {
			ap, _ := netip.ParseAddrPort(r.RemoteAddr)
			return ap.Addr()
		}
	}
	h.routes = table(h)
	return h, nil
}

// TestRecordingBucket runs storage's probe (write, read back, delete) on the
// bucket of rc: its vendor configuration, or its BucketURL. The error is
// storage's *OpError (matching storage.ErrBadCredentials, ...), which says
// what to check and holds no secret.
func TestRecordingBucket(ctx context.Context, rc tenancy.RecordingConfig, opts *storage.Options) error {
	if rc.BucketURL != "" {
		return storage.TestURL(ctx, rc.BucketURL, opts)
	}
	return storage.Test(ctx, rc.Bucket, opts)
}

// reqCtx is one request being served.
type reqCtx struct {
	h      *Handler
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	rt     *route
	params map[string]string
	caller *Caller
	p      *rbac.Principal
	done   bool
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), BasePath)
	if !ok || (rest != "" && rest[0] != '/') {
		h.fail(w, r, newProblem(http.StatusNotFound, CodeNoRoute, "no such endpoint: the admin API lives under "+BasePath), nil)
		return
	}
	segs, err := splitPath(rest)
	if err != nil {
		h.fail(w, r, newProblem(http.StatusNotFound, CodeNoRoute, "no such endpoint"), err)
		return
	}
	var allow []string
	var rt *route
	var params map[string]string
	for _, cand := range h.routes {
		p, ok := cand.match(segs)
		if !ok {
			continue
		}
		if cand.Method == r.Method || (cand.Method == http.MethodGet && r.Method == http.MethodHead) {
			rt, params = cand, p
			break
		}
		allow = append(allow, cand.Method)
	}
	if rt == nil {
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			h.fail(w, r, newProblem(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+r.Method+" is not allowed here; allowed: "+strings.Join(allow, ", ")), nil)
			return
		}
		h.fail(w, r, newProblem(http.StatusNotFound, CodeNoRoute, "no such endpoint"), nil)
		return
	}
	rc := &reqCtx{h: h, w: w, r: r, ctx: r.Context(), rt: rt, params: params}
	if !rt.Public {
		// A source that failed too often is not authenticated until it has
		// waited; a failed check keeps its reservation, anything else gives
		// it back.
		src := h.cfg.ClientAddr(r)
		if ok, wait := h.cfg.FailedKeys.Reserve(src); !ok {
			secs := max(1, int((wait+time.Second-1)/time.Second))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			h.fail(w, r, newProblem(http.StatusTooManyRequests, CodeTooManyRequests,
				fmt.Sprintf("too many missing or invalid API keys from this address: retry in %d s", secs)), nil)
			return
		}
		c, err := h.auth.Authenticate(r)
		failed := err != nil && (errors.Is(err, ErrUnauthorized) || errors.Is(err, rbac.ErrInvalidKey) || errors.Is(err, insights.ErrUnauthorized))
		if !failed {
			h.cfg.FailedKeys.Refund(src)
		}
		switch {
		case failed:
			w.Header().Set("WWW-Authenticate", `Bearer realm="voicegw admin"`)
			detail := "invalid API key"
			if errors.Is(err, ErrUnauthorized) {
				detail = strings.TrimPrefix(err.Error(), ErrUnauthorized.Error()+": ")
			}
			h.fail(w, r, newProblem(http.StatusUnauthorized, CodeUnauthorized, detail), err)
			return
		case err != nil:
			w.Header().Set("Retry-After", "1")
			h.fail(w, r, newProblem(http.StatusServiceUnavailable, CodeUnavailable, "the API key store is unavailable, retry later"), err)
			return
		case c == nil || c.Principal == nil || !c.Principal.Scope.Valid() ||
			(c.Principal.Scope == rbac.ScopeAccount && c.Principal.Account == "") ||
			(c.Principal.Scope == rbac.ScopeServiceProvider && c.Principal.ServiceProvider == ""):
			w.Header().Set("WWW-Authenticate", `Bearer realm="voicegw admin"`)
			h.fail(w, r, newProblem(http.StatusUnauthorized, CodeUnauthorized, "invalid API key"), errors.New("admin: the caller's principal has no valid scope or tenant"))
			return
		}
		rc.caller, rc.p = c, c.Principal
		rc.ctx = context.WithValue(rc.ctx, callerKey{}, c)
	}
	rt.serve(rc)
}

func splitPath(rest string) ([]string, error) {
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return nil, nil
	}
	var segs []string
	for s := range strings.SplitSeq(rest, "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, err
		}
		segs = append(segs, u)
	}
	return segs, nil
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, p *Problem, err error) {
	p.Instance = r.URL.Path
	level := slog.LevelInfo
	if p.Status >= 500 {
		level = slog.LevelError
	}
	h.log.LogAttrs(r.Context(), level, "admin request failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", p.Status), slog.String("code", p.Code), slog.Any("error", err))
	writeProblem(w, p)
}

// problem answers p (once).
func (rc *reqCtx) problem(p *Problem, err error) {
	if rc.done {
		return
	}
	rc.done = true
	rc.h.fail(rc.w, rc.r, p, err)
}

func (rc *reqCtx) badRequest(detail string, fields ...FieldProblem) {
	rc.problem(newProblem(http.StatusBadRequest, CodeBadRequest, detail, fields...), nil)
}

func (rc *reqCtx) notFound(what string) {
	rc.problem(newProblem(http.StatusNotFound, CodeNotFound, what+" not found"), nil)
}

// fromError answers err from a store: field errors become 422 (invalid) or
// 409 (exists), not found 404, in use 409, forbidden 403, anything else 500.
// rename (nil for none) renames field paths (a sub-resource's body starts
// below the account).
func (rc *reqCtx) fromError(err error, rename func(string) string) {
	path := func(f string) string {
		if rename != nil {
			return rename(f)
		}
		return f
	}
	var fields []FieldProblem
	exists := false
	for _, fe := range tenancy.FieldErrors(err) {
		fields = append(fields, FieldProblem{Field: path(fe.Field), Detail: fe.Reason, Value: fe.Value})
		exists = exists || errors.Is(fe, tenancy.ErrExists)
	}
	for _, fe := range rbac.FieldErrors(err) {
		fields = append(fields, FieldProblem{Field: path(fe.Field), Detail: fe.Reason, Value: fe.Value})
		exists = exists || errors.Is(fe, rbac.ErrExists)
	}
	var afe *FieldError
	if errors.As(err, &afe) {
		fields = append(fields, FieldProblem{Field: path(afe.Field), Detail: afe.Reason, Value: afe.Value})
		exists = exists || errors.Is(afe, ErrExists)
	}
	switch {
	case exists:
		rc.problem(newProblem(http.StatusConflict, CodeExists, "a unique value is already taken", fields...), err)
	case len(fields) > 0 && (errors.Is(err, rbac.ErrForbidden)):
		rc.problem(newProblem(http.StatusForbidden, CodeForbiddenField, "the caller may not set these fields", fields...), err)
	case len(fields) > 0:
		rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "the request has invalid fields", fields...), err)
	case errors.Is(err, tenancy.ErrNotFound), errors.Is(err, rbac.ErrNotFound), errors.Is(err, ErrNotFound):
		rc.problem(newProblem(http.StatusNotFound, CodeNotFound, "not found"), err)
	case errors.Is(err, tenancy.ErrInUse), errors.Is(err, rbac.ErrInUse):
		rc.problem(newProblem(http.StatusConflict, CodeInUse, inUseDetail(err)), err)
	case errors.Is(err, tenancy.ErrConflict), errors.Is(err, rbac.ErrConflict), errors.Is(err, ErrConflict):
		rc.problem(newProblem(http.StatusConflict, CodeConflict, "the resource was modified concurrently; read it again and retry"), err)
	case errors.Is(err, rbac.ErrForbidden):
		rc.problem(newProblem(http.StatusForbidden, CodeForbidden, strings.TrimPrefix(err.Error(), "rbac: forbidden: ")), err)
	case errors.Is(err, tenancy.ErrInvalid), errors.Is(err, rbac.ErrInvalid), errors.Is(err, ErrInvalid):
		rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, err.Error()), err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		rc.problem(newProblem(http.StatusServiceUnavailable, CodeUnavailable, "the request was cancelled or timed out"), err)
	default:
		rc.problem(newProblem(http.StatusInternalServerError, CodeInternal, "internal error"), err)
	}
}

func inUseDetail(err error) string {
	switch {
	case errors.Is(err, tenancy.ErrInUse):
		return "the application is selected by its account (for SIP device calls or SIPREC calls); unselect it first"
	case errors.Is(err, rbac.ErrInUse):
		return "the role is held by members; give them another role first"
	}
	return "in use"
}

// authorize answers whether the caller may do the route's action on target.
// seen is what the caller must reach to know the resource exists: outside it
// the answer is 404, as for a resource that does not exist.
func (rc *reqCtx) authorize(seen, target rbac.Target, what string) bool {
	return rc.authorizeAs(rc.rt.Entity, rc.rt.Action, seen, target, what)
}

func (rc *reqCtx) authorizeAs(e rbac.Entity, a rbac.Action, seen, target rbac.Target, what string) bool {
	if !rbac.Reaches(rc.p, seen) {
		rc.notFound(what)
		return false
	}
	req := rbac.Request{Target: target, Entity: e, Action: a}
	switch d := rc.h.az.Decide(rc.p, req); d {
	case rbac.Allow:
		return true
	case rbac.DenyPrivilege:
		rc.problem(newProblem(http.StatusForbidden, CodeForbidden,
			fmt.Sprintf("the caller's role does not grant %s on %s", a, e)), &rbac.DeniedError{Subject: rc.p.Subject, Request: req, Decision: d})
	default:
		rc.problem(newProblem(http.StatusForbidden, CodeForbidden,
			fmt.Sprintf("a %s-scope caller may not %s %s here", rc.p.Scope, a, e)), &rbac.DeniedError{Subject: rc.p.Subject, Request: req, Decision: d})
	}
	return false
}

// allowed reports, without answering, whether the caller may do a on e of
// target.
func (rc *reqCtx) allowed(e rbac.Entity, a rbac.Action, target rbac.Target) bool {
	return rc.h.az.Decide(rc.p, rbac.Request{Target: target, Entity: e, Action: a}) == rbac.Allow
}

// etag returns the entity tag of a revision.
func etag(rev int64) string { return `"` + strconv.FormatInt(rev, 10) + `"` }

// precondition checks If-Match against the current revision: true to go on.
// It reports whether If-Match was sent.
func (rc *reqCtx) precondition(rev int64) (sent, ok bool) {
	im := strings.TrimSpace(rc.r.Header.Get("If-Match"))
	if im == "" {
		if rc.h.cfg.RequireIfMatch {
			rc.problem(newProblem(http.StatusPreconditionRequired, CodePreconditionRequired,
				"send If-Match with the resource's ETag (from a GET) so concurrent changes are not overwritten"), nil)
			return false, false
		}
		return false, true
	}
	want := etag(rev)
	for t := range strings.SplitSeq(im, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == want {
			return true, true
		}
	}
	rc.w.Header().Set("ETag", want)
	rc.problem(newProblem(http.StatusPreconditionFailed, CodePreconditionFailed,
		"If-Match "+im+" does not match the current ETag "+want+": the resource changed since it was read"), nil)
	return true, false
}

// conflict answers a revision conflict found while storing: 412 when the
// client sent If-Match (its precondition no longer holds), 409 otherwise.
func (rc *reqCtx) conflict(sent bool, err error) {
	if sent {
		rc.problem(newProblem(http.StatusPreconditionFailed, CodePreconditionFailed, "the resource changed since it was read"), err)
		return
	}
	rc.problem(newProblem(http.StatusConflict, CodeConflict, "the resource was modified concurrently; read it again and retry"), err)
}

// respond writes v as JSON with status and, when rev > 0, its ETag.
func (rc *reqCtx) respond(status int, rev int64, v any) {
	if rc.done {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		rc.problem(newProblem(http.StatusInternalServerError, CodeInternal, "internal error"), err)
		return
	}
	rc.done = true
	h := rc.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if rev > 0 {
		h.Set("ETag", etag(rev))
		if status == http.StatusOK && rc.r.Method == http.MethodGet {
			if inm := rc.r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag(rev)) {
				rc.w.WriteHeader(http.StatusNotModified)
				return
			}
		}
	}
	rc.w.WriteHeader(status)
	if rc.r.Method != http.MethodHead {
		_, _ = rc.w.Write(append(b, '\n'))
	}
}

func (rc *reqCtx) noContent() {
	rc.done = true
	rc.w.Header().Set("Cache-Control", "no-store")
	rc.w.WriteHeader(http.StatusNoContent)
}

// record writes the audit record of a change and tells the Notifier. An
// audit write that fails is logged (the change is already stored).
func (rc *reqCtx) record(c Change, action string, before, after any) {
	rec := &AuditRecord{
		Actor: rc.p.Subject, ActorEmail: rc.caller.Email, Action: action,
		Resource: c.Resource, ResourceID: c.ID, ServiceProvider: c.ServiceProvider, Account: c.Account, Fields: c.Fields,
	}
	if before != nil {
		rec.Before, _ = json.Marshal(before)
	}
	if after != nil {
		rec.After, _ = json.Marshal(after)
	}
	if err := rc.h.cfg.Store.Append(context.WithoutCancel(rc.ctx), rec); err != nil {
		rc.h.log.ErrorContext(rc.ctx, "admin: audit record not written", "action", action, "id", c.ID, "error", err)
	}
	if rc.h.cfg.Notifier != nil {
		rc.h.cfg.Notifier.Notify(rc.ctx, c)
	}
}

// List is one page of a list.
type List[T any] struct {
	// Items are the page's items.
	Items []T `json:"items"`
	// NextPageToken, when not empty, fetches the next page (page_token).
	NextPageToken string `json:"next_page_token,omitempty"`
}

// page returns the page of items (sorted by key) that page_size and
// page_token select. ok is false when a parameter was refused (answered).
func page[T any](rc *reqCtx, items []T, key func(T) string) (List[T], bool) {
	q := rc.r.URL.Query()
	size := rc.h.cfg.DefaultPageSize
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > rc.h.cfg.MaxPageSize {
			rc.badRequest("invalid query parameter", FieldProblem{Field: "page_size", Value: s, Detail: fmt.Sprintf("want a number from 1 to %d", rc.h.cfg.MaxPageSize)})
			return List[T]{}, false
		}
		size = n
	}
	after := ""
	if tok := q.Get("page_token"); tok != "" {
		b, err := b64.DecodeString(tok)
		if err != nil || len(b) == 0 {
			rc.badRequest("invalid query parameter", FieldProblem{Field: "page_token", Detail: "not a token returned as next_page_token"})
			return List[T]{}, false
		}
		after = string(b)
	}
	out := List[T]{Items: []T{}}
	for _, it := range items {
		k := key(it)
		if after != "" && k <= after {
			continue
		}
		if len(out.Items) == size {
			out.NextPageToken = b64.EncodeToString([]byte(key(out.Items[len(out.Items)-1])))
			break
		}
		out.Items = append(out.Items, it)
	}
	return out, true
}

// since parses a time query parameter (RFC 3339).
func (rc *reqCtx) timeParam(name string) (time.Time, bool) {
	s := rc.r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		rc.badRequest("invalid query parameter", FieldProblem{Field: name, Value: s, Detail: "want an RFC 3339 time, like 2025-03-01T12:00:00Z"})
		return time.Time{}, false
	}
	return t, true
}
