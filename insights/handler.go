package insights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
)

// KeyHeader is the header that carries the API key (seed 004).
const KeyHeader = "X-Vgai-Key"

// AccountHeader names the account a request is about, for keys that reach
// more than one account: a service provider's key must name one of its
// provider's accounts; an administrator's key may name one (without it, it
// sees every account). An account key may omit it or name its own account.
const AccountHeader = "X-Vgai-Account"

// AllAccounts, as a StaticKeys value, makes a key an administrator's: it
// sees every account.
const AllAccounts = "*"

// KeyVerifier checks an API key and returns the principal holding it: its
// scope, tenant and privileges, which the handler authorizes every request
// against (Interaction Read for search, get and find; Interaction Delete for
// delete). A key that is refused (unknown, expired, revoked) must return an
// error wrapping ErrUnauthorized or rbac.ErrInvalidKey: 401. Any other
// error means the verifier could not answer (its store is down): 503, so
// clients retry rather than drop a valid key. rbac's *KeyStore is a
// KeyVerifier as it is (HandlerConfig{Keys: keyStore}).
type KeyVerifier interface {
	VerifyKey(ctx context.Context, key secret.String) (*rbac.Principal, error)
}

// KeyVerifierFunc adapts a function to KeyVerifier.
type KeyVerifierFunc func(ctx context.Context, key secret.String) (*rbac.Principal, error)

// VerifyKey calls f.
func (f KeyVerifierFunc) VerifyKey(ctx context.Context, key secret.String) (*rbac.Principal, error) {
	return f(ctx, key)
}

// StaticKeys is a KeyVerifier over a fixed map from key to account ID, for
// tests and small deployments. Each key may read and delete its account's
// sessions and read its usage (AllAccounts: every account's, as an
// administrator). Comparison is
// constant time per key.
type StaticKeys map[string]string

// VerifyKey looks the key up.
func (m StaticKeys) VerifyKey(_ context.Context, key secret.String) (*rbac.Principal, error) {
	account := ""
	for k, a := range m {
		if key.Equal(secret.String(k)) {
			account = a
		}
	}
	if account == "" {
		return nil, ErrUnauthorized
	}
	p := &rbac.Principal{Subject: "static key", Scope: rbac.ScopeAccount, Account: account}
	if account == AllAccounts {
		p.Scope, p.Account = rbac.ScopeAdmin, ""
	}
	p.Privileges.Grant(rbac.EntityInteraction, rbac.ActionRead|rbac.ActionDelete).Grant(rbac.EntityUsage, rbac.ActionRead)
	return p, nil
}

// AccountResolver returns the service provider of an account, so that a
// service provider's key can be authorized for the account it names in
// AccountHeader. An account that does not exist returns an error wrapping
// ErrNotFound (answered 403, like another provider's account, so a key
// cannot probe which accounts exist); any other error answers 503.
type AccountResolver interface {
	ServiceProvider(ctx context.Context, account string) (string, error)
}

// AccountResolverFunc adapts a function to AccountResolver.
type AccountResolverFunc func(ctx context.Context, account string) (string, error)

// ServiceProvider calls f.
func (f AccountResolverFunc) ServiceProvider(ctx context.Context, account string) (string, error) {
	return f(ctx, account)
}

// HandlerConfig configures NewHandler.
type HandlerConfig struct {
	// Index serves the sessions. Required.
	Index *Index
	// Keys checks X-Vgai-Key. Required: with nil every request gets 401.
	Keys KeyVerifier
	// Authenticate, when set, is asked first for the principal of each
	// request, for a program that authenticates its users itself: the
	// console calls this API in-process as its signed-in member. A
	// principal it returns is authorized exactly as an API key's would be,
	// and no key is read (nor counted by FailedKeys); nil, nil falls
	// through to X-Vgai-Key; an error answers 503. It must return only a
	// principal the program authenticated, such as a value it put in the
	// request's context, never one it read unchecked from what the client
	// sent. Default: nil, API keys only.
	Authenticate func(r *http.Request) (*rbac.Principal, error)
	// Authorizer decides whether the key's principal may read or delete
	// the sessions of the account. Default: rbac.Policy.
	Authorizer rbac.Authorizer
	// Accounts finds an account's service provider, for service provider
	// keys naming an account in AccountHeader. Default: nil, and service
	// provider keys get 403.
	Accounts AccountResolver
	// FailedKeys throttles the failed key checks (a missing or refused
	// key) of each source address: past its allowance a source gets 429
	// Too Many Requests with Retry-After, and the keys it sends are not
	// checked at all until it has waited. Share one limiter between every
	// API of the process that checks credentials, so that a source's
	// failures count across them. Default: rbac.NewFailureLimiter with its
	// defaults (10 failures in a row, then one a second), private to this
	// handler.
	FailedKeys *rbac.FailureLimiter
	// ClientAddr returns the address a request comes from, by which
	// FailedKeys counts. Default: the IP address of r.RemoteAddr (the zero
	// Addr when it has none). Behind a reverse proxy, return the client
	// address the proxy reports, and only when the request comes from a
	// proxy you trust.
	ClientAddr func(r *http.Request) netip.Addr
	// Playback, when set, adds a playback link (channel_data.playback_url)
	// to every document returned with an audio_url, and serves the
	// recording endpoint GET /insights/recordings/{key} (see
	// PlaybackConfig). Default nil: neither.
	Playback *PlaybackConfig
	// Logger receives one line per failed request (never the key); nil
	// discards.
	Logger *slog.Logger
}

// NewHandler returns the Insights HTTP API of seed 004, to mount at the
// server's root (its paths start with /insights/):
//
//	GET    /insights/sessions?from_date=…&to_date=…&page_number=…&page_size=…&sort_by=…&project_fields=…&filter_by=…&aggs=…
//	GET    /insights/sessions/{id}/parameters?session_start_time=…
//	GET    /insights/sessions/search/{id}
//	DELETE /insights/sessions/{id}?session_start_time=…
//	GET    /insights/usage?from_date=…&to_date=…
//	GET    /insights/recordings/{account}/{application}/{session}.wav|mp3   (with HandlerConfig.Playback)
//
// With Playback, every document returned with a channel_data.audio_url
// (search hits whose projection keeps it, get, find) also has a
// channel_data.playback_url: a link a browser plays for PlaybackConfig.Expiry
// without credentials, the bucket's signed URL where the bucket signs (S3,
// GCS, Azure with an account key) or else a signed link to the recording
// endpoint. The recording endpoint answers GET and HEAD with the recording
// (Content-Type audio/wav or audio/mpeg, Accept-Ranges, Range and multi-range
// requests answered 206, If-Range, ETag and Last-Modified conditionals, as
// http.ServeContent does), reading the bucket with one ranged read per
// range; it takes a playback link's expires and signature (403 when invalid
// or expired) or an X-Vgai-Key that may read the interactions of the
// recording's account (the key's first segment), as a search would.
//
// A search with aggs (ParamAggs: JSON in Elasticsearch's request shape, see
// ParseAggregations) answers "aggregations" beside the hits, computed over
// every matching session; page_size=0 leaves the hits out. Aggregations
// need what searching needs (Interaction Read): they count what a search
// could list. /insights/usage answers the minutes and sessions per account
// per day (see Index.Usage) and needs Usage Read; there a service
// provider's key without AccountHeader sees every account of its provider.
//
// Every request needs X-Vgai-Key (or a principal found by HandlerConfig.Authenticate); the key's principal scopes it, so a key
// never sees another account's sessions: an account key works on its own
// account, a service provider's key on the one of its provider's accounts
// named in AccountHeader, an administrator's key on the account named there
// or, without it, on every account. The principal must also hold the
// privilege (Interaction Read for search, get and find; Interaction Delete
// for delete). Status codes: 200 (search, get, find) and 204 (delete); 401
// for a missing or rejected key and for invalid parameters (as seed 004
// documents); 403 for a key that may not do this (lacks the privilege, or
// names an account outside its reach); 404 for a session not found (and for
// unknown paths); 405 for another method; 429 (with Retry-After) for a
// source address that sent too many missing or wrong keys (see FailedKeys);
// 503 (with Retry-After) when the key store cannot answer; 500 when the
// index fails. Error bodies are
// {"error": "<message>"}. /insights/sessions/search/{id} wins over
// /insights/sessions/{id}/parameters for the path
// /insights/sessions/search/parameters.
func NewHandler(cfg HandlerConfig) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	az := cfg.Authorizer
	if az == nil {
		az = rbac.Policy{}
	}
	failed := cfg.FailedKeys
	if failed == nil {
		failed = rbac.NewFailureLimiter(rbac.FailureLimiterConfig{})
	}
	addr := cfg.ClientAddr
	if addr == nil {
		addr = remoteAddr
	}
	return &handler{idx: cfg.Index, keys: cfg.Keys, authn: cfg.Authenticate, az: az, accounts: cfg.Accounts, failed: failed, addr: addr, log: log,
		play: newPlayback(cfg.Playback)}
}

// remoteAddr is the IP address of r.RemoteAddr.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

type handler struct {
	idx      *Index
	keys     KeyVerifier
	authn    func(*http.Request) (*rbac.Principal, error)
	az       rbac.Authorizer
	accounts AccountResolver
	failed   *rbac.FailureLimiter
	addr     func(*http.Request) netip.Addr
	log      *slog.Logger
	play     *playback // nil: no playback
}

const basePath = "/insights/sessions"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.EscapedPath(), recordingsPath) {
		h.serveRecording(w, r)
		return
	}
	if p := r.URL.EscapedPath(); p == usagePath || p == usagePath+"/" {
		h.serveUsage(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), basePath)
	if !ok || (rest != "" && rest[0] != '/') {
		h.fail(w, r, http.StatusNotFound, "no such endpoint", nil)
		return
	}
	var segs []string
	if rest = strings.Trim(rest, "/"); rest != "" {
		for s := range strings.SplitSeq(rest, "/") {
			u, err := url.PathUnescape(s)
			if err != nil {
				h.fail(w, r, http.StatusNotFound, "no such endpoint", err)
				return
			}
			segs = append(segs, u)
		}
	}
	var route func(context.Context, http.ResponseWriter, *http.Request, string, []string)
	method, action := http.MethodGet, rbac.ActionRead
	switch {
	case len(segs) == 0:
		route = h.search
	case len(segs) == 2 && segs[0] == "search":
		route = h.find
	case len(segs) == 2 && segs[1] == "parameters":
		route = h.get
	case len(segs) == 1:
		route, method, action = h.delete, http.MethodDelete, rbac.ActionDelete
	default:
		h.fail(w, r, http.StatusNotFound, "no such endpoint", nil)
		return
	}
	if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", method)
		h.fail(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here", nil)
		return
	}
	t, ok := h.authorize(w, r, rbac.EntityInteraction, action, false)
	if !ok {
		return
	}
	route(r.Context(), w, r, t.Account, segs)
}

// authorize finds the principal (HandlerConfig.Authenticate's, or the
// key's), the account the request is about, and asks the Authorizer whether
// the principal may do action on entity of it.
// It returns the target: an account, or (Account "") every account, or with
// wholeProvider, for a service provider's key naming no account, every
// account of its service provider (Target.ServiceProvider set).
func (h *handler) authorize(w http.ResponseWriter, r *http.Request, entity rbac.Entity, action rbac.Action, wholeProvider bool) (rbac.Target, bool) {
	fail := rbac.Target{}
	if h.idx == nil {
		h.fail(w, r, http.StatusInternalServerError, "internal error", errors.New("insights: handler has no Index"))
		return fail, false
	}
	var p *rbac.Principal
	if h.authn != nil {
		var err error
		if p, err = h.authn(r); err != nil {
			h.unavailable(w, r, "the authenticator is unavailable, retry later", err)
			return fail, false
		}
		if p != nil && (!p.Scope.Valid() || (p.Scope == rbac.ScopeAccount && p.Account == "")) {
			h.fail(w, r, http.StatusUnauthorized, "invalid principal", fmt.Errorf("%w: the authenticated principal has no scope or no account", ErrUnauthorized))
			return fail, false
		}
	}
	if p == nil {
		var ok bool
		if p, ok = h.keyPrincipal(w, r); !ok {
			return fail, false
		}
	}
	ctx := r.Context()
	named := strings.TrimSpace(r.Header.Get(AccountHeader))
	t := rbac.Target{ServiceProvider: p.ServiceProvider, Account: p.Account}
	switch {
	case p.Scope == rbac.ScopeAdmin && named == "":
		t = rbac.Target{} // every account: the platform, which only admins reach
	case p.Scope == rbac.ScopeAccount && (named == "" || named == p.Account):
		// its own account
	case named == "" && wholeProvider && p.Scope == rbac.ScopeServiceProvider:
		t = rbac.Target{ServiceProvider: p.ServiceProvider} // every account of its provider
	case named == "":
		h.fail(w, r, http.StatusForbidden, "a service provider's API key must name an account in the "+AccountHeader+" header",
			fmt.Errorf("%w: %s without %s", ErrForbidden, p.Subject, AccountHeader))
		return fail, false
	case p.Scope == rbac.ScopeServiceProvider:
		if h.accounts == nil {
			h.fail(w, r, http.StatusForbidden, "this server does not accept service provider API keys",
				fmt.Errorf("%w: no AccountResolver configured", ErrForbidden))
			return fail, false
		}
		sp, err := h.accounts.ServiceProvider(ctx, named)
		switch {
		case errors.Is(err, ErrNotFound):
			sp = "" // answered as out of reach below: existence is not revealed
		case err != nil:
			h.unavailable(w, r, "the account store is unavailable, retry later", err)
			return fail, false
		}
		t = rbac.Target{ServiceProvider: sp, Account: named}
	default: // an admin naming an account, or an account key naming another one
		t = rbac.Target{Account: named}
	}
	req := rbac.Request{Target: t, Entity: entity, Action: action}
	switch d := h.az.Decide(p, req); d {
	case rbac.Allow:
		return t, true
	case rbac.DenyPrivilege:
		verb, what, on := "read", "sessions", "interactions"
		if action == rbac.ActionDelete {
			verb = "delete"
		}
		if entity != rbac.EntityInteraction {
			what, on = entity.String(), entity.String()
		}
		h.fail(w, r, http.StatusForbidden, "this API key may not "+verb+" "+what+" (its service type does not grant "+action.String()+" on "+on+")",
			&rbac.DeniedError{Subject: p.Subject, Request: req, Decision: d})
	default:
		msg := "account " + strconv.Quote(t.Account) + " is outside this API key's reach"
		if t.Account == "" {
			msg = "this API key may not act on every account"
		}
		h.fail(w, r, http.StatusForbidden, msg, &rbac.DeniedError{Subject: p.Subject, Request: req, Decision: d})
	}
	return fail, false
}

// keyPrincipal checks the request's API key (rate-limited per source by
// FailedKeys) and returns the principal holding it; false when it answered.
func (h *handler) keyPrincipal(w http.ResponseWriter, r *http.Request) (*rbac.Principal, bool) {
	// A source that failed too often waits, and what it sends meanwhile is
	// not checked; a failed check keeps the reservation, anything else
	// gives it back.
	src := h.addr(r)
	if ok, wait := h.failed.Reserve(src); !ok {
		secs := max(1, int((wait+time.Second-1)/time.Second))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.fail(w, r, http.StatusTooManyRequests, fmt.Sprintf("too many missing or invalid API keys from this address: retry in %d s", secs),
			fmt.Errorf("%w: source %s throttled for %v", ErrUnauthorized, src, wait))
		return nil, false
	}
	key := secret.String(strings.TrimSpace(r.Header.Get(KeyHeader)))
	if key.IsZero() {
		h.fail(w, r, http.StatusUnauthorized, "missing "+KeyHeader+" header", ErrUnauthorized)
		return nil, false
	}
	if h.keys == nil {
		h.failed.Refund(src) // the server's fault, not the client's
		h.fail(w, r, http.StatusUnauthorized, "invalid API key", errors.New("insights: handler has no KeyVerifier"))
		return nil, false
	}
	ctx := r.Context()
	p, err := h.keys.VerifyKey(ctx, key)
	switch {
	case err != nil && (errors.Is(err, ErrUnauthorized) || errors.Is(err, rbac.ErrInvalidKey)):
		h.fail(w, r, http.StatusUnauthorized, "invalid API key", err)
		return nil, false
	case err != nil:
		h.failed.Refund(src)
		h.unavailable(w, r, "the API key store is unavailable, retry later", err)
		return nil, false
	case p == nil || !p.Scope.Valid() || (p.Scope == rbac.ScopeAccount && p.Account == ""):
		h.fail(w, r, http.StatusUnauthorized, "invalid API key", fmt.Errorf("%w: the key's principal has no scope or no account", ErrUnauthorized))
		return nil, false
	}
	h.failed.Refund(src)
	return p, true
}

func (h *handler) search(ctx context.Context, w http.ResponseWriter, r *http.Request, account string, _ []string) {
	q, err := ParseURLQuery(r.URL.RawQuery)
	if err != nil {
		h.error(w, r, err)
		return
	}
	res, err := h.idx.Search(ctx, account, q)
	if err != nil {
		h.error(w, r, err)
		return
	}
	for i, hit := range res.Hits {
		res.Hits[i] = h.withPlayback(ctx, r, hit)
	}
	h.json(w, res)
}

func (h *handler) startTime(r *http.Request) (Bound, error) {
	s := r.URL.Query().Get(ParamSessionStartTime)
	if s == "" {
		return Bound{}, invalid(ErrMissingRange, "insights: session_start_time is required")
	}
	return ParseBound(s)
}

func (h *handler) get(ctx context.Context, w http.ResponseWriter, r *http.Request, account string, segs []string) {
	start, err := h.startTime(r)
	if err != nil {
		h.error(w, r, err)
		return
	}
	raw, err := h.idx.GetJSON(ctx, account, segs[0], start)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.raw(w, h.withPlayback(ctx, r, raw))
}

func (h *handler) find(ctx context.Context, w http.ResponseWriter, r *http.Request, account string, segs []string) {
	raw, err := h.idx.FindJSON(ctx, account, segs[1])
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.raw(w, h.withPlayback(ctx, r, raw))
}

func (h *handler) delete(ctx context.Context, w http.ResponseWriter, r *http.Request, account string, segs []string) {
	start, err := h.startTime(r)
	if err != nil {
		h.error(w, r, err)
		return
	}
	if err := h.idx.Delete(ctx, account, segs[0], start); err != nil {
		h.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// error maps an error to its status: 401 invalid query, 404 not found,
// 500 otherwise (with a generic message: the details go to the log).
func (h *handler) error(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrInvalidQuery):
		h.fail(w, r, http.StatusUnauthorized, err.Error(), err)
	case errors.Is(err, ErrNotFound):
		h.fail(w, r, http.StatusNotFound, "session not found", err)
	default:
		h.fail(w, r, http.StatusInternalServerError, "internal error", err)
	}
}

// unavailable answers 503 with a Retry-After: the request may succeed later.
func (h *handler) unavailable(w http.ResponseWriter, r *http.Request, msg string, err error) {
	w.Header().Set("Retry-After", "1")
	h.fail(w, r, http.StatusServiceUnavailable, msg, err)
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "insights request failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Any("error", err))
	b, _ := json.Marshal(map[string]string{"error": strings.TrimPrefix(msg, "insights: ")})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (h *handler) json(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	}
	h.raw(w, b)
}

func (h *handler) raw(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	_, _ = io.WriteString(w, "\n")
}
