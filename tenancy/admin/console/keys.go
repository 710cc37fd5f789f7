package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// API keys (seed 002 "API"): add one (its secret shown once, with a copy
// button), list them masked, delete one (requests with it fail at once).

type keysView struct {
	SID          tenancy.SID // the account whose keys these are; "" for the member's own tenant
	Owner        string
	Items        []rbac.APIKey
	ServiceTypes []admin.ServiceType
	Name         string
	ServiceType  string
	ValidUntil   string
	CanCreate    bool
	CanDelete    bool
}

// keyOwner is whose keys the page shows: the chosen account's, or the
// member's own tenant's.
func (q *req) keyOwner() (admin.Owner, tenancy.SID) {
	if q.p.Scope == rbac.ScopeAccount {
		return admin.Owner{}, tenancy.SID(q.p.Account)
	}
	if a := q.account(); a != "" {
		return admin.Owner{Scope: rbac.ScopeAccount, AccountSID: a}, tenancy.SID(a)
	}
	return admin.Owner{}, ""
}

func (c *Console) keys(q *req) { c.renderKeys(q, http.StatusOK, keysView{}, nil) }

func (c *Console) renderKeys(q *req, status int, v keysView, p *problemView) {
	owner, sid := q.keyOwner()
	cl := c.adminClient()
	list, err := cl.APIKeys(q.ctx, owner, &admin.ListOptions{PageSize: 500})
	if err != nil {
		q.apiFailed("message", "API keys", "keys", messageView{Heading: "API keys"}, err)
		return
	}
	v.SID, v.Items = sid, list.Items
	v.Owner = "this account"
	if sid == "" {
		v.Owner = scopeLabel(q.p.Scope) + " scope (choose an account above for an account's keys)"
	}
	if st, err := cl.ServiceTypes(q.ctx); err == nil {
		v.ServiceTypes = st
	}
	v.CanCreate, v.CanDelete = q.may(rbac.EntityOrganization, rbac.ActionCreate), q.may(rbac.EntityOrganization, rbac.ActionDelete)
	q.page(status, "keys", "API keys", "keys", v, p)
}

func (c *Console) createKey(q *req) {
	f := q.r.PostForm
	v := keysView{Name: strings.TrimSpace(f.Get("name")), ServiceType: f.Get("service_type"), ValidUntil: f.Get("valid_until")}
	owner, sid := q.keyOwner()
	r := admin.CreateAPIKeyRequest{Name: v.Name, ServiceType: v.ServiceType, Scope: owner.Scope, AccountSID: owner.AccountSID}
	if v.ValidUntil != "" {
		t, err := time.Parse("2006-01-02", v.ValidUntil)
		if err != nil {
			c.renderKeys(q, http.StatusUnprocessableEntity, v, &problemView{Status: 422, Title: "Invalid value", Detail: "valid until: want a date"})
			return
		}
		r.ValidUntil = t.Add(24*time.Hour - time.Second)
	}
	k, err := c.adminClient().CreateAPIKey(q.ctx, r)
	if err != nil {
		c.renderKeys(q, http.StatusOK, v, problemOf(err))
		return
	}
	q.done(q.accountPath("keys", sid), &flash{OK: true, Text: "API key " + k.Name + " created.", Secret: k.Secret})
}

func (c *Console) deleteKey(q *req) {
	_, sid := q.keyOwner()
	if err := c.adminClient().DeleteAPIKey(q.ctx, q.r.PathValue("id")); err != nil {
		c.renderKeys(q, http.StatusOK, keysView{}, problemOf(err))
		return
	}
	q.done(q.accountPath("keys", sid), &flash{OK: true, Text: "API key deleted: requests with it now fail."})
}
