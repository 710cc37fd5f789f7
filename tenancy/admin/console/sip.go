package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// SIP users and the IP allowlist (seed 002 "SIP").

type sipView struct {
	SID                           tenancy.SID
	Settings                      *admin.SIPSettings
	Allowlist                     string
	Username                      string
	CanCreate, CanEdit, CanDelete bool
}

func (c *Console) sip(q *req) {
	sid, ok := q.needAccount("SIP users and allowlist", "sip")
	if !ok {
		return
	}
	c.renderSIP(q, http.StatusOK, sid, nil, nil)
}

func (c *Console) renderSIP(q *req, status int, sid tenancy.SID, submitted *sipView, p *problemView) {
	s, err := c.adminClient().SIP(q.ctx, sid)
	if err != nil {
		q.apiFailed("message", "SIP users and allowlist", "sip", messageView{Heading: "SIP"}, err)
		return
	}
	v := sipView{SID: sid, Settings: s, Allowlist: strings.Join(s.Allowlist, "\n"),
		CanCreate: q.may(rbac.EntityPhone, rbac.ActionCreate), CanEdit: q.may(rbac.EntityPhone, rbac.ActionUpdate), CanDelete: q.may(rbac.EntityPhone, rbac.ActionDelete)}
	if submitted != nil {
		if submitted.Allowlist != "" {
			v.Allowlist = submitted.Allowlist
		}
		v.Username = submitted.Username
	}
	q.page(status, "sip", "SIP users and allowlist", "sip", v, p)
}

func (c *Console) addSIPUser(q *req) {
	sid, ok := q.needAccount("SIP users and allowlist", "sip")
	if !ok {
		return
	}
	user := strings.TrimSpace(q.r.PostForm.Get("username"))
	if _, err := c.adminClient().AddSIPUser(q.ctx, sid, user, secret.String(q.r.PostForm.Get("password"))); err != nil {
		c.renderSIP(q, http.StatusOK, sid, &sipView{Username: user}, problemOf(err))
		return
	}
	q.done(q.accountPath("sip", sid), &flash{OK: true, Text: "SIP user " + user + " added."})
}

func (c *Console) setSIPPassword(q *req) {
	sid, ok := q.needAccount("SIP users and allowlist", "sip")
	if !ok {
		return
	}
	user := q.r.PathValue("user")
	if _, err := c.adminClient().SetSIPPassword(q.ctx, sid, user, secret.String(q.r.PostForm.Get("password"))); err != nil {
		c.renderSIP(q, http.StatusOK, sid, nil, problemOf(err))
		return
	}
	q.done(q.accountPath("sip", sid), &flash{OK: true, Text: "Password of " + user + " changed."})
}

func (c *Console) deleteSIPUser(q *req) {
	sid, ok := q.needAccount("SIP users and allowlist", "sip")
	if !ok {
		return
	}
	user := q.r.PathValue("user")
	if err := c.adminClient().DeleteSIPUser(q.ctx, sid, user); err != nil {
		c.renderSIP(q, http.StatusOK, sid, nil, problemOf(err))
		return
	}
	q.done(q.accountPath("sip", sid), &flash{OK: true, Text: "SIP user " + user + " removed."})
}

// saveAllowlist replaces the allowlist with the textarea's lines.
func (c *Console) saveAllowlist(q *req) {
	sid, ok := q.needAccount("SIP users and allowlist", "sip")
	if !ok {
		return
	}
	text := q.r.PostForm.Get("allowlist")
	list := []string{}
	for l := range strings.Lines(text) {
		if l = strings.TrimSpace(l); l != "" {
			list = append(list, l)
		}
	}
	rev, _ := strconv.ParseInt(q.r.PostForm.Get("revision"), 10, 64)
	if _, err := c.adminClient().UpdateSIP(q.ctx, sid, admin.SIPPatch{Allowlist: &list}, rev); err != nil {
		c.renderSIP(q, http.StatusOK, sid, &sipView{Allowlist: text}, problemOf(err))
		return
	}
	msg := "Allowlist saved."
	if len(list) == 0 {
		msg = "Allowlist emptied: every address may send SIP requests."
	}
	q.done(q.accountPath("sip", sid), &flash{OK: true, Text: msg})
}
