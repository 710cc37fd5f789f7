package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// needAccount answers the page of a service provider or admin member who
// has not chosen an account yet; it returns the account otherwise.
func (q *req) needAccount(title, current string) (tenancy.SID, bool) {
	a := q.account()
	if a == "" {
		q.page(http.StatusOK, "message", title, current, messageView{Heading: title, Text: "Choose an account above (or on the Accounts page) first."}, nil)
		return "", false
	}
	return tenancy.SID(a), true
}

// accountPath returns a console path about the account a member works on
// (service provider and admin members carry it in the query).
func (q *req) accountPath(p string, sid tenancy.SID) string {
	u := q.c.prefix + p
	if q.p.Scope != rbac.ScopeAccount {
		u += "?account=" + url.QueryEscape(string(sid))
	}
	return u
}

type appsView struct {
	SID       tenancy.SID
	Items     []tenancy.Application
	Name      string
	CanCreate bool
	CanEdit   bool
	CanDelete bool
}

func (c *Console) applications(q *req) {
	sid, ok := q.needAccount("Applications", "applications")
	if !ok {
		return
	}
	c.renderApps(q, http.StatusOK, sid, "", nil)
}

func (c *Console) renderApps(q *req, status int, sid tenancy.SID, name string, p *problemView) {
	list, err := c.adminClient().Applications(q.ctx, sid, &admin.ListOptions{PageSize: 500})
	if err != nil {
		q.apiFailed("message", "Applications", "applications", messageView{Heading: "Applications"}, err)
		return
	}
	v := appsView{SID: sid, Items: list.Items, Name: name, CanCreate: q.may(rbac.EntityAgent, rbac.ActionCreate),
		CanEdit: q.may(rbac.EntityAgent, rbac.ActionUpdate), CanDelete: q.may(rbac.EntityAgent, rbac.ActionDelete)}
	q.page(status, "apps", "Applications", "applications", v, p)
}

func (c *Console) createApplication(q *req) {
	sid, ok := q.needAccount("Applications", "applications")
	if !ok {
		return
	}
	name := strings.TrimSpace(q.r.PostForm.Get("name"))
	app := tenancy.Application{Name: name, RecordAllCalls: q.r.PostForm.Get("record_all_calls") != ""}
	if _, err := c.adminClient().CreateApplication(q.ctx, sid, app); err != nil {
		c.renderApps(q, http.StatusOK, sid, name, problemOf(err))
		return
	}
	q.done(q.accountPath("applications", sid), &flash{OK: true, Text: "Application " + name + " created."})
}

func (c *Console) saveApplication(q *req) {
	sid, ok := q.needAccount("Applications", "applications")
	if !ok {
		return
	}
	f := q.r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	rec := f.Get("record_all_calls") != ""
	rev, _ := strconv.ParseInt(f.Get("revision"), 10, 64)
	patch := admin.ApplicationPatch{Name: &name, RecordAllCalls: &rec}
	if _, err := c.adminClient().UpdateApplication(q.ctx, sid, tenancy.SID(q.r.PathValue("app")), patch, rev); err != nil {
		c.renderApps(q, http.StatusOK, sid, "", problemOf(err))
		return
	}
	q.done(q.accountPath("applications", sid), &flash{OK: true, Text: "Application " + name + " saved."})
}

func (c *Console) deleteApplication(q *req) {
	sid, ok := q.needAccount("Applications", "applications")
	if !ok {
		return
	}
	rev, _ := strconv.ParseInt(q.r.PostForm.Get("revision"), 10, 64)
	if err := c.adminClient().DeleteApplication(q.ctx, sid, tenancy.SID(q.r.PathValue("app")), rev); err != nil {
		c.renderApps(q, http.StatusOK, sid, "", problemOf(err))
		return
	}
	q.done(q.accountPath("applications", sid), &flash{OK: true, Text: "Application deleted."})
}
