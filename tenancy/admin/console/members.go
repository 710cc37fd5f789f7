package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// Members and roles (seed 002 "Members", "Access Control"): the members of
// a tenant with their roles, and each role's privilege grid (Read, Update,
// Delete, Create per entity, and the advanced privileges).

var entityLabels = map[rbac.Entity]string{
	rbac.EntityOrganization: "Organization", rbac.EntityInteraction: "Interaction", rbac.EntityUsage: "Usage",
	rbac.EntityAgent: "Agent", rbac.EntityBilling: "Billing", rbac.EntityLanguage: "Language", rbac.EntityPhone: "Phone",
	rbac.EntitySubOrganization: "Sub Organization", rbac.EntityTemplate: "Template",
}

var advancedLabels = []struct {
	a     rbac.Advanced
	label string
}{
	{rbac.PublishToProduction, "Enable switching bots to Production mode"},
	{rbac.ChangeVoiceProcessor, "Change Voice Processor"},
	{rbac.ChangeSTTProcessor, "Change STT Processor"},
	{rbac.ChangeLLM, "Change LLM"},
	{rbac.FullAccessIntegrations, "Full Access to Integrations"},
	{rbac.ReadInteractionMetrics, "Read Interaction Metrics"},
}

var gridActions = []struct {
	a     rbac.Action
	label string
}{{rbac.ActionRead, "Can Read"}, {rbac.ActionUpdate, "Can Update"}, {rbac.ActionDelete, "Can Delete"}, {rbac.ActionCreate, "Can Create"}}

type privGrid struct {
	Actions  []string
	Rows     []gridRow
	Advanced []gridCell
	ReadOnly bool
}

type gridRow struct {
	Label string
	Cells []gridCell
}

type gridCell struct {
	ID, Name, Value, Label string
	Checked                bool
}

func privilegeGrid(p rbac.Privileges, readOnly bool) privGrid {
	g := privGrid{ReadOnly: readOnly}
	for _, a := range gridActions {
		g.Actions = append(g.Actions, a.label)
	}
	for _, e := range rbac.Entities() {
		row := gridRow{Label: entityLabels[e]}
		for _, a := range gridActions {
			v := e.String() + "." + a.a.String()
			row.Cells = append(row.Cells, gridCell{ID: "p-" + v, Name: "priv", Value: v, Label: a.label + " " + entityLabels[e], Checked: p.Allows(e, a.a)})
		}
		g.Rows = append(g.Rows, row)
	}
	for _, a := range advancedLabels {
		g.Advanced = append(g.Advanced, gridCell{ID: "adv-" + a.a.String(), Name: "adv", Value: a.a.String(), Label: a.label, Checked: p.Advanced.Has(a.a)})
	}
	return g
}

func privilegesFromForm(f url.Values) rbac.Privileges {
	var p rbac.Privileges
	for _, v := range f["priv"] {
		es, as, _ := strings.Cut(v, ".")
		e, err1 := rbac.ParseEntity(es)
		a, err2 := rbac.ParseAction(as)
		if err1 == nil && err2 == nil {
			p.Grant(e, a)
		}
	}
	for _, v := range f["adv"] {
		if a, err := rbac.ParseAdvanced(v); err == nil {
			p.Advanced |= a
		}
	}
	return p
}

type membersView struct {
	SID                           tenancy.SID
	Owner                         string
	Members                       []memberRow
	Roles                         []rbac.Role
	New                           rbac.Member
	Grid                          privGrid
	RoleName                      string
	CanCreate, CanEdit, CanDelete bool
}

type memberRow struct {
	rbac.Member
	RoleName string
}

// memberOwner is whose members the page shows: the chosen account's, or
// the member's own tenant's.
func (q *req) memberOwner() (admin.Owner, tenancy.SID) { return q.keyOwner() }

func (c *Console) membersPage(q *req) { c.renderMembers(q, http.StatusOK, membersView{}, nil) }

func (c *Console) renderMembers(q *req, status int, v membersView, p *problemView) {
	owner, sid := q.memberOwner()
	cl := c.adminClient()
	list, err := cl.Members(q.ctx, owner, &admin.ListOptions{PageSize: 500})
	if err != nil {
		q.apiFailed("message", "Members and roles", "members", messageView{Heading: "Members"}, err)
		return
	}
	account := string(sid)
	roles, err := cl.Roles(q.ctx, tenancy.SID(account), &admin.ListOptions{PageSize: 500})
	if err != nil {
		q.apiFailed("message", "Members and roles", "members", messageView{Heading: "Members"}, err)
		return
	}
	v.SID, v.Roles = sid, roles.Items
	names := map[string]string{}
	for _, r := range roles.Items {
		names[r.ID] = r.Name
	}
	for _, m := range list.Items {
		v.Members = append(v.Members, memberRow{Member: m, RoleName: names[m.RoleID]})
	}
	v.Owner = "this account"
	if sid == "" {
		v.Owner = scopeLabel(q.p.Scope) + " scope (choose an account above for an account's members)"
	}
	v.CanCreate, v.CanEdit, v.CanDelete = q.may(rbac.EntityOrganization, rbac.ActionCreate), q.may(rbac.EntityOrganization, rbac.ActionUpdate), q.may(rbac.EntityOrganization, rbac.ActionDelete)
	if v.Grid.Rows == nil {
		v.Grid = privilegeGrid(rbac.Privileges{}, !v.CanCreate)
	}
	q.page(status, "members", "Members and roles", "members", v, p)
}

func (c *Console) createMember(q *req) {
	f := q.r.PostForm
	owner, sid := q.memberOwner()
	m := rbac.Member{Email: strings.TrimSpace(f.Get("email")), FirstName: strings.TrimSpace(f.Get("first_name")),
		LastName: strings.TrimSpace(f.Get("last_name")), RoleID: f.Get("role_id"), Scope: q.p.Scope,
		ServiceProvider: q.p.ServiceProvider, Account: q.p.Account}
	if owner.AccountSID != "" {
		m.Scope, m.Account, m.ServiceProvider = rbac.ScopeAccount, owner.AccountSID, ""
	}
	if q.p.Scope == rbac.ScopeAccount {
		m.ServiceProvider = ""
	}
	cl := c.adminClient()
	created, err := cl.CreateMember(q.ctx, m)
	if err != nil {
		c.renderMembers(q, http.StatusOK, membersView{New: m}, problemOf(err))
		return
	}
	text := "Member " + created.Email + " added."
	if pw := f.Get("password"); pw != "" {
		if err := cl.SetMemberPassword(q.ctx, created.ID, secret.String(pw)); err != nil {
			c.renderMembers(q, http.StatusOK, membersView{}, problemOf(err))
			return
		}
		text += " They can sign in with the password you gave."
	}
	q.done(q.accountPath("members", sid), &flash{OK: true, Text: text})
}

func (c *Console) saveMember(q *req) {
	_, sid := q.memberOwner()
	f := q.r.PostForm
	role := f.Get("role_id")
	rev, _ := strconv.ParseInt(f.Get("revision"), 10, 64)
	if _, err := c.adminClient().UpdateMember(q.ctx, q.r.PathValue("id"), admin.MemberPatch{RoleID: &role}, rev); err != nil {
		c.renderMembers(q, http.StatusOK, membersView{}, problemOf(err))
		return
	}
	q.done(q.accountPath("members", sid), &flash{OK: true, Text: "Member's role changed."})
}

func (c *Console) setMemberPassword(q *req) {
	_, sid := q.memberOwner()
	id := q.r.PathValue("id")
	if err := c.adminClient().SetMemberPassword(q.ctx, id, secret.String(q.r.PostForm.Get("password"))); err != nil {
		c.renderMembers(q, http.StatusOK, membersView{}, problemOf(err))
		return
	}
	// Whoever held the old password is signed out everywhere, except the
	// member changing their own.
	if id != q.s.memberID {
		c.sessions.endMember(id)
	}
	q.done(q.accountPath("members", sid), &flash{OK: true, Text: "Password set."})
}

func (c *Console) deleteMember(q *req) {
	_, sid := q.memberOwner()
	id := q.r.PathValue("id")
	rev, _ := strconv.ParseInt(q.r.PostForm.Get("revision"), 10, 64)
	if err := c.adminClient().DeleteMember(q.ctx, id, rev); err != nil {
		c.renderMembers(q, http.StatusOK, membersView{}, problemOf(err))
		return
	}
	c.sessions.endMember(id)
	q.done(q.accountPath("members", sid), &flash{OK: true, Text: "Member deleted."})
}

func (c *Console) createRole(q *req) {
	_, sid := q.memberOwner()
	f := q.r.PostForm
	r := rbac.Role{Name: strings.TrimSpace(f.Get("name")), Account: string(sid), Privileges: privilegesFromForm(f)}
	created, err := c.adminClient().CreateRole(q.ctx, r)
	if err != nil {
		c.renderMembers(q, http.StatusOK, membersView{RoleName: r.Name, Grid: privilegeGrid(r.Privileges, false)}, problemOf(err))
		return
	}
	q.done(q.accountPath("roles/"+url.PathEscape(created.ID), sid), &flash{OK: true, Text: "Role " + created.Name + " created."})
}

type roleView struct {
	Role      *rbac.Role
	Grid      privGrid
	SID       tenancy.SID
	CanEdit   bool
	CanDelete bool
}

func (c *Console) rolePage(q *req) {
	r, err := c.adminClient().Role(q.ctx, q.r.PathValue("id"))
	if err != nil {
		q.apiFailed("message", "Role", "members", messageView{Heading: "Role"}, err)
		return
	}
	c.renderRole(q, http.StatusOK, r, nil)
}

func (c *Console) renderRole(q *req, status int, r *rbac.Role, p *problemView) {
	canEdit := q.may(rbac.EntityOrganization, rbac.ActionUpdate)
	v := roleView{Role: r, Grid: privilegeGrid(r.Privileges, !canEdit), SID: tenancy.SID(r.Account), CanEdit: canEdit,
		CanDelete: q.may(rbac.EntityOrganization, rbac.ActionDelete)}
	q.page(status, "role", "Role "+r.Name, "members", v, p)
}

func (c *Console) saveRole(q *req) {
	cl := c.adminClient()
	id := q.r.PathValue("id")
	f := q.r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	priv := privilegesFromForm(f)
	rev, _ := strconv.ParseInt(f.Get("revision"), 10, 64)
	updated, err := cl.UpdateRole(q.ctx, id, admin.RolePatch{Name: &name, Privileges: &priv}, rev)
	if err != nil {
		cur, rerr := cl.Role(q.ctx, id)
		if rerr != nil {
			q.apiFailed("message", "Role", "members", messageView{Heading: "Role"}, rerr)
			return
		}
		cur.Name, cur.Privileges = name, priv
		c.renderRole(q, http.StatusOK, cur, problemOf(err))
		return
	}
	q.done(q.accountPath("roles/"+url.PathEscape(id), tenancy.SID(updated.Account)), &flash{OK: true, Text: "Role saved."})
}

func (c *Console) deleteRole(q *req) {
	cl := c.adminClient()
	id := q.r.PathValue("id")
	rev, _ := strconv.ParseInt(q.r.PostForm.Get("revision"), 10, 64)
	cur, err := cl.Role(q.ctx, id)
	if err != nil {
		q.apiFailed("message", "Role", "members", messageView{Heading: "Role"}, err)
		return
	}
	if err := cl.DeleteRole(q.ctx, id, rev); err != nil {
		c.renderRole(q, http.StatusOK, cur, problemOf(err))
		return
	}
	q.done(q.accountPath("members", tenancy.SID(cur.Account)), &flash{OK: true, Text: "Role " + cur.Name + " deleted."})
}
