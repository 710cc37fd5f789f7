package admin

import (
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
)

// CreateAPIKeyRequest is the body of POST /api-keys. The owner defaults to
// the caller's own tenant: its account, its service provider, or (for an
// Admin) the platform.
type CreateAPIKeyRequest struct {
	// Name is required and unique among the owner's keys.
	Name string `json:"name"`
	// ServiceType decides the key's privileges (GET /api-key-service-types);
	// the caller must hold all of them.
	ServiceType string `json:"service_type"`
	// Scope, ServiceProvider and AccountSID name the owner; an account
	// key names its account, a service provider key its provider, an
	// admin key neither. A key is never broader than its creator.
	Scope           rbac.Scope `json:"scope,omitzero"`
	ServiceProvider string     `json:"service_provider,omitempty"`
	AccountSID      string     `json:"account_sid,omitempty"`
	// ValidUntil is the expiry (RFC 3339); omitted for the store's default.
	ValidUntil time.Time `json:"valid_until,omitzero"`
}

// CreatedAPIKey is the answer to creating an API key: the key as listed, and
// its secret in plain form, which is shown this once and never again.
type CreatedAPIKey struct {
	rbac.APIKey
	Secret string `json:"secret"`
}

// ServiceType is one service type an API key may be created with, and the
// privileges it grants.
type ServiceType struct {
	Name       string          `json:"name"`
	Privileges rbac.Privileges `json:"privileges"`
}

// Me is the answer of GET /me: who the caller is and what it may do.
type Me struct {
	Subject         string          `json:"subject"`
	Email           string          `json:"email,omitempty"`
	KeyID           string          `json:"key_id,omitempty"`
	Scope           rbac.Scope      `json:"scope"`
	ServiceProvider string          `json:"service_provider,omitempty"`
	AccountSID      string          `json:"account_sid,omitempty"`
	Privileges      rbac.Privileges `json:"privileges"`
}

func (h *Handler) me(rc *reqCtx) {
	rc.respond(http.StatusOK, 0, Me{Subject: rc.p.Subject, Email: rc.caller.Email, KeyID: rc.caller.KeyID, Scope: rc.p.Scope,
		ServiceProvider: rc.p.ServiceProvider, AccountSID: rc.p.Account, Privileges: rc.p.Privileges})
}

func (h *Handler) serviceTypes(rc *reqCtx) {
	out := List[ServiceType]{Items: []ServiceType{}}
	for _, name := range h.cfg.Keys.ServiceTypes() {
		// The privileges a key of this type holds.
		p, _ := h.cfg.Keys.ServiceTypePrivileges(name)
		out.Items = append(out.Items, ServiceType{Name: name, Privileges: p})
	}
	rc.respond(http.StatusOK, 0, out)
}

// owner is whose keys, members or roles a request is about.
type owner struct {
	scope  rbac.Scope
	sp     string
	acct   *tenancy.Account // for account scope, when it exists
	sid    string
	target rbac.Target
}

// resolveOwner finds the owner named by scope, service provider and account
// (the caller's own tenant when none is named). Something named that does
// not exist or lies outside the caller's reach is answered 404 for a query
// (inQuery) and 422 naming the field for a body, alike.
func (rc *reqCtx) resolveOwner(scope rbac.Scope, sp, account string, inQuery bool) (owner, bool) {
	missing := func(field, what string) (owner, bool) {
		if inQuery {
			rc.notFound(what)
		} else {
			rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "the request has invalid fields",
				FieldProblem{Field: field, Value: map[string]string{"account_sid": account, "service_provider": sp}[field], Detail: "no such " + what}), nil)
		}
		return owner{}, false
	}
	mismatch := func() (owner, bool) {
		field := "scope"
		if inQuery {
			rc.badRequest("scope does not fit the tenant named", FieldProblem{Field: field, Value: scope.String(), Detail: "account_sid goes with account scope, service_provider alone with service_provider scope"})
		} else {
			rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "the request has invalid fields",
				FieldProblem{Field: field, Value: scope.String(), Detail: "account_sid goes with account scope, service_provider alone with service_provider scope"}), nil)
		}
		return owner{}, false
	}
	if account == "" && sp == "" && scope == 0 {
		switch rc.p.Scope {
		case rbac.ScopeAccount:
			account = rc.p.Account
		case rbac.ScopeServiceProvider:
			sp = rc.p.ServiceProvider
		default:
			scope = rbac.ScopeAdmin
		}
	}
	switch {
	case account != "":
		if scope != 0 && scope != rbac.ScopeAccount {
			return mismatch()
		}
		sid, err := tenancy.ParseSID(account)
		if err != nil {
			return missing("account_sid", "account")
		}
		a, err := rc.h.cfg.Tenants.Account(rc.ctx, sid)
		if errors.Is(err, tenancy.ErrNotFound) || (err == nil && !rbac.Reaches(rc.p, acctTarget(a))) {
			return missing("account_sid", "account")
		}
		if err != nil {
			rc.fromError(err, nil)
			return owner{}, false
		}
		return owner{scope: rbac.ScopeAccount, acct: a, sid: string(a.SID), target: acctTarget(a)}, true
	case sp != "":
		if scope != 0 && scope != rbac.ScopeServiceProvider {
			return mismatch()
		}
		found, err := rc.providerExists(sp)
		if err != nil {
			rc.fromError(err, nil)
			return owner{}, false
		}
		if !found {
			return missing("service_provider", "service provider")
		}
		return owner{scope: rbac.ScopeServiceProvider, sp: sp, target: providerTarget(sp)}, true
	case scope == rbac.ScopeAdmin:
		return owner{scope: rbac.ScopeAdmin}, true
	}
	return mismatch()
}

// keyTarget is the tenant an API key belongs to, as authorization sees it
// (an account key follows its account's current service provider).
func (rc *reqCtx) keyTarget(k *rbac.APIKey) rbac.Target {
	switch k.Scope {
	case rbac.ScopeAccount:
		if sid, err := tenancy.ParseSID(k.Account); err == nil {
			if a, err := rc.h.cfg.Tenants.Account(rc.ctx, sid); err == nil {
				return acctTarget(a)
			}
		}
		return rbac.Target{ServiceProvider: k.ServiceProvider, Account: k.Account}
	case rbac.ScopeServiceProvider:
		return providerTarget(k.ServiceProvider)
	}
	return rbac.Target{}
}

func scopeParam(rc *reqCtx) (rbac.Scope, bool) {
	s := rc.r.URL.Query().Get("scope")
	if s == "" {
		return 0, true
	}
	v, err := rbac.ParseScope(s)
	if err != nil {
		rc.badRequest("invalid query parameter", FieldProblem{Field: "scope", Value: s, Detail: "want account, service_provider or admin"})
		return 0, false
	}
	return v, true
}

func (h *Handler) listKeys(rc *reqCtx) {
	q := rc.r.URL.Query()
	scope, ok := scopeParam(rc)
	if !ok {
		return
	}
	o, ok := rc.resolveOwner(scope, q.Get("service_provider"), q.Get("account_sid"), true)
	if !ok || !rc.authorize(rc.reachable(o.target), o.target, "owner") {
		return
	}
	var owners []rbac.Owner
	switch o.scope {
	case rbac.ScopeAccount:
		owners = accountKeyOwners(o.acct)
	case rbac.ScopeServiceProvider:
		owners = []rbac.Owner{{Scope: rbac.ScopeServiceProvider, ServiceProvider: o.sp}}
	default:
		owners = []rbac.Owner{{Scope: rbac.ScopeAdmin}}
	}
	var keys []*rbac.APIKey
	for _, ow := range owners {
		ks, err := h.cfg.Keys.Keys(rc.ctx, ow)
		if err != nil {
			rc.fromError(err, nil)
			return
		}
		keys = append(keys, ks...)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Name+"\x00"+keys[i].ID < keys[j].Name+"\x00"+keys[j].ID })
	if list, ok := page(rc, keys, func(k *rbac.APIKey) string { return k.Name + "\x00" + k.ID }); ok {
		rc.respond(http.StatusOK, 0, list)
	}
}

func (h *Handler) createKey(rc *reqCtx) {
	body, ok := rc.readBody(false)
	if !ok {
		return
	}
	var req CreateAPIKeyRequest
	if !rc.decodeStrict(body, &req) {
		return
	}
	o, ok := rc.resolveOwner(req.Scope, strings.TrimSpace(req.ServiceProvider), strings.TrimSpace(req.AccountSID), false)
	if !ok || !rc.authorize(rc.reachable(o.target), o.target, "owner") {
		return
	}
	ck, err := h.cfg.Keys.Create(rc.ctx, rbac.NewAPIKey{
		// An account key carries its account's service provider, so a
		// service provider's caller reaches the key's owner.
		Name: req.Name, ServiceType: req.ServiceType, Scope: o.scope, ServiceProvider: o.target.ServiceProvider, Account: o.sid,
		CreatorEmail: rc.caller.Email, ValidUntil: req.ValidUntil,
	}, rc.p)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	k := ck.APIKey
	rc.record(Change{Resource: ResourceAPIKey, Op: OpCreate, ID: k.ID, Account: k.Account, ServiceProvider: o.target.ServiceProvider},
		"api_key.create", nil, k)
	rc.w.Header().Set("Location", BasePath+"/api-keys/"+k.ID)
	rc.respond(http.StatusCreated, 0, CreatedAPIKey{APIKey: k, Secret: ck.Secret.Reveal()})
}

func (rc *reqCtx) loadKey() (*rbac.APIKey, rbac.Target, bool) {
	k, err := rc.h.cfg.Keys.Key(rc.ctx, rc.params["id"])
	if errors.Is(err, rbac.ErrNotFound) {
		rc.notFound("API key")
		return nil, rbac.Target{}, false
	}
	if err != nil {
		rc.fromError(err, nil)
		return nil, rbac.Target{}, false
	}
	t := rc.keyTarget(k)
	return k, t, rc.authorize(t, t, "API key")
}

func (h *Handler) getKey(rc *reqCtx) {
	if k, _, ok := rc.loadKey(); ok {
		rc.respond(http.StatusOK, 0, k)
	}
}

func (h *Handler) deleteKey(rc *reqCtx) {
	k, t, ok := rc.loadKey()
	if !ok {
		return
	}
	if err := h.cfg.Keys.Delete(rc.ctx, k.ID); err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceAPIKey, Op: OpDelete, ID: k.ID, Account: k.Account, ServiceProvider: t.ServiceProvider}, "api_key.delete", k, nil)
	rc.noContent()
}

func (h *Handler) revokeKey(rc *reqCtx) {
	k, t, ok := rc.loadKey()
	if !ok {
		return
	}
	if err := h.cfg.Keys.Revoke(rc.ctx, k.ID); err != nil {
		rc.fromError(err, nil)
		return
	}
	after, err := h.cfg.Keys.Key(rc.ctx, k.ID)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceAPIKey, Op: OpRevoke, ID: k.ID, Account: k.Account, ServiceProvider: t.ServiceProvider}, "api_key.revoke", k, after)
	rc.respond(http.StatusOK, 0, after)
}
