package sip

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
)

// Handler is a SIP request handler that takes a context: sipgo's
// RequestHandler with a ctx first. Guard.Wrap puts the caller's Identity in
// that ctx. Convert with Handler.Sipgo and FromSipgo.
type Handler func(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction)

// Sipgo adapts h to a sipgo handler, for sipgo.Server.OnRequest and
// friends. Each request's context derives from ctx (cancel it to tell
// running handlers the server is stopping) and is cancelled when the
// handler returns. It is not cancelled when the transaction ends: watch
// tx.Done() for that.
func (h Handler) Sipgo(ctx context.Context) sipgo.RequestHandler {
	return func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		h(rctx, req, tx)
	}
}

// FromSipgo adapts a sipgo handler to Handler; the context is ignored.
func FromSipgo(h sipgo.RequestHandler) Handler {
	return func(_ context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) { h(req, tx) }
}

// PassedBy says how a request got through the Guard.
type PassedBy uint8

// The ways through the Guard. Only PassedDigest authenticates a user.
const (
	// PassedDigest: the digest answer was verified; Identity.User is set.
	PassedDigest PassedBy = iota + 1
	// PassedNoDigest: the tenant does not use digest (Tenant.NoDigest); only
	// its allowlist was checked.
	PassedNoDigest
	// PassedMethod: the method is in GuardConfig.AllowlistOnlyMethods.
	PassedMethod
	// PassedInDialog: an in-dialog request passed after the allowlist
	// (GuardConfig.PassInDialog); the dialog owner must check the dialog.
	PassedInDialog
	// PassedUnchallengeable: ACK or CANCEL, which cannot be challenged
	// (RFC 3261 §22.1); only the allowlist was checked.
	PassedUnchallengeable
)

// String returns the name of the way through.
func (p PassedBy) String() string {
	switch p {
	case PassedDigest:
		return "digest"
	case PassedNoDigest:
		return "no-digest"
	case PassedMethod:
		return "allowlist-only-method"
	case PassedInDialog:
		return "in-dialog"
	case PassedUnchallengeable:
		return "ack-cancel"
	}
	return "none"
}

// Identity is who sent a request that passed the Guard.
type Identity struct {
	// User is the digest username; empty unless PassedBy is PassedDigest.
	User string
	// Tenant is the tenant's ID.
	Tenant string
	// Realm is the tenant's realm (the challenge realm).
	Realm string
	// Source is the transport address the request came from.
	Source netip.AddrPort
	// Algorithm is the digest algorithm used (PassedDigest only).
	Algorithm Algorithm
	// PassedBy says which check let the request through.
	PassedBy PassedBy
	// Retransmission: the request is a retransmission, over UDP, of one
	// the Guard accepted moments ago (the same transaction — Call-ID,
	// CSeq, top Via branch — from the same source with the same digest
	// answer, within 32 s, 64·T1, of the first): its client did not get
	// the answer and sent it again. A handler that answers statelessly (RespondStateless)
	// gets such retransmissions, as a stateless server does (RFC 3261
	// §8.2.7): it answers again and must not act on the request twice. Any
	// other reuse of a digest answer is a replay, refused. (A handler that
	// answers through its transaction never sees one: sipgo absorbs them.)
	Retransmission bool
}

// LogValue implements slog.LogValuer.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("user", id.User), slog.String("tenant", id.Tenant), slog.String("realm", id.Realm),
		slog.String("source", id.Source.String()), slog.String("passed_by", id.PassedBy.String()))
}

type identityKey struct{}

// ContextWithIdentity returns ctx carrying id (what Guard.Wrap does; useful
// in tests of handlers that read the identity).
func ContextWithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the Identity the Guard put in ctx.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// ErrUnknownTenant is what a TenantLookup returns for a realm it does not serve.
var ErrUnknownTenant = errors.New("sip: no tenant for realm")

// ErrTenantBusy is what a TenantLookup returns (wrapped) when it declines
// to look a realm up now: a lookup that would read a store whose budget of
// reads is spent (srs.TenantCache's, against peers naming realm after
// random realm). The Guard answers 503 Service Unavailable with
// Retry-After (ReasonUnavailable) and counts no failure.
var ErrTenantBusy = errors.New("sip: tenant lookups over their budget")

// tenantBusyRetryAfter is the Retry-After, in seconds, of the answer to a
// request whose tenant lookup was declined (ErrTenantBusy).
const tenantBusyRetryAfter = "5"

// Tenant is what the Guard needs to know of one tenant.
type Tenant struct {
	// ID identifies the tenant to handlers (Identity.Tenant).
	ID string
	// Realm is the digest realm challenges carry. Default: the realm the
	// lookup was asked for.
	Realm string
	// Allowlist refuses sources outside it (403); empty allows all.
	Allowlist Allowlist
	// Credentials checks digest answers locally. Used when Webhook is nil.
	// A tenant with neither (and not NoDigest) authenticates nobody.
	Credentials CredentialSource
	// Webhook, when set, decides digest answers instead of Credentials.
	Webhook *Webhook
	// NoDigest lets requests through after the allowlist without a digest
	// challenge (seed 002: digest is needed only when the caller side uses
	// it). Default false: digest is required.
	NoDigest bool
}

// TenantLookup finds the tenant serving a realm; a tenant store backs it.
type TenantLookup interface {
	// LookupTenant returns the tenant for realm (lower case, as the
	// GuardConfig.Realm function returned it) or an error wrapping
	// ErrUnknownTenant, or ErrTenantBusy when it declines to look up now.
	// Other errors mean the lookup failed.
	LookupTenant(ctx context.Context, realm string) (Tenant, error)
}

// TenantFunc adapts a function to TenantLookup.
type TenantFunc func(ctx context.Context, realm string) (Tenant, error)

// LookupTenant calls f.
func (f TenantFunc) LookupTenant(ctx context.Context, realm string) (Tenant, error) {
	return f(ctx, realm)
}

// Tenants is a static TenantLookup keyed by lower-case realm.
type Tenants map[string]Tenant

// LookupTenant implements TenantLookup.
func (t Tenants) LookupTenant(_ context.Context, realm string) (Tenant, error) {
	v, ok := t[strings.ToLower(realm)]
	if !ok {
		return Tenant{}, fmt.Errorf("%w %q", ErrUnknownTenant, realm)
	}
	return v, nil
}

// SingleTenant serves every realm with t (a single-tenant server such as
// examples/registrar). Set t.Realm, or challenges carry whatever host the
// request named.
func SingleTenant(t Tenant) TenantLookup {
	return TenantFunc(func(context.Context, string) (Tenant, error) { return t, nil })
}

// RequestURIHost returns the lower-case host of the Request-URI: the
// default way the Guard picks a request's realm.
func RequestURIHost(req *sipgosip.Request) string { return strings.ToLower(req.Recipient.Host) }

// FromHost returns the lower-case host of the From URI (the caller's
// domain), for GuardConfig.Realm when tenants are told apart by caller.
func FromHost(req *sipgosip.Request) string {
	if f := req.From(); f != nil {
		return strings.ToLower(f.Address.Host)
	}
	return ""
}

// LockoutConfig configures the temporary block of source addresses after
// repeated failures. The zero value gives the defaults.
type LockoutConfig struct {
	// MaxFailures is how many failed digest answers (wrong password,
	// unknown user, replayed nonce count) and requests for a realm no
	// tenant serves from one source within Window start a block. Default 5; negative disables blocking.
	MaxFailures int
	// Window is the period failures are counted in, from the first one.
	// Default 1 minute.
	Window time.Duration
	// Block is how long a blocked source is refused (403). Default 5 minutes.
	Block time.Duration
	// MaxSources bounds the sources tracked. Default 65536.
	MaxSources int
}

// GuardConfig configures a Guard. Only Tenants is required.
type GuardConfig struct {
	// Tenants finds the tenant of a request's realm. Required.
	Tenants TenantLookup
	// Realm returns the realm a request is for. Default RequestURIHost:
	// the Request-URI names the domain the request is addressed to (the
	// registrar's domain for a REGISTER, RFC 3261 §10.2), which is what a
	// multi-tenant server is reached by; To and From are not used, as they
	// are not protected by the digest. FromHost is the alternative.
	Realm func(*sipgosip.Request) string
	// Digest configures challenges and verification.
	Digest DigestConfig
	// Lockout configures blocking after repeated failures.
	Lockout LockoutConfig
	// PassInDialog lets in-dialog requests (a To tag and a method other
	// than REGISTER: BYE, re-INVITE, UPDATE, INFO…) through after the
	// allowlist without a challenge, for peers such as sipp that do not
	// send credentials inside a dialog. The handler (the dialog owner) must
	// answer 481 for a dialog it does not know, or anyone on the allowlist
	// could send such requests. Default false: they are challenged.
	// Ignored when Dialogs is set.
	PassInDialog bool
	// Dialogs, when set, decides in-dialog requests (a To tag, not
	// REGISTER) by the dialog they belong to instead of by their
	// Request-URI (it replaces PassInDialog). For a dialog the owner knows,
	// the request is checked against the owner's tenant (looked up by the
	// owner Identity's Realm): that tenant's allowlist (403), and, when the
	// dialog was digest-authenticated (Identity.User set) and the request
	// comes from another IP address than the dialog's initial request
	// (Identity.Source), digest credentials of that same user (407;
	// another user's are refused with 403, and an ACK or CANCEL, which
	// cannot be challenged, is refused). It then passes with the owner's
	// Identity, Source set to the request's and PassedBy PassedInDialog.
	// A request for a dialog the owner does not know passes as
	// PassedInDialog with no tenant: the owner answers it 481. A dialog
	// whose tenant no longer exists (ErrUnknownTenant: its account was
	// deleted during the call) can only be ended: a BYE from the address
	// of its initial request passes with the owner's Identity; anything
	// else of it is refused (403, ReasonUnknownRealm). Default nil.
	Dialogs DialogOwner
	// OnDecision, when set, is called once for every request the Guard
	// decides (by Check, and so by Wrap), before the answer is sent, with
	// the outcome: a caller counts refusals by Decision.Reason and
	// initial INVITEs without re-implementing Wrap. It runs on the request's
	// goroutine (with PacketConnConfig.Guard, for the datagrams answered
	// there, on the PacketConn's reading goroutine) and must not block.
	// Default nil.
	OnDecision func(ctx context.Context, req *sipgosip.Request, d Decision)
	// AllowlistOnlyMethods pass after the allowlist without a challenge,
	// for example OPTIONS keepalives. Default none.
	AllowlistOnlyMethods []sipgosip.RequestMethod
	// MaxAmplification bounds, over UDP, the Guard's answers against the
	// requests they answer, so a request sent under a victim's address (a
	// reflection attack) makes the Guard send the victim little more than
	// the attacker sent: a 401/407 keeps, of its challenges after the
	// first, only those that fit within MaxAmplification times the size
	// of the request (taken as its most compact writing, compact header
	// names, never more than it took on the wire), and every answer is
	// written with compact header names. What an answer must carry is
	// never left out (the request's Via, From, To, Call-ID and CSeq, one
	// challenge): real requests carry more than that (Max-Forwards,
	// Contact, a body) and their answers stay within the bound (sipp's
	// INVITE: 1.3x; a 300-byte REGISTER: one challenge, 1.1x), while a
	// request crafted small gets its smallest answer (one challenge), up
	// to about 2.5x its size (QUIC allows 3x towards an address it has not
	// validated, RFC 9000 §8), where sipgo's retransmissions made it 12
	// answers. So offer first the algorithm all clients
	// support (MD5) when clients send small requests over UDP. Default
	// 1.5; negative: no bound. Answers over TCP and TLS are not bounded:
	// their source cannot be spoofed.
	MaxAmplification float64
	// Webhook calls tenants' registration webhooks.
	Webhook WebhookClient
	// Logger receives the Guard's log lines. Nil discards. Passwords, HA1,
	// nonce keys and the response parameter are never logged. The lines
	// go through NewLogFilter configured by LogFilter: peers decide how
	// many requests are refused, and so how many lines are written.
	Logger *slog.Logger
	// QuietInitialInvites logs the Guard's refusals of initial INVITEs
	// (its Info lines: "refused: …", "authentication failed", "bad
	// request: …") at Debug, for a caller whose OnDecision logs each
	// refused call itself (siprec/srs does), so that one refused call
	// makes one line at Info. Warnings (a source blocked) stay warnings.
	// Default false: the Guard logs them at Info.
	QuietInitialInvites bool
	// LogFilter bounds the Guard's log lines (NewLogFilter): each kind of
	// line (its message) is written at most Burst times per Interval, the
	// rest counted in the next one's "suppressed" attribute, and values
	// are cut to excerpts. Unbounded, 2,000 crafted 166-byte INVITEs from
	// a refused source made 430 bytes of log each. The zero value is
	// NewLogFilter's defaults (10 lines a minute per message); Burst
	// negative lets every line through.
	LogFilter LogFilterConfig
	// Now is the clock of the lockout and, unless Digest.Now is set, of the
	// nonces. Default time.Now.
	Now func() time.Time
}

// Errors returned by Guard.Check for refused requests; each comes with its
// SIP answer. Digest verification errors (ErrBadCredentials, ErrStaleNonce…)
// are returned as they are.
var (
	// ErrSourceRefused: the source address is not on the tenant's allowlist (403).
	ErrSourceRefused = errors.New("sip: source address not on the allowlist")
	// ErrSourceBlocked: the source address is blocked after repeated failures (403).
	ErrSourceBlocked = errors.New("sip: source address temporarily blocked")
	// ErrNoCredentials: the request carried no digest answer for the realm
	// (401 or 407 challenge).
	ErrNoCredentials = errors.New("sip: no credentials for the realm")
	// ErrDigestURI: the digest uri is not a SIP URI of this request (400).
	ErrDigestURI = errors.New("sip: digest uri does not match the request")
	// ErrDialogUser: an in-dialog request from another address than its
	// dialog's carried valid credentials of another user than the one who
	// authenticated the dialog (403).
	ErrDialogUser = errors.New("sip: in-dialog request authenticated as another user than the dialog's")
	// ErrDialogSource: an ACK or CANCEL (which cannot be challenged) came
	// from another address than its digest-authenticated dialog's (CANCEL
	// 403, ACK dropped).
	ErrDialogSource = errors.New("sip: unauthenticated ACK or CANCEL from another address than its dialog's")
)

// Guard is SIP access control in front of request handlers (seed 002,
// "SIP"). For each request, in order:
//
//  1. a source address blocked after repeated failures: 403 Forbidden;
//  2. with GuardConfig.Dialogs, an in-dialog request is decided by its
//     dialog's owner's Identity (see GuardConfig.Dialogs): the dialog's
//     tenant's allowlist (403), and from another address than the
//     dialog's, the dialog's user's credentials (407; another user 403);
//  3. the tenant, looked up by realm (GuardConfig.Realm): an unknown realm
//     gets the same 403 as a refused address, so realms cannot be probed;
//  4. the tenant's allowlist: 403 Forbidden;
//  5. ACK and CANCEL pass (they cannot be challenged, RFC 3261 §22.1), as do
//     AllowlistOnlyMethods, in-dialog requests with PassInDialog, and
//     tenants with NoDigest;
//  6. digest: a REGISTER without a valid answer gets 401 with one
//     WWW-Authenticate per offered algorithm, other methods 407 with
//     Proxy-Authenticate. Either header is read on any method.
//
// Answers to digest outcomes:
//
//	no answer for the realm, non-Digest scheme      401/407 fresh challenge
//	wrong password or unknown user (identical)      401/407 fresh challenge, counts a failure
//	replayed nonce count                            401/407 fresh challenge, counts a failure
//	retransmission over UDP of a request accepted   passes again, Identity.Retransmission (for 32 s)
//	answer without qop (RFC 2069), by default       401/407 fresh challenge (Digest.AllowRFC2069)
//	a qop-less answer accepted before               401/407 fresh challenge, counts a failure
//	expired nonce with right credentials            401/407 with stale=true
//	nonce not issued here, other realm/algorithm    401/407 fresh challenge
//	nonce issued to another source address          401/407 fresh challenge (no failure counted)
//	malformed header, missing parameter, bad uri    400 Bad Request
//	webhook timeout or bad answer                   503 Service Unavailable (logged with the reason)
//	tenant lookup declined (ErrTenantBusy)          503 Service Unavailable, Retry-After: 5 (no failure counted)
//	credential store or tenant lookup failure       500 Server Internal Error
//
// ACK is never answered; a refused ACK is dropped, and so, before anything
// else, is the ACK of an answer the Guard sent (ErrStatelessACK). Wrap
// sends every answer statelessly (RespondStateless), and over UDP cuts
// challenges that would make an answer larger than
// GuardConfig.MaxAmplification times its request.
//
// The digest uri must be a sip: or sips: URI whose host is the
// Request-URI's host or the tenant's realm (case-insensitive; user part,
// port and parameters are not compared). HA2 is computed over the uri as
// the client wrote it. This accepts sipp, whose uri is always
// sip:REMOTE_IP:REMOTE_PORT, and refuses an answer computed for another
// server.
//
// A Guard is safe for concurrent use.
type Guard struct {
	tenants      TenantLookup
	realm        func(*sipgosip.Request) string
	digest       *DigestServer
	lock         *lockout
	passInDialog bool
	dialogs      DialogOwner
	onDecision   func(context.Context, *sipgosip.Request, Decision)
	amplify      float64
	tags         statelessTags
	seed         maphash.Seed // of request fingerprints
	defaultRealm bool         // realm is RequestURIHost (the fast path reads it)
	lastRealm    atomic.Pointer[string]
	methods      map[sipgosip.RequestMethod]bool
	webhook      *WebhookClient
	log          *slog.Logger
	quietInvites bool // GuardConfig.QuietInitialInvites
	now          func() time.Time
}

// NewGuard returns a Guard for cfg. A config that cannot work fails with
// ErrInvalidConfig.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	if cfg.Tenants == nil {
		return nil, fmt.Errorf("%w: GuardConfig.Tenants is required", ErrInvalidConfig)
	}
	g := &Guard{
		tenants:      cfg.Tenants,
		realm:        cfg.Realm,
		passInDialog: cfg.PassInDialog,
		dialogs:      cfg.Dialogs,
		onDecision:   cfg.OnDecision,
		amplify:      cfg.MaxAmplification,
		tags:         newStatelessTags(),
		seed:         maphash.MakeSeed(),
		methods:      map[sipgosip.RequestMethod]bool{},
		log:          cfg.Logger,
		quietInvites: cfg.QuietInitialInvites,
		now:          cfg.Now,
	}
	if g.realm == nil {
		g.realm, g.defaultRealm = RequestURIHost, true
	}
	if g.amplify == 0 {
		g.amplify = DefaultMaxAmplification
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	} else {
		g.log = slog.New(NewLogFilter(g.log.Handler(), cfg.LogFilter))
	}
	if g.now == nil {
		g.now = time.Now
	}
	if cfg.Digest.Now == nil {
		cfg.Digest.Now = g.now
	}
	d, err := NewDigestServer(cfg.Digest)
	if err != nil {
		return nil, err
	}
	g.digest = d
	for _, m := range cfg.AllowlistOnlyMethods {
		g.methods[m] = true
	}
	g.lock = newLockout(cfg.Lockout)
	wh := cfg.Webhook
	if wh.Logger == nil {
		wh.Logger = g.log
	}
	if wh.Now == nil {
		wh.Now = g.now
	}
	g.webhook = &wh
	return g, nil
}

// DigestServer returns the Guard's digest server.
func (g *Guard) DigestServer() *DigestServer { return g.digest }

// Blocked reports whether addr is blocked after repeated failures now.
func (g *Guard) Blocked(addr netip.Addr) bool { return g.lock.blocked(addr, g.now()) }

// DefaultMaxAmplification is GuardConfig.MaxAmplification's default.
const DefaultMaxAmplification = 1.5

// Wrap returns a Handler that checks each request and calls next with the
// caller's Identity in ctx (see IdentityFrom) when it passes; otherwise it
// sends the Guard's answer itself, statelessly (RespondStateless): once,
// never retransmitted, with no transaction state kept.
func (g *Guard) Wrap(next Handler) Handler {
	return func(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		id, res, err := g.Check(ctx, req)
		if err != nil {
			if res != nil && tx != nil {
				if rerr := RespondStateless(tx, res); rerr != nil {
					g.log.Warn("sending the guard's answer failed", "status", res.StatusCode, "error", rerr)
				}
			}
			return
		}
		next(ContextWithIdentity(ctx, id), req, tx)
	}
}

// Check applies the Guard to req. It returns the caller's Identity and a nil
// error when the request may pass; otherwise the error says why (matching
// the sentinels documented on Guard) and res is the answer to send (nil for
// ACK, which gets none; over UDP it is cut to GuardConfig.MaxAmplification).
// An answer to a request without a To tag
// carries a To tag of the Guard's, by which Check recognises its ACK and
// drops it (ErrStatelessACK) before any other check. GuardConfig.OnDecision,
// when set, is called with the outcome before Check returns.
func (g *Guard) Check(ctx context.Context, req *sipgosip.Request) (id Identity, res *sipgosip.Response, err error) {
	v := g.decide(ctx, req)
	if v.res != nil {
		g.tags.mark(req, v.res)
		if g.amplify > 0 && strings.EqualFold(req.Transport(), "UDP") {
			v.res = fitAmplification(req, v.res, g.amplify)
		}
	}
	if g.onDecision != nil {
		d := Decision{Identity: v.id, Err: v.err, Reason: v.reason, InitialInvite: initialInvite(req)}
		if v.res != nil {
			d.Code = v.res.StatusCode
		}
		g.onDecision(ctx, req, d)
	}
	return v.id, v.res, v.err
}

// verdict is what decide concluded about one request.
type verdict struct {
	id     Identity
	res    *sipgosip.Response // the answer; nil when passed, and for ACK
	err    error              // nil when passed
	reason string             // a Reason constant when refused
}

func (g *Guard) decide(ctx context.Context, req *sipgosip.Request) verdict {
	src := SourceOf(req)
	v := verdict{id: Identity{Source: src}}
	now := g.now()
	log := &reqLog{g: g, ctx: ctx, req: req, src: src, quiet: g.quietInvites && initialInvite(req)}

	if g.tags.ackOfOurs(req) {
		log.Debug("dropped: ACK of an answer sent statelessly")
		v.err, v.reason = ErrStatelessACK, ReasonStatelessACK
		return v
	}
	if g.lock.blocked(src.Addr(), now) {
		log.Debug("refused: source blocked after repeated failures")
		return v.refuse(req, sipgosip.StatusForbidden, "Forbidden", ReasonSourceBlocked, ErrSourceBlocked)
	}
	if g.dialogs != nil && inDialog(req) {
		owner, known := g.dialogs.DialogIdentity(req)
		if !known {
			// the owner answers 481 for a dialog it does not know
			log.Debug("in-dialog request for a dialog its owner does not know: passed on")
			v.id.PassedBy = PassedInDialog
			return v
		}
		return g.decideInDialog(ctx, req, v, owner, log)
	}
	realm := g.realm(req)
	tenant, ok := g.tenant(ctx, req, realm, connected(req), &v, log)
	if !ok {
		return v
	}
	if !tenant.Allowlist.Allows(src.Addr()) {
		log.Info("refused: source not on the tenant's allowlist")
		return v.refuse(req, sipgosip.StatusForbidden, "Forbidden", ReasonSourceNotAllowed, ErrSourceRefused)
	}

	switch {
	case req.IsAck() || req.IsCancel():
		v.id.PassedBy = PassedUnchallengeable
		return v
	case g.methods[req.Method]:
		v.id.PassedBy = PassedMethod
		return v
	case g.passInDialog && inDialog(req):
		v.id.PassedBy = PassedInDialog
		return v
	case tenant.NoDigest:
		v.id.PassedBy = PassedNoDigest
		return v
	}

	auth, retrans, ok := g.digestCheck(ctx, req, tenant, &v, log)
	if !ok {
		return v
	}
	v.id.User, v.id.Algorithm, v.id.PassedBy, v.id.Retransmission = auth.Username, algorithmOf(auth), PassedDigest, retrans
	log.Debug("authenticated")
	return v
}

// decideInDialog checks a request of a dialog its owner knows against the
// owner's tenant (GuardConfig.Dialogs).
func (g *Guard) decideInDialog(ctx context.Context, req *sipgosip.Request, v verdict, owner Identity, log *reqLog) verdict {
	src := v.id.Source
	sameSource := src.Addr() == owner.Source.Addr().Unmap().WithZone("")
	if req.Method == sipgosip.BYE && sameSource {
		// A dialog whose tenant is gone (its account deleted during the
		// call) may still be ended by its own peer, from the address of
		// its initial request; nothing else of it passes.
		if _, err := g.tenants.LookupTenant(ctx, owner.Realm); errors.Is(err, ErrUnknownTenant) {
			log.Info("in-dialog BYE of a dialog whose tenant is gone, from the dialog's source: passed", "realm", owner.Realm)
			passed := owner
			passed.Source, passed.PassedBy = src, PassedInDialog
			return verdict{id: passed}
		}
	}
	tenant, ok := g.tenant(ctx, req, owner.Realm, false, &v, log)
	if !ok {
		return v
	}
	if !tenant.Allowlist.Allows(src.Addr()) {
		log.Info("refused: in-dialog request from a source not on the dialog's tenant's allowlist")
		return v.refuse(req, sipgosip.StatusForbidden, "Forbidden", ReasonSourceNotAllowed, ErrSourceRefused)
	}
	passed := owner
	passed.Tenant, passed.Realm, passed.Source, passed.PassedBy = tenant.ID, tenant.Realm, src, PassedInDialog
	if owner.User == "" || sameSource {
		return verdict{id: passed}
	}
	// an authenticated dialog, reached from another address: the request
	// must prove it comes from the same user
	log.user = owner.User
	if req.IsAck() || req.IsCancel() {
		log.Info("refused: ACK or CANCEL from another address than its authenticated dialog's", "dialog_source", owner.Source.String())
		return v.refuse(req, sipgosip.StatusForbidden, "Forbidden", ReasonDialogSource, ErrDialogSource)
	}
	auth, retrans, ok := g.digestCheck(ctx, req, tenant, &v, log)
	if !ok {
		return v
	}
	passed.Retransmission = retrans
	if auth.Username != owner.User {
		log.Warn("refused: in-dialog request authenticated as another user than the dialog's", "dialog_user", owner.User)
		return v.refuse(req, sipgosip.StatusForbidden, "Forbidden", ReasonDialogUser, ErrDialogUser)
	}
	log.Debug("in-dialog request from another address authenticated as the dialog's user")
	return verdict{id: passed}
}

// connected reports whether req came over a connection (TCP, TLS,
// WebSocket), as the transport that received it says: its source address
// cannot be forged, unlike a datagram's.
func connected(req *sipgosip.Request) bool {
	switch strings.ToUpper(req.MessageData.Transport()) {
	case "TCP", "TLS", "WS", "WSS":
		return true
	}
	return false
}

// tenant looks up the tenant of realm into v (ID and realm of v.id); when
// that fails it fills v with the refusal and returns false. With
// countUnknown, an unknown realm counts as a failure of the request's
// source (Lockout).
func (g *Guard) tenant(ctx context.Context, req *sipgosip.Request, realm string, countUnknown bool, v *verdict, log *reqLog) (Tenant, bool) {
	tenant, err := g.tenants.LookupTenant(ctx, realm)
	if err != nil {
		if errors.Is(err, ErrUnknownTenant) {
			// Counted as a failure over a connection only: a source naming
			// realm after unknown realm (a scanner) is blocked before it
			// costs more lookups, which a store behind Tenants may answer
			// by reading. A datagram's source can be forged, and counting
			// it would let anyone block a customer's SBC with five
			// datagrams naming it; in-dialog requests of a dialog whose
			// tenant was deleted are an honest peer's and do not count.
			if countUnknown && g.lock.fail(SourceOf(req).Addr(), g.now()) {
				log.Warn("source blocked after repeated requests for unknown realms", "for", g.lock.block.String())
			}
			log.Info("refused: no tenant for realm", "realm", realm)
			*v = v.refuse(req, sipgosip.StatusForbidden, "Forbidden", ReasonUnknownRealm, err)
			return Tenant{}, false
		}
		if errors.Is(err, ErrTenantBusy) {
			log.Info("refused for now: tenant lookups over their budget", "realm", realm)
			*v = v.refuse(req, sipgosip.StatusServiceUnavailable, "Service Unavailable", ReasonUnavailable, err)
			if v.res != nil {
				v.res.AppendHeader(sipgosip.NewHeader("Retry-After", tenantBusyRetryAfter))
			}
			return Tenant{}, false
		}
		log.Error("tenant lookup failed", "realm", realm, "error", err)
		*v = v.refuse(req, sipgosip.StatusInternalServerError, "Server Internal Error", ReasonServerError, fmt.Errorf("sip: tenant lookup for %q: %w", realm, err))
		return Tenant{}, false
	}
	if tenant.Realm == "" {
		tenant.Realm = realm
	}
	v.id.Tenant, v.id.Realm = tenant.ID, tenant.Realm
	log.tenant = tenant.ID
	return tenant, true
}

// digestCheck finds and verifies the request's digest answer for tenant.
// When it is not a right answer it fills v with the refusal or challenge
// and returns false.
func (g *Guard) digestCheck(ctx context.Context, req *sipgosip.Request, tenant Tenant, v *verdict, log *reqLog) (auth Authorization, retrans, ok bool) {
	src := v.id.Source
	auth, err := g.findAnswer(req, tenant.Realm)
	if err != nil {
		if errors.Is(err, ErrNoCredentials) {
			log.Debug("challenged: no credentials for the realm", "realm", tenant.Realm)
			*v = v.challenge(g, req, tenant.Realm, false, ReasonCredentialsRequired, err)
			return auth, false, false
		}
		log.Info("bad request: malformed credentials", "error", err)
		*v = v.refuse(req, sipgosip.StatusBadRequest, "Bad Request", ReasonBadRequest, err)
		return auth, false, false
	}
	if log.user == "" {
		log.user = auth.Username
	}
	if err := checkDigestURI(req, auth.URI, tenant.Realm); err != nil {
		log.Info("bad request: digest uri", "uri", auth.URI, "error", err)
		*v = v.refuse(req, sipgosip.StatusBadRequest, "Bad Request", ReasonBadRequest, err)
		return auth, false, false
	}

	var check ResponseChecker // nil: the tenant's credentials
	creds := tenant.Credentials
	switch {
	case tenant.Webhook != nil:
		check = g.webhook.Checker(*tenant.Webhook, src, registerExpires(req), tenant.ID)
	case creds == nil:
		log.Warn("tenant has neither credentials nor a webhook; nobody can authenticate")
		creds = Users{}
	}
	retrans, err = g.digest.verify(ctx, string(req.Method), tenant.Realm, src.Addr(), auth, check, creds, g.fingerprint(req, src, auth.Response))
	switch {
	case err == nil:
		return auth, retrans, true
	case errors.Is(err, ErrStaleNonce):
		log.Debug("challenged: stale nonce", "reason", err.Error())
		*v = v.challenge(g, req, tenant.Realm, true, ReasonStaleNonce, err)
	case errors.Is(err, ErrBadCredentials), errors.Is(err, ErrReplay):
		if g.lock.fail(src.Addr(), g.now()) {
			log.Warn("source blocked after repeated authentication failures", "for", g.lock.block.String())
		}
		log.Info("authentication failed", "reason", err.Error(), "answer", auth.summary())
		reason := ReasonBadCredentials
		if errors.Is(err, ErrReplay) {
			reason = ReasonNonceReplay
		}
		*v = v.challenge(g, req, tenant.Realm, false, reason, err)
	case errors.Is(err, ErrMissingParam):
		log.Info("bad request: incomplete credentials", "reason", err.Error())
		*v = v.refuse(req, sipgosip.StatusBadRequest, "Bad Request", ReasonBadRequest, err)
	case errors.Is(err, ErrUnsupported), errors.Is(err, ErrRealmMismatch), errors.Is(err, ErrBadNonce):
		log.Debug("challenged: answer not acceptable", "reason", err.Error())
		*v = v.challenge(g, req, tenant.Realm, false, ReasonCredentialsNotForUs, err)
	case errors.Is(err, ErrWebhookFailed):
		// the webhook client logged why
		*v = v.refuse(req, sipgosip.StatusServiceUnavailable, "Service Unavailable", ReasonUnavailable, err)
	default:
		log.Error("credential check failed", "error", err)
		*v = v.refuse(req, sipgosip.StatusInternalServerError, "Server Internal Error", ReasonServerError, err)
	}
	return auth, false, false
}

// refuse returns v refused with code (no answer to an ACK).
func (v verdict) refuse(req *sipgosip.Request, code int, text, reason string, err error) verdict {
	v.err, v.reason = err, reason
	if !req.IsAck() {
		v.res = sipgosip.NewResponseFromRequest(req, code, text, nil)
	}
	return v
}

// challenge returns v refused with a 401 or 407 challenge.
func (v verdict) challenge(g *Guard, req *sipgosip.Request, realm string, stale bool, reason string, err error) verdict {
	v.err, v.reason = err, reason
	v.res = g.challenge(req, v.id.Source.Addr(), realm, stale)
	return v
}

// reqLog logs a line about one request with its common attributes, built
// only when the level is enabled (a Guard on a busy server should not pay
// for Debug lines nobody reads). It lives on Check's stack for one request;
// ctx is that request's, never kept beyond the call.
type reqLog struct {
	g      *Guard
	ctx    context.Context
	req    *sipgosip.Request
	src    netip.AddrPort
	tenant string
	user   string
	quiet  bool // Info lines at Debug (GuardConfig.QuietInitialInvites)
}

func (l *reqLog) log(level slog.Level, msg string, args ...any) {
	if !l.g.log.Enabled(l.ctx, level) {
		return
	}
	attrs := make([]any, 0, 10+len(args))
	attrs = append(attrs, "method", string(l.req.Method), "source", l.src.String(), "call_id", callID(l.req))
	if l.tenant != "" {
		attrs = append(attrs, "tenant", l.tenant)
	}
	if l.user != "" {
		attrs = append(attrs, "username", l.user)
	}
	l.g.log.Log(l.ctx, level, msg, append(attrs, args...)...)
}

func (l *reqLog) Debug(msg string, args ...any) { l.log(slog.LevelDebug, msg, args...) }
func (l *reqLog) Info(msg string, args ...any) {
	if l.quiet {
		l.log(slog.LevelDebug, msg, args...)
		return
	}
	l.log(slog.LevelInfo, msg, args...)
}
func (l *reqLog) Warn(msg string, args ...any)  { l.log(slog.LevelWarn, msg, args...) }
func (l *reqLog) Error(msg string, args ...any) { l.log(slog.LevelError, msg, args...) }

// challenge builds 401 (REGISTER) or 407 (other methods) with one header
// per offered algorithm, their nonce bound to source (the address the
// answer goes to), so only answers from there can count as its failures.
func (g *Guard) challenge(req *sipgosip.Request, source netip.Addr, realm string, stale bool) *sipgosip.Response {
	code, reason, header := sipgosip.StatusProxyAuthRequired, "Proxy Authentication Required", "Proxy-Authenticate"
	if req.Method == sipgosip.REGISTER {
		code, reason, header = sipgosip.StatusUnauthorized, "Unauthorized", "WWW-Authenticate"
	}
	res := sipgosip.NewResponseFromRequest(req, code, reason, nil)
	var nonce [nonceEncodedLen]byte
	g.digest.appendNonce(nonce[:0], realm, source)
	var buf [256]byte
	for _, alg := range g.digest.algs {
		res.AppendHeader(sipgosip.NewHeader(header, string(appendChallenge(buf[:0], realm, nonce[:], stale, alg))))
	}
	return res
}

// appendChallenge appends the value of a challenge for realm with nonce
// and alg, qop="auth": what Challenge.String writes for the challenges of
// DigestServer.ChallengesFor.
func appendChallenge(b []byte, realm string, nonce []byte, stale bool, alg Algorithm) []byte {
	b = append(b, `Digest realm="`...)
	for i := 0; i < len(realm); i++ {
		if c := realm[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, realm[i])
	}
	b = append(b, `", nonce="`...)
	b = append(b, nonce...)
	b = append(b, '"')
	if stale {
		b = append(b, ", stale=true"...)
	}
	b = append(b, ", algorithm="...)
	b = append(b, alg...)
	return append(b, `, qop="auth"`...)
}

// findAnswer returns the Digest answer for realm among the request's
// Authorization and Proxy-Authorization headers (the one a challenge of
// this method would ask for first). A malformed Digest header is an
// error; other schemes are skipped.
func (g *Guard) findAnswer(req *sipgosip.Request, realm string) (Authorization, error) {
	names := [2]string{"Proxy-Authorization", "Authorization"}
	if req.Method == sipgosip.REGISTER {
		names[0], names[1] = names[1], names[0]
	}
	hs := req.Headers()
	for _, name := range names {
		// by hand: sipgo's GetHeaders lower-cases the name, allocating for
		// "proxy-authorization"
		for _, h := range hs {
			if !strings.EqualFold(h.Name(), name) {
				continue
			}
			a, err := ParseAuthorization(h.Value())
			switch {
			case errors.Is(err, ErrNotDigest):
				continue
			case err != nil:
				return Authorization{}, fmt.Errorf("%s: %w", name, err)
			case a.Realm == realm:
				return a, nil
			}
		}
	}
	return Authorization{}, ErrNoCredentials
}

// maxDigestURILen bounds the digest uri accepted.
const maxDigestURILen = 1024

func checkDigestURI(req *sipgosip.Request, uri, realm string) error {
	if len(uri) > maxDigestURILen {
		return fmt.Errorf("%w: %d bytes long", ErrDigestURI, len(uri))
	}
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok || (!strings.EqualFold(scheme, "sip") && !strings.EqualFold(scheme, "sips")) {
		return fmt.Errorf("%w: %q is not a sip: or sips: URI", ErrDigestURI, clip(uri))
	}
	host, ok := digestURIHost(uri)
	if !ok {
		return fmt.Errorf("%w: %q does not parse as a SIP URI", ErrDigestURI, clip(uri))
	}
	if strings.EqualFold(host, strings.Trim(req.Recipient.Host, "[]")) || strings.EqualFold(host, realm) {
		return nil
	}
	return fmt.Errorf("%w: host %q is neither the Request-URI host %q nor the realm %q", ErrDigestURI, clip(host), req.Recipient.Host, realm)
}

// digestURIHost returns the host of a sip: or sips: URI as sipgo's URI
// parser reads it (the user part ends at the first '@'; brackets of an
// IPv6 reference removed), without allocating; ok is false when there is
// none, or when it holds characters no host has (where sipgo would read
// one, FuzzDigestURIHost checks that the two agree).
func digestURIHost(uri string) (host string, ok bool) {
	_, rest, _ := strings.Cut(uri, ":")
	rest = strings.TrimPrefix(rest, "//")
	at, bracket := strings.IndexByte(rest, '@'), strings.IndexByte(rest, '[')
	if bracket >= 0 && bracket != 0 && bracket != at+1 {
		return "", false // sipgo starts an IPv6 reference at any '['
	}
	if at >= 0 && (bracket < 0 || at < bracket) {
		rest = rest[at+1:]
	}
	if i := strings.IndexByte(rest, '['); i == 0 {
		close := strings.IndexByte(rest, ']')
		if close < 0 {
			return "", false
		}
		host, rest = rest[1:close], rest[close+1:]
	} else {
		end := len(rest)
		if i := strings.IndexAny(rest, ":;?["); i >= 0 {
			end = i
		}
		host, rest = rest[:end], rest[end:]
		if strings.HasPrefix(rest, "[") {
			return "", false // sipgo reads an IPv6 reference here, and fails
		}
	}
	if host == "" {
		return "", false
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("@<>\"/[]?;", c) >= 0 {
			return "", false
		}
	}
	if strings.HasPrefix(rest, ":") {
		end := len(rest)
		if i := strings.IndexAny(rest, ";?"); i >= 0 {
			end = i
		}
		if _, err := strconv.ParseUint(rest[1:end], 10, 16); err != nil {
			return "", false
		}
	}
	return host, true
}

// fingerprint identifies req's transaction and digest answer, for
// telling a retransmission from a replay (Identity.Retransmission): its
// Call-ID, CSeq, top Via branch, source and digest response, hashed with
// the Guard's random seed; never 0. Over a reliable transport (TCP, TLS)
// a client never retransmits (RFC 3261 §17.1.2.2): the fingerprint is 0,
// and any repeat is a replay. The transport is the one that received req
// (connected), never the Via header's, which the sender writes.
func (g *Guard) fingerprint(req *sipgosip.Request, src netip.AddrPort, response string) uint64 {
	if connected(req) {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(g.seed)
	if c := req.CallID(); c != nil {
		h.WriteString(string(*c))
	}
	h.WriteByte(0)
	if c := req.CSeq(); c != nil {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], c.SeqNo)
		h.Write(n[:])
		h.WriteString(string(c.MethodName))
	}
	h.WriteByte(0)
	if v := req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		h.WriteString(b)
	}
	h.WriteByte(0)
	a := src.Addr().As16()
	h.Write(a[:])
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], src.Port())
	h.Write(p[:])
	h.WriteString(strings.ToLower(response))
	if sum := h.Sum64(); sum != 0 {
		return sum
	}
	return 1
}

func algorithmOf(a Authorization) Algorithm {
	if alg, err := ParseAlgorithm(a.Algorithm); err == nil {
		return alg
	}
	return MD5
}

// inDialog reports whether req is sent inside a dialog: a To tag, and not a
// REGISTER (which never is).
func inDialog(req *sipgosip.Request) bool {
	if req.Method == sipgosip.REGISTER {
		return false
	}
	to := req.To()
	return to != nil && to.Params.Has("tag")
}

func callID(req *sipgosip.Request) string {
	if c := req.CallID(); c != nil {
		return c.Value()
	}
	return ""
}

// registerExpires returns the expiry a REGISTER asks for: its Expires
// header, else the first Contact's expires parameter; nil otherwise.
func registerExpires(req *sipgosip.Request) *int {
	if req.Method != sipgosip.REGISTER {
		return nil
	}
	if h := req.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n >= 0 {
			return &n
		}
	}
	if c := req.Contact(); c != nil {
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return &n
			}
		}
	}
	return nil
}
