package admin

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
)

var (
	memberReadOnly = []string{"id", "revision", "created_at", "updated_at"}
	roleReadOnly   = []string{"id", "account_sid", "revision", "created_at", "updated_at"}
)

// accountTargetOf returns the target of an account SID: with its current
// service provider when the account exists.
func (rc *reqCtx) accountTargetOf(account string) rbac.Target {
	if sid, err := tenancy.ParseSID(account); err == nil {
		if a, err := rc.h.cfg.Tenants.Account(rc.ctx, sid); err == nil {
			return acctTarget(a)
		}
	}
	return rbac.Target{Account: account}
}

// roleTarget is the tenant of a role: its account, or the platform.
func (rc *reqCtx) roleTarget(r *rbac.Role) rbac.Target {
	if r.Account == "" {
		return rbac.Target{}
	}
	return rc.accountTargetOf(r.Account)
}

// memberTarget is the tenant of a member.
func (rc *reqCtx) memberTarget(m *rbac.Member) rbac.Target {
	switch m.Scope {
	case rbac.ScopeAccount:
		return rc.accountTargetOf(m.Account)
	case rbac.ScopeServiceProvider:
		return providerTarget(m.ServiceProvider)
	}
	return rbac.Target{}
}

// exceeds answers 403 when privileges grant something the caller does not
// hold: nobody hands out more than they have.
func (rc *reqCtx) exceeds(field string, p rbac.Privileges) bool {
	if lacking := rc.p.Privileges.Lacking(p); lacking != "" {
		rc.problem(newProblem(http.StatusForbidden, CodeForbiddenField, "the caller may not grant privileges it does not hold",
			FieldProblem{Field: field, Detail: "grants " + lacking + ", which the caller does not hold"}), nil)
		return true
	}
	return false
}

func (h *Handler) listRoles(rc *reqCtx) {
	account := rc.r.URL.Query().Get("account_sid")
	if account == "" && rc.p.Scope == rbac.ScopeAccount {
		account = rc.p.Account
	}
	var target rbac.Target
	if account != "" {
		o, ok := rc.resolveOwner(rbac.ScopeAccount, "", account, true)
		if !ok {
			return
		}
		target = o.target
	} else {
		target = rc.reachable(rbac.Target{})
	}
	if !rc.authorize(target, target, "account") {
		return
	}
	roles, err := h.cfg.Members.Roles(rc.ctx, account)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	sort.Slice(roles, func(i, j int) bool { return roles[i].Name+"\x00"+roles[i].ID < roles[j].Name+"\x00"+roles[j].ID })
	if list, ok := page(rc, roles, func(r *rbac.Role) string { return r.Name + "\x00" + r.ID }); ok {
		rc.respond(http.StatusOK, 0, list)
	}
}

func (h *Handler) createRole(rc *reqCtx) {
	body, ok := rc.readBody(false)
	if !ok {
		return
	}
	var r rbac.Role
	if !rc.decodeStrict(body, &r) {
		return
	}
	r.ID, r.Revision, r.CreatedAt, r.UpdatedAt = "", 0, time.Time{}, time.Time{}
	r.Account = strings.TrimSpace(r.Account)
	target := rbac.Target{}
	if r.Account != "" {
		o, ok := rc.resolveOwner(rbac.ScopeAccount, "", r.Account, false)
		if !ok {
			return
		}
		r.Account, target = o.sid, o.target
	}
	if !rc.authorize(rc.reachable(target), target, "account") || rc.exceeds("privileges", r.Privileges) {
		return
	}
	created, err := h.cfg.Members.CreateRole(rc.ctx, &r)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceRole, Op: OpCreate, ID: created.ID, Account: created.Account, ServiceProvider: target.ServiceProvider, Revision: created.Revision},
		"role.create", nil, created)
	rc.w.Header().Set("Location", BasePath+"/roles/"+created.ID)
	rc.respond(http.StatusCreated, created.Revision, created)
}

// loadRole reads the role of the path. Platform roles are visible to every
// caller (they can be assigned in every tenant); changing one needs the
// platform's reach (Admin).
func (rc *reqCtx) loadRole() (*rbac.Role, rbac.Target, bool) {
	r, err := rc.h.cfg.Members.Role(rc.ctx, rc.params["id"])
	if errors.Is(err, rbac.ErrNotFound) {
		rc.notFound("role")
		return nil, rbac.Target{}, false
	}
	if err != nil {
		rc.fromError(err, nil)
		return nil, rbac.Target{}, false
	}
	t := rc.roleTarget(r)
	seen := t
	if r.Account == "" {
		seen = rc.reachable(t)
		if rc.rt.Action == rbac.ActionRead {
			t = seen
		}
	}
	return r, t, rc.authorize(seen, t, "role")
}

func (h *Handler) getRole(rc *reqCtx) {
	if r, _, ok := rc.loadRole(); ok {
		rc.respond(http.StatusOK, r.Revision, r)
	}
}

func (h *Handler) patchRole(rc *reqCtx) {
	cur, t, ok := rc.loadRole()
	if !ok {
		return
	}
	sent, ok := rc.precondition(cur.Revision)
	if !ok {
		return
	}
	var next rbac.Role
	if !rc.patchInto(cur, &next, roleReadOnly...) {
		return
	}
	next.ID, next.Account, next.Revision = cur.ID, cur.Account, cur.Revision
	var fields []string
	if strings.TrimSpace(next.Name) != cur.Name {
		fields = append(fields, "name")
	}
	if next.Privileges != cur.Privileges {
		fields = append(fields, "privileges")
		if rc.exceeds("privileges", next.Privileges) {
			return
		}
	}
	if len(fields) == 0 {
		rc.respond(http.StatusOK, cur.Revision, cur)
		return
	}
	updated, err := h.cfg.Members.UpdateRole(rc.ctx, &next)
	if errors.Is(err, rbac.ErrConflict) {
		rc.conflict(sent, err)
		return
	}
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceRole, Op: OpUpdate, ID: updated.ID, Account: updated.Account, ServiceProvider: t.ServiceProvider, Fields: fields, Revision: updated.Revision},
		"role.update", cur, updated)
	rc.respond(http.StatusOK, updated.Revision, updated)
}

func (h *Handler) deleteRole(rc *reqCtx) {
	cur, t, ok := rc.loadRole()
	if !ok {
		return
	}
	if _, ok := rc.precondition(cur.Revision); !ok {
		return
	}
	if err := h.cfg.Members.DeleteRole(rc.ctx, cur.ID); err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceRole, Op: OpDelete, ID: cur.ID, Account: cur.Account, ServiceProvider: t.ServiceProvider}, "role.delete", cur, nil)
	rc.noContent()
}

func (h *Handler) listMembers(rc *reqCtx) {
	q := rc.r.URL.Query()
	scope, ok := scopeParam(rc)
	if !ok {
		return
	}
	o, ok := rc.resolveOwner(scope, q.Get("service_provider"), q.Get("account_sid"), true)
	if !ok || !rc.authorize(rc.reachable(o.target), o.target, "owner") {
		return
	}
	members, err := h.cfg.Members.Members(rc.ctx, o.sid)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	members = slices.DeleteFunc(members, func(m *rbac.Member) bool {
		return m.Scope != o.scope || (o.scope == rbac.ScopeServiceProvider && m.ServiceProvider != o.sp)
	})
	if list, ok := page(rc, members, func(m *rbac.Member) string { return m.Email + "\x00" + m.ID }); ok {
		rc.respond(http.StatusOK, 0, list)
	}
}

// checkMemberOwner resolves the member's tenant (refusing what the caller
// may not reach or a scope broader than its own) and its role (refusing a
// role that grants more than the caller holds). It fills the member's tenant
// fields as the store keeps them.
func (rc *reqCtx) checkMemberOwner(m *rbac.Member) (rbac.Target, bool) {
	o, ok := rc.resolveOwner(m.Scope, strings.TrimSpace(m.ServiceProvider), strings.TrimSpace(m.Account), false)
	if !ok || !rc.authorize(rc.reachable(o.target), o.target, "owner") {
		return rbac.Target{}, false
	}
	if o.scope > rc.p.Scope {
		rc.problem(newProblem(http.StatusForbidden, CodeForbiddenField, "the caller may not make a member broader than itself",
			FieldProblem{Field: "scope", Value: o.scope.String(), Detail: "broader than the caller's " + rc.p.Scope.String() + " scope"}), nil)
		return rbac.Target{}, false
	}
	m.Scope, m.ServiceProvider, m.Account = o.scope, o.sp, o.sid
	if m.RoleID != "" {
		r, err := rc.h.cfg.Members.Role(rc.ctx, m.RoleID)
		if errors.Is(err, rbac.ErrNotFound) || (err == nil && r.Account != "" && r.Account != m.Account) {
			rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "the request has invalid fields",
				FieldProblem{Field: "role_id", Value: m.RoleID, Detail: "no such role in the member's account or the platform"}), nil)
			return rbac.Target{}, false
		}
		if err != nil {
			rc.fromError(err, nil)
			return rbac.Target{}, false
		}
		if rc.exceeds("role_id", r.Privileges) {
			return rbac.Target{}, false
		}
	}
	return o.target, true
}

func (h *Handler) createMember(rc *reqCtx) {
	body, ok := rc.readBody(false)
	if !ok {
		return
	}
	var m rbac.Member
	if !rc.decodeStrict(body, &m) {
		return
	}
	m.ID, m.Revision, m.CreatedAt, m.UpdatedAt = "", 0, time.Time{}, time.Time{}
	target, ok := rc.checkMemberOwner(&m)
	if !ok {
		return
	}
	created, err := h.cfg.Members.CreateMember(rc.ctx, &m)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceMember, Op: OpCreate, ID: created.ID, Account: created.Account, ServiceProvider: target.ServiceProvider, Revision: created.Revision},
		"member.create", nil, created)
	rc.w.Header().Set("Location", BasePath+"/members/"+created.ID)
	rc.respond(http.StatusCreated, created.Revision, created)
}

func (rc *reqCtx) loadMember() (*rbac.Member, rbac.Target, bool) {
	m, err := rc.h.cfg.Members.Member(rc.ctx, rc.params["id"])
	if errors.Is(err, rbac.ErrNotFound) {
		rc.notFound("member")
		return nil, rbac.Target{}, false
	}
	if err != nil {
		rc.fromError(err, nil)
		return nil, rbac.Target{}, false
	}
	t := rc.memberTarget(m)
	return m, t, rc.authorize(t, t, "member")
}

func (h *Handler) getMember(rc *reqCtx) {
	if m, _, ok := rc.loadMember(); ok {
		rc.respond(http.StatusOK, m.Revision, m)
	}
}

func (h *Handler) patchMember(rc *reqCtx) {
	cur, _, ok := rc.loadMember()
	if !ok {
		return
	}
	sent, ok := rc.precondition(cur.Revision)
	if !ok {
		return
	}
	var next rbac.Member
	if !rc.patchInto(cur, &next, memberReadOnly...) {
		return
	}
	next.ID, next.Revision = cur.ID, cur.Revision
	var fields []string
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"email", !strings.EqualFold(strings.TrimSpace(next.Email), cur.Email)},
		{"first_name", strings.TrimSpace(next.FirstName) != cur.FirstName},
		{"last_name", strings.TrimSpace(next.LastName) != cur.LastName},
		{"scope", next.Scope != cur.Scope},
		{"service_provider", strings.TrimSpace(next.ServiceProvider) != cur.ServiceProvider},
		{"account_sid", strings.TrimSpace(next.Account) != cur.Account},
		{"role_id", next.RoleID != cur.RoleID},
	} {
		if f.changed {
			fields = append(fields, f.name)
		}
	}
	if len(fields) == 0 {
		rc.respond(http.StatusOK, cur.Revision, cur)
		return
	}
	// An unchanged role is not checked against the caller again (the
	// driver still refuses it in another account).
	keep := next.RoleID
	if keep == cur.RoleID {
		next.RoleID = ""
	}
	target, ok := rc.checkMemberOwner(&next)
	if !ok {
		return
	}
	next.RoleID = keep
	updated, err := h.cfg.Members.UpdateMember(rc.ctx, &next)
	if errors.Is(err, rbac.ErrConflict) {
		rc.conflict(sent, err)
		return
	}
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceMember, Op: OpUpdate, ID: updated.ID, Account: updated.Account, ServiceProvider: target.ServiceProvider, Fields: fields, Revision: updated.Revision},
		"member.update", cur, updated)
	rc.respond(http.StatusOK, updated.Revision, updated)
}

func (h *Handler) deleteMember(rc *reqCtx) {
	cur, t, ok := rc.loadMember()
	if !ok {
		return
	}
	if _, ok := rc.precondition(cur.Revision); !ok {
		return
	}
	if err := h.cfg.Members.DeleteMember(rc.ctx, cur.ID); err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceMember, Op: OpDelete, ID: cur.ID, Account: cur.Account, ServiceProvider: t.ServiceProvider}, "member.delete", cur, nil)
	rc.noContent()
}
