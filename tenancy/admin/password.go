package admin

import (
	"errors"
	"net/http"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
)

// MemberPassword is the body of PUT /members/{id}/password: the password
// the member signs in with (to the console), of rbac.MinPasswordLen to
// rbac.MaxPasswordLen. Only its Argon2id hash is stored
// (rbac.MemberStore.SetPassword); it is never answered, logged or audited.
type MemberPassword struct {
	Password secret.String `json:"password"`
}

// setMemberPassword sets a member's sign-in password. Besides organization
// update on the member's tenant, the caller must be as broad as the member
// and hold every privilege of the member's role: whoever sets a password can
// act as that member, so nobody takes over a member who may do more.
func (h *Handler) setMemberPassword(rc *reqCtx) {
	cur, _, ok := rc.loadMember()
	if !ok {
		return
	}
	body, ok := rc.readBody(false)
	if !ok {
		return
	}
	var in MemberPassword
	if !rc.decodeStrict(body, &in) {
		return
	}
	if cur.Scope > rc.p.Scope {
		rc.problem(newProblem(http.StatusForbidden, CodeForbidden, "the caller may not set the password of a member broader than itself"), nil)
		return
	}
	if cur.RoleID != "" {
		r, err := h.cfg.Members.Role(rc.ctx, cur.RoleID)
		if err != nil {
			rc.fromError(err, nil)
			return
		}
		if lacking := rc.p.Privileges.Lacking(r.Privileges); lacking != "" {
			rc.problem(newProblem(http.StatusForbidden, CodeForbidden,
				"the caller may not set the password of a member whose role grants "+lacking+", which the caller does not hold"), nil)
			return
		}
	}
	err := h.cfg.Members.SetPassword(rc.ctx, cur.ID, secret.String(in.Password.Reveal()))
	if errors.Is(err, rbac.ErrNoPasswords) {
		rc.problem(newProblem(http.StatusInternalServerError, CodeInternal, "this gateway's member store keeps no passwords"), err)
		return
	}
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceMember, Op: OpUpdate, ID: cur.ID, Account: cur.Account, ServiceProvider: cur.ServiceProvider, Fields: []string{"password"}, Revision: cur.Revision},
		"member.password", nil, nil)
	rc.noContent()
}
