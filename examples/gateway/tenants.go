package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/tenancy"
)

// tenantCacheTTL is how long a realm's tenant is reused before the store is
// asked again: every SIP request passes the Guard, so a call's INVITE, ACK
// and BYE need one lookup, not three; an operator's change to an account
// takes effect within this time.
const tenantCacheTTL = 5 * time.Second

// tenantLookup is the sip.TenantLookup of the gateway: the account whose
// SIP realm is the request's realm (the Request-URI host, sip.RequestURIHost),
// or the default account for requests addressed to anything else (such as the
// gateway's IP address). The tenant ID is the account SID.
type tenantLookup struct {
	tenants *tenancy.Store
	log     *slog.Logger
	now     func() time.Time

	mu             sync.Mutex
	defaultAccount tenancy.SID // "" for none
	cache          map[string]cachedTenant
}

type cachedTenant struct {
	tenant  sip.Tenant
	err     error
	fetched time.Time
}

func newTenantLookup(tenants *tenancy.Store, defaultAccount tenancy.SID, log *slog.Logger) *tenantLookup {
	return &tenantLookup{tenants: tenants, log: log, now: time.Now, defaultAccount: defaultAccount, cache: map[string]cachedTenant{}}
}

// LookupTenant implements sip.TenantLookup.
func (l *tenantLookup) LookupTenant(ctx context.Context, realm string) (sip.Tenant, error) {
	now := l.now()
	l.mu.Lock()
	c, ok := l.cache[realm]
	def := l.defaultAccount
	l.mu.Unlock()
	if ok && now.Sub(c.fetched) < tenantCacheTTL {
		return c.tenant, c.err
	}
	t, err := l.lookup(ctx, realm, def)
	if err != nil && !errors.Is(err, sip.ErrUnknownTenant) {
		return sip.Tenant{}, err // a store failure: not cached, the Guard answers 500
	}
	l.mu.Lock()
	if len(l.cache) > 10000 {
		clear(l.cache) // realms probed at random must not grow it without bound
	}
	l.cache[realm] = cachedTenant{tenant: t, err: err, fetched: now}
	l.mu.Unlock()
	return t, err
}

func (l *tenantLookup) lookup(ctx context.Context, realm string, def tenancy.SID) (sip.Tenant, error) {
	acct, err := l.tenants.AccountByRealm(ctx, realm)
	if errors.Is(err, tenancy.ErrNotFound) && def != "" {
		acct, err = l.tenants.Account(ctx, def)
	}
	switch {
	case errors.Is(err, tenancy.ErrNotFound):
		return sip.Tenant{}, fmt.Errorf("realm %q: %w", realm, sip.ErrUnknownTenant)
	case err != nil:
		return sip.Tenant{}, err
	}
	return l.tenantOf(acct), nil
}

// tenantOf turns an account into what the Guard needs. An allowlist that
// does not parse refuses everybody (it never falls back to "allow all").
func (l *tenantLookup) tenantOf(acct *tenancy.Account) sip.Tenant {
	realm := acct.DigestRealm() // the realm of the stored digests
	t := sip.Tenant{ID: string(acct.SID), Realm: realm, Credentials: sipUsers(acct.SIP.Users)}
	al, err := sip.ParseAllowlistEntries(acct.SIP.Allowlist)
	if err != nil {
		l.log.Error("account allowlist does not parse: refusing every request of the account", "account", acct.Name, "error", err)
		al = sip.DenyAll()
	}
	t.Allowlist = al
	return t
}

// sipUsers is the account's users as a sip.CredentialSource: the stores
// keep their digests (HA1) for the account's digest realm, never the
// passwords.
type sipUsers []tenancy.SIPUser

// Credential implements sip.CredentialSource.
func (u sipUsers) Credential(_ context.Context, _, username string) (sip.Credential, error) {
	for _, x := range u {
		if x.Username == username {
			return sip.Credential{HA1: map[sip.Algorithm]sip.Secret{
				sip.MD5: x.HA1.MD5, sip.SHA256: x.HA1.SHA256, sip.SHA512256: x.HA1.SHA512256}}, nil
		}
	}
	return sip.Credential{}, sip.ErrUnknownUser
}
