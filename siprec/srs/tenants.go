package srs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/tenancy"
)

// DefaultTenantCacheTTL is how long a TenantCache reuses what it read when
// TenantCacheOptions.TTL is 0.
const DefaultTenantCacheTTL = 5 * time.Second

// maxCachedRealms bounds the cache: realms probed at random must not grow
// it without bound. Realms no account has are kept apart (misses; with a
// default account too, though they are then served), so a peer naming
// random realms — before it authenticates, over UDP, where the Guard does
// not count it — fills and clears only those, never evicting the realms
// of accounts, whose calls would then read the store.
const maxCachedRealms = 10000

// DefaultTenantLookupRate is TenantCacheOptions.LookupRate when it is 0:
// store reads per second for realms the cache does not hold.
const DefaultTenantLookupRate = 100

// TenantCache is the bridge from package tenancy to the sip.Guard: a
// sip.TenantLookup whose tenant is the account whose SIP realm is the
// request's realm (the Request-URI host, sip.RequestURIHost), or a default
// account for requests addressed to anything else (such as the gateway's IP
// address). The tenant ID is the account SID; the tenant's allowlist and
// digest users are the account's.
//
// Every SIP request passes the Guard, so a call's INVITE, ACK and BYE need
// one store read, not three: what was read is reused for TTL. A program that
// changes accounts while running (an admin API) calls Invalidate or
// InvalidateAll after each change, so the change takes effect at once; the
// TTL only bounds how long a change made elsewhere (another process sharing
// the store) takes.
//
// It also keeps the accounts it read by SID (Account), which the Server's
// admission and AccountBuckets use, so a call reads its account once.
type TenantCache struct {
	store *tenancy.Store
	ttl   time.Duration
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	def      tenancy.SID
	realms   map[string]cachedTenant // realms of accounts
	misses   map[string]cachedTenant // realms of no account (err set)
	accounts map[tenancy.SID]cachedAccount
	gen      uint64 // bumped by every invalidation: a read that started before is not cached

	// the budget of store reads for realms not held (LookupRate): a token
	// bucket of rate per second holding up to burst, full at the start
	rate, burst, tokens float64
	filled              time.Time
	declined            uint64
	// changed are the accounts invalidated since (their realm may be new
	// to the cache), reloadAll says InvalidateAll was called: with the
	// budget spent, a lookup reads those accounts — changes made through
	// the admin API or notified by another gateway, never what a peer
	// names — rather than decline a realm one of them may hold.
	changed   map[tenancy.SID]struct{}
	reloadAll bool
}

type cachedTenant struct {
	tenant  sip.Tenant
	sid     tenancy.SID
	err     error
	fetched time.Time
}

type cachedAccount struct {
	acct    *tenancy.Account
	fetched time.Time
}

// TenantCacheOptions configure a TenantCache; nil or the zero value works.
type TenantCacheOptions struct {
	// Default is the account serving requests whose realm is no account's.
	// Default "": such requests are refused (sip.ErrUnknownTenant, 403).
	Default tenancy.SID
	// TTL is how long a lookup is reused. Default DefaultTenantCacheTTL;
	// negative: never reused (every request reads the store).
	TTL time.Duration
	// Logger receives accounts whose stored allowlist does not parse; nil
	// discards.
	Logger *slog.Logger
	// LookupRate bounds the store reads for realms the cache does not
	// hold — a realm not seen before, or one of no account whose entry is
	// older than TTL — to this many per second, in bursts of up to as many
	// (at least one). A peer naming random realms over UDP, whose source
	// the Guard cannot block, would otherwise cost a store read per
	// datagram — on a database that every gateway shares. Past the
	// budget LookupTenant does not read: a realm it read before that no
	// account had gets what it got then (refused, or served by the
	// default account) until the budget allows a read, and a realm never
	// seen is declined (sip.ErrTenantBusy: the Guard answers 503 with
	// Retry-After). The realms of accounts read before are refreshed
	// without counting, also after an Invalidate, which (a change made
	// through the admin API, or one another gateway notified) takes
	// effect at once as before; with the budget spent, the accounts
	// invalidated since (a new account, a changed realm) are read rather
	// than a realm one of them may hold declined. What it costs: an
	// account added to the store without an Invalidate (another process,
	// no notification) waits for the budget or its TTL. Every account is
	// read when the Server starts (Preload). Default
	// DefaultTenantLookupRate (100); negative: no budget.
	LookupRate float64
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// NewTenantCache returns a TenantCache over store.
func NewTenantCache(store *tenancy.Store, opts *TenantCacheOptions) *TenantCache {
	var o TenantCacheOptions
	if opts != nil {
		o = *opts
	}
	c := &TenantCache{store: store, ttl: o.TTL, log: o.Logger, now: o.Now, def: o.Default,
		realms: map[string]cachedTenant{}, misses: map[string]cachedTenant{}, accounts: map[tenancy.SID]cachedAccount{}}
	if c.ttl == 0 {
		c.ttl = DefaultTenantCacheTTL
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	switch {
	case o.LookupRate == 0:
		c.rate = DefaultTenantLookupRate
	case o.LookupRate > 0:
		c.rate = o.LookupRate
	}
	c.burst = max(c.rate, 1)
	c.tokens = c.burst
	return c
}

// Preload reads every account once and keeps their realms (TTL applies),
// so that a realm of an account is never a realm the cache does not hold:
// with the budget of LookupRate spent by a peer naming random realms, the
// first request of an account after the start is served, not declined.
// srs.Server calls it as it starts serving; an error leaves the cache as
// it was (accounts are then read on demand).
func (c *TenantCache) Preload(ctx context.Context) error {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	now := c.now()
	accts, err := c.store.Accounts(ctx, "")
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil // invalidated meanwhile: what was read may be old
	}
	c.keep(accts, now)
	return nil
}

// keep caches accts and their realms, read at now, within the cache's
// bound; c.mu is held.
func (c *TenantCache) keep(accts []*tenancy.Account, now time.Time) {
	for _, a := range accts {
		if realm := tenancy.CanonicalRealm(a.SIPRealm); realm != "" && len(c.realms) < maxCachedRealms {
			c.realms[realm] = cachedTenant{tenant: c.tenantOf(a), sid: a.SID, fetched: now}
			c.accounts[a.SID] = cachedAccount{acct: a, fetched: now}
		}
	}
}

// learnChanged reads the accounts invalidated since the last time (every
// account after InvalidateAll) and keeps their realms; c.mu is held, and
// released during the reads. Failures leave those accounts to be read on
// demand.
func (c *TenantCache) learnChanged(ctx context.Context) {
	sids, all := c.changed, c.reloadAll
	c.changed, c.reloadAll = nil, false
	c.mu.Unlock()
	if all {
		_ = c.Preload(ctx)
		c.mu.Lock()
		return
	}
	now := c.now()
	accts := make([]*tenancy.Account, 0, len(sids))
	for sid := range sids {
		if a, err := c.store.Account(ctx, sid); err == nil {
			accts = append(accts, a)
		}
	}
	c.mu.Lock()
	c.keep(accts, now)
}

// LookupsDeclined returns how many lookups the cache declined since it was
// made (TenantCacheOptions.LookupRate).
func (c *TenantCache) LookupsDeclined() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.declined
}

// spend takes one store read from the budget, reporting false (and
// counting it) when none is left; c.mu is held.
func (c *TenantCache) spend(now time.Time) bool {
	if c.rate == 0 {
		return true
	}
	if !c.filled.IsZero() {
		if d := now.Sub(c.filled); d > 0 {
			c.tokens = min(c.burst, c.tokens+d.Seconds()*c.rate)
		}
	}
	c.filled = now
	if c.tokens < 1 {
		c.declined++
		return false
	}
	c.tokens--
	return true
}

// SetDefault changes the default account ("" for none) and forgets every
// realm looked up.
func (c *TenantCache) SetDefault(sid tenancy.SID) {
	c.mu.Lock()
	c.def = sid
	c.gen++
	c.staleRealms()
	clear(c.misses)
	c.mu.Unlock()
}

// Invalidate forgets what was read of the accounts sids (and every realm,
// since a changed realm may now belong to another account): the next
// request reads them again. Call it after changing an account.
func (c *TenantCache) Invalidate(sids ...tenancy.SID) {
	c.mu.Lock()
	c.gen++
	for _, sid := range sids {
		delete(c.accounts, sid)
		if c.changed == nil {
			c.changed = map[tenancy.SID]struct{}{}
		}
		if len(c.changed) < maxCachedRealms {
			c.changed[sid] = struct{}{}
		} else {
			c.reloadAll = true
		}
	}
	c.staleRealms()
	clear(c.misses)
	c.mu.Unlock()
}

// staleRealms marks every realm of an account read before as to be read
// again: the next request for it reads the store, outside the budget of
// LookupRate, which only new realms spend; c.mu is held.
func (c *TenantCache) staleRealms() {
	for realm, ct := range c.realms {
		ct.fetched = time.Time{}
		c.realms[realm] = ct
	}
}

// InvalidateAll forgets everything read.
func (c *TenantCache) InvalidateAll() {
	c.mu.Lock()
	c.gen++
	c.staleRealms()
	clear(c.misses)
	clear(c.accounts)
	c.reloadAll = true
	c.mu.Unlock()
}

func (c *TenantCache) fresh(t time.Time) bool { return c.ttl > 0 && c.now().Sub(t) < c.ttl }

// LookupTenant implements sip.TenantLookup. A store failure is returned
// as it is (the Guard answers 500) and not cached.
func (c *TenantCache) LookupTenant(ctx context.Context, realm string) (sip.Tenant, error) {
	// the key is the realm as the store compares it: spellings of one
	// realm (case, spaces, a trailing dot) are one entry, not one each
	realm = tenancy.CanonicalRealm(realm)
	c.mu.Lock()
	ct, known := c.realms[realm]
	ok := known
	if !ok {
		ct, ok = c.misses[realm]
	}
	def, gen := c.def, c.gen
	if ok && c.fresh(ct.fetched) {
		c.mu.Unlock()
		return ct.tenant, ct.err
	}
	now := c.now()
	if !known && !c.spend(now) {
		if !ok && (len(c.changed) > 0 || c.reloadAll) {
			// accounts changed since: one of them may hold realm
			c.learnChanged(ctx)
			if ct, known = c.realms[realm]; known {
				c.mu.Unlock()
				return ct.tenant, nil
			}
		}
		c.mu.Unlock()
		if ok {
			// a realm of no account read before: what it was then
			return ct.tenant, ct.err
		}
		return sip.Tenant{}, fmt.Errorf("realm %q: %w", realm, sip.ErrTenantBusy)
	}
	c.mu.Unlock()
	acct, err := c.store.AccountByRealm(ctx, realm)
	// an account's realm only under the account's own spelling
	byRealm := err == nil && tenancy.CanonicalRealm(acct.SIPRealm) == realm
	if errors.Is(err, tenancy.ErrNotFound) && def != "" {
		acct, err = c.Account(ctx, def) // read within the TTL already, mostly
	}
	switch {
	case errors.Is(err, tenancy.ErrNotFound):
		ct = cachedTenant{err: fmt.Errorf("realm %q: %w", realm, sip.ErrUnknownTenant), fetched: now}
	case err != nil:
		return sip.Tenant{}, err
	default:
		ct = cachedTenant{tenant: c.tenantOf(acct), sid: acct.SID, fetched: now}
	}
	c.mu.Lock()
	if c.gen == gen {
		m, other := c.realms, c.misses
		if !byRealm {
			m, other = c.misses, c.realms
		}
		delete(other, realm)
		if len(m) >= maxCachedRealms {
			clear(m)
		}
		m[realm] = ct
		if acct != nil {
			c.accounts[acct.SID] = cachedAccount{acct: acct, fetched: now}
		}
	}
	c.mu.Unlock()
	return ct.tenant, ct.err
}

// Account returns the account sid: the one read within the TTL, else the
// store's. Treat it as read-only (Clone it to change it).
func (c *TenantCache) Account(ctx context.Context, sid tenancy.SID) (*tenancy.Account, error) {
	c.mu.Lock()
	ca, ok := c.accounts[sid]
	gen := c.gen
	c.mu.Unlock()
	if ok && c.fresh(ca.fetched) {
		return ca.acct, nil
	}
	now := c.now()
	acct, err := c.store.Account(ctx, sid)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.accounts) >= maxCachedRealms {
			clear(c.accounts)
		}
		c.accounts[sid] = cachedAccount{acct: acct, fetched: now}
	}
	c.mu.Unlock()
	return acct, nil
}

// cachedName is the name of account sid as the cache holds it, stale or
// not, without reading the store; "" when it holds none.
func (c *TenantCache) cachedName(sid tenancy.SID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ca, ok := c.accounts[sid]; ok {
		return ca.acct.Name
	}
	return ""
}

// ServiceProvider returns the service provider of the account (its SID):
// the TenantCache is an insights.AccountResolver, so the Insights API of the
// same program learns which accounts a service provider's key reaches from
// the accounts the cache keeps. A missing account matches
// insights.ErrNotFound and tenancy.ErrNotFound.
func (c *TenantCache) ServiceProvider(ctx context.Context, account string) (string, error) {
	a, err := c.Account(ctx, tenancy.SID(account))
	if errors.Is(err, tenancy.ErrNotFound) {
		return "", fmt.Errorf("%w: %w", insights.ErrNotFound, err)
	}
	if err != nil {
		return "", err
	}
	return a.ServiceProvider, nil
}

// tenantOf turns an account into what the Guard needs. An allowlist that
// does not parse refuses everybody (it never falls back to "allow all").
func (c *TenantCache) tenantOf(acct *tenancy.Account) sip.Tenant {
	realm := acct.DigestRealm() // the realm of the stored digests
	t := sip.Tenant{ID: string(acct.SID), Realm: realm, Credentials: sipUsers(acct.SIP.Users)}
	al, err := sip.ParseAllowlistEntries(acct.SIP.Allowlist)
	if err != nil {
		c.log.Error("account allowlist does not parse: refusing every request of the account",
			"account", acct.SID, "account_name", acct.Name, "error", err)
		al = sip.DenyAll()
	}
	t.Allowlist = al
	return t
}

// sipUsers is an account's SIP users as a sip.CredentialSource: the
// stores keep their digests (HA1) for the account's digest realm, never the
// passwords.
type sipUsers []tenancy.SIPUser

// Credential implements sip.CredentialSource.
func (u sipUsers) Credential(_ context.Context, _, username string) (sip.Credential, error) {
	for _, x := range u {
		if x.Username == username {
			return sip.Credential{HA1: map[sip.Algorithm]secret.String{
				sip.MD5: x.HA1.MD5, sip.SHA256: x.HA1.SHA256, sip.SHA512256: x.HA1.SHA512256}}, nil
		}
	}
	return sip.Credential{}, sip.ErrUnknownUser
}
