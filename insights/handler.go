package insights

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/voicegw/voicegw/internal/secret"
)

// Secret is a string that never prints: API keys travel in it (see
// internal/secret: fmt, slog and errors show it redacted).
type Secret = secret.String

// KeyHeader is the header that carries the API key (seed 004).
const KeyHeader = "X-Vgai-Key"

// AllAccounts is the account a KeyVerifier returns for a key that may see
// every account (an administrator's). An empty account is refused.
const AllAccounts = "*"

// KeyVerifier checks an API key and returns the account it belongs to. Any
// error rejects the request with 401; a key must map to a non-empty account
// or to AllAccounts. The rbac package's API keys plug in through
// KeyVerifierFunc, for example:
//
//	insights.KeyVerifierFunc(func(ctx context.Context, key insights.Secret) (string, error) {
//		account, scope, err := keyStore.KeyAccount(ctx, key.Reveal())
//		if err != nil {
//			return "", err
//		}
//		if scope == rbac.ScopeAdmin {
//			return insights.AllAccounts, nil
//		}
//		return account, nil
//	})
type KeyVerifier interface {
	VerifyKey(ctx context.Context, key Secret) (accountID string, err error)
}

// KeyVerifierFunc adapts a function to KeyVerifier.
type KeyVerifierFunc func(ctx context.Context, key Secret) (string, error)

// VerifyKey calls f.
func (f KeyVerifierFunc) VerifyKey(ctx context.Context, key Secret) (string, error) {
	return f(ctx, key)
}

// StaticKeys is a KeyVerifier over a fixed map from key to account ID, for
// tests and small deployments. Comparison is constant time per key.
type StaticKeys map[string]string

// VerifyKey looks the key up.
func (m StaticKeys) VerifyKey(_ context.Context, key Secret) (string, error) {
	account := ""
	for k, a := range m {
		if key.Equal(Secret(k)) {
			account = a
		}
	}
	if account == "" {
		return "", ErrUnauthorized
	}
	return account, nil
}

// HandlerConfig configures NewHandler.
type HandlerConfig struct {
	// Index serves the sessions. Required.
	Index *Index
	// Keys checks X-Vgai-Key. Required: with nil every request gets 401.
	Keys KeyVerifier
	// Logger receives one line per failed request (never the key); nil
	// discards.
	Logger *slog.Logger
}

// NewHandler returns the Insights HTTP API of seed 004, to mount at the
// server's root (its paths start with /insights/sessions):
//
//	GET    /insights/sessions?from_date=…&to_date=…&page_number=…&page_size=…&sort_by=…&project_fields=…&filter_by=…
//	GET    /insights/sessions/{id}/parameters?session_start_time=…
//	GET    /insights/sessions/search/{id}
//	DELETE /insights/sessions/{id}?session_start_time=…
//
// Every request needs X-Vgai-Key; the key's account scopes it, so a key
// never sees another account's sessions (unless its KeyVerifier grants it
// AllAccounts). Status codes: 200 (search, get,
// find) and 204 (delete); 401 for a missing or rejected key and for invalid
// parameters (as seed 004 documents); 404 for a session not found (and for
// unknown paths); 405 for another method; 500 when the index fails. Error
// bodies are {"error": "<message>"}. /insights/sessions/search/{id} wins
// over /insights/sessions/{id}/parameters for the path
// /insights/sessions/search/parameters.
func NewHandler(cfg HandlerConfig) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{idx: cfg.Index, keys: cfg.Keys, log: log}
}

type handler struct {
	idx  *Index
	keys KeyVerifier
	log  *slog.Logger
}

const basePath = "/insights/sessions"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	method := http.MethodGet
	switch {
	case len(segs) == 0:
		route = h.search
	case len(segs) == 2 && segs[0] == "search":
		route = h.find
	case len(segs) == 2 && segs[1] == "parameters":
		route = h.get
	case len(segs) == 1:
		route, method = h.delete, http.MethodDelete
	default:
		h.fail(w, r, http.StatusNotFound, "no such endpoint", nil)
		return
	}
	if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", method)
		h.fail(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here", nil)
		return
	}
	account, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	route(r.Context(), w, r, account, segs)
}

func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := Secret(strings.TrimSpace(r.Header.Get(KeyHeader)))
	if key.IsZero() {
		h.fail(w, r, http.StatusUnauthorized, "missing "+KeyHeader+" header", ErrUnauthorized)
		return "", false
	}
	if h.keys == nil {
		h.fail(w, r, http.StatusUnauthorized, "invalid API key", errors.New("insights: handler has no KeyVerifier"))
		return "", false
	}
	if h.idx == nil {
		h.fail(w, r, http.StatusInternalServerError, "internal error", errors.New("insights: handler has no Index"))
		return "", false
	}
	account, err := h.keys.VerifyKey(r.Context(), key)
	if err != nil || account == "" {
		h.fail(w, r, http.StatusUnauthorized, "invalid API key", err)
		return "", false
	}
	if account == AllAccounts {
		return "", true // the index reads "" as every account
	}
	return account, true
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
	h.raw(w, raw)
}

func (h *handler) find(ctx context.Context, w http.ResponseWriter, r *http.Request, account string, segs []string) {
	raw, err := h.idx.FindJSON(ctx, account, segs[1])
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.raw(w, raw)
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
