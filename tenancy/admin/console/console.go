package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// DefaultPrefix is where the console is mounted unless Config.Prefix says
// otherwise.
const DefaultPrefix = "/console/"

// ErrConfig is returned by New for an unusable Config; the message names
// the field.
var ErrConfig = errors.New("console: invalid configuration")

// Config configures New. Admin and Insights are required: they are the
// configurations the gateway gives admin.NewHandler and insights.NewHandler
// (the same stores); every other field has a working default.
type Config struct {
	// Admin is the admin API's configuration. The console builds its own
	// admin.Handler from it, whose Authenticator is replaced by the
	// signed-in member's session; that handler is reached only in-process
	// by the console, never from the network. Admin.Members also checks
	// members' passwords and gives each request the member's current
	// principal. Required (Tenants, Keys, Members, Store).
	Admin admin.Config
	// Insights is the Insights API's configuration (Index required). The
	// console builds its own handler from it whose Authenticate is the
	// signed-in member's session.
	Insights insights.HandlerConfig
	// Playback serves recordings to the Recent calls player and download
	// link, once the Insights API has shown the member the session.
	// Default: LinkPlayback{} (the session document's playable link).
	Playback Playback
	// Prefix is the path the console is mounted at, with a slash at both
	// ends. Default: DefaultPrefix ("/console/"): mux.Handle("/console/", c).
	Prefix string
	// SecureCookies makes every cookie Secure even on plain HTTP requests:
	// set it behind a proxy that terminates TLS. Requests that arrive over
	// TLS always get Secure cookies.
	SecureCookies bool
	// SessionIdle signs a member out after this long without a request.
	// Default: 30 minutes.
	SessionIdle time.Duration
	// SessionMax signs a member out this long after signing in, whatever
	// its activity. Default: 12 hours.
	SessionMax time.Duration
	// MaxSessions bounds the sessions held at once; past it the oldest is
	// signed out. Default: 10,000.
	MaxSessions int
	// FailedSignIns throttles failed sign-ins per source address. Share
	// the process's limiter (the one of the Insights API) so failures
	// count across APIs. Default: rbac.NewFailureLimiter with Burst 10 and
	// one more try every 30 seconds.
	FailedSignIns *rbac.FailureLimiter
	// LockoutThreshold failed sign-ins for one email within LockoutDuration
	// lock that email for LockoutDuration (unknown emails too, so the lock
	// tells nothing). Defaults: 5 and 15 minutes.
	LockoutThreshold int
	LockoutDuration  time.Duration
	// ClientAddr returns the address a request comes from, for
	// FailedSignIns. Default: the IP address of r.RemoteAddr. Behind a
	// reverse proxy, return the client address it reports (only for
	// requests from a proxy you trust).
	ClientAddr func(r *http.Request) netip.Addr
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// Logger receives sign-ins, sign-outs, lockouts and failed API calls
	// (never a password, session ID or secret). Default: discard.
	Logger *slog.Logger
}

// Console is the operators' web console: an http.Handler serving pages
// (server-rendered, with their CSS and JavaScript embedded) under
// Config.Prefix. Create it with New; it is safe for concurrent use.
type Console struct {
	cfg      Config
	prefix   string
	members  *rbac.MemberStore
	api      *http.Client // in-process: the console's admin and Insights handlers
	playback Playback
	sessions *sessionStore
	lockout  *lockout
	failed   *rbac.FailureLimiter
	addr     func(*http.Request) netip.Addr
	now      func() time.Time
	log      *slog.Logger
	mux      *http.ServeMux
	handler  http.Handler
	pages    *templates
	fields   fieldScopes
}

var _ http.Handler = (*Console)(nil)

// New returns the console. It fails with an error wrapping ErrConfig (or
// admin.ErrConfig) when a required field is missing.
func New(cfg Config) (*Console, error) {
	if cfg.Insights.Index == nil {
		return nil, fmt.Errorf("%w: Insights.Index is required", ErrConfig)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(cfg.Prefix, "/") || !strings.HasSuffix(cfg.Prefix, "/") || strings.ContainsAny(cfg.Prefix, "{}? #") {
		return nil, fmt.Errorf("%w: Prefix %q must start and end with a slash", ErrConfig, cfg.Prefix)
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = 12 * time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10000
	}
	if cfg.LockoutThreshold <= 0 {
		cfg.LockoutThreshold = 5
	}
	if cfg.LockoutDuration <= 0 {
		cfg.LockoutDuration = 15 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.FailedSignIns == nil {
		cfg.FailedSignIns = rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: 10, Every: 30 * time.Second, Clock: cfg.Clock})
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = remoteAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Playback == nil {
		cfg.Playback = LinkPlayback{}
	}
	// The console's own API handlers: the member of the request's context
	// is their only caller.
	acfg := cfg.Admin
	acfg.Authenticator = admin.AuthenticatorFunc(sessionCaller)
	ah, err := admin.NewHandler(acfg)
	if err != nil {
		return nil, err
	}
	icfg := cfg.Insights
	icfg.Authenticate = sessionPrincipal
	ih := insights.NewHandler(icfg)

	c := &Console{
		cfg: cfg, prefix: cfg.Prefix, members: cfg.Admin.Members,
		api:      &http.Client{Transport: inProcess{admin: ah, insights: ih}},
		playback: cfg.Playback,
		sessions: newSessionStore(cfg.SessionIdle, cfg.SessionMax, cfg.MaxSessions, cfg.Clock),
		lockout:  newLockout(cfg.LockoutThreshold, cfg.LockoutDuration, cfg.Clock),
		failed:   cfg.FailedSignIns, addr: cfg.ClientAddr, now: cfg.Clock, log: cfg.Logger,
	}
	if c.pages, err = parseTemplates(c.prefix); err != nil {
		return nil, err
	}
	// The OpenAPI document is public: read without a caller.
	doc, err := c.getJSON(context.Background(), admin.BasePath+"/openapi.json")
	if err != nil {
		return nil, fmt.Errorf("console: reading the admin API's OpenAPI document: %w", err)
	}
	if c.fields, err = parseFieldScopes(doc); err != nil {
		return nil, err
	}
	c.routes()
	// Defence in depth behind the per-session CSRF token: browsers' own
	// cross-origin signals (Sec-Fetch-Site, Origin) refuse a cross-site
	// POST before it is looked at.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.log.InfoContext(r.Context(), "console: cross-origin request refused", "method", r.Method, "path", r.URL.Path)
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	c.handler = securityHeaders(cop.Handler(c.mux))
	return c, nil
}

// ServeHTTP serves the console's pages and assets under Config.Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.handler.ServeHTTP(w, r)
}

// Prefix returns the path the console is mounted at.
func (c *Console) Prefix() string { return c.prefix }

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// securityHeaders sets the headers every answer carries: no framing, no
// sniffing, no referrer outside the origin, and a content security policy
// that allows only the console's own scripts and styles (recordings may
// play from a bucket's signed https URL).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"media-src 'self' https:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
