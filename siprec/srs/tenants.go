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
// it without bound. Realms no account has are kept apart (misses), so a
// peer naming random realms — before it authenticates, over UDP, where
// the Guard does not count it — fills and clears only those, never
// evicting the realms of accounts, whose calls would then read the store.
const maxCachedRealms = 10000

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
	return c
}

// SetDefault changes the default account ("" for none) and forgets every
// realm looked up.
func (c *TenantCache) SetDefault(sid tenancy.SID) {
	c.mu.Lock()
	c.def = sid
	c.gen++
	clear(c.realms)
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
	}
	clear(c.realms)
	clear(c.misses)
	c.mu.Unlock()
}

// InvalidateAll forgets everything read.
func (c *TenantCache) InvalidateAll() {
	c.mu.Lock()
	c.gen++
	clear(c.realms)
	clear(c.misses)
	clear(c.accounts)
	c.mu.Unlock()
}

func (c *TenantCache) fresh(t time.Time) bool { return c.ttl > 0 && c.now().Sub(t) < c.ttl }

// LookupTenant implements sip.TenantLookup. A store failure is returned
// as it is (the Guard answers 500) and not cached.
func (c *TenantCache) LookupTenant(ctx context.Context, realm string) (sip.Tenant, error) {
	c.mu.Lock()
	ct, ok := c.realms[realm]
	if !ok {
		ct, ok = c.misses[realm]
	}
	def, gen := c.def, c.gen
	c.mu.Unlock()
	if ok && c.fresh(ct.fetched) {
		return ct.tenant, ct.err
	}
	now := c.now()
	acct, err := c.store.AccountByRealm(ctx, realm)
	if errors.Is(err, tenancy.ErrNotFound) && def != "" {
		acct, err = c.store.Account(ctx, def)
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
		m := c.realms
		if ct.err != nil {
			m = c.misses
		}
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
