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

// Accounts (seed 000 "Settings"): the list for service provider and admin
// members, with "Add account"; each account's settings, the fields the
// member's scope may not set shown read-only (as the admin API's OpenAPI
// document marks them). The form sends what the member submitted that
// differs from the stored account; the API decides.

type accountsView struct {
	Items     []tenancy.Account
	CanCreate bool
	IsAdmin   bool
	Name      string
	Realm     string
	Provider  string
}

func (c *Console) accounts(q *req) {
	if q.p.Scope == rbac.ScopeAccount {
		http.Redirect(q.w, q.r, c.prefix+"accounts/"+url.PathEscape(q.p.Account), http.StatusSeeOther)
		return
	}
	c.renderAccounts(q, http.StatusOK, accountsView{}, nil)
}

func (c *Console) renderAccounts(q *req, status int, v accountsView, p *problemView) {
	list, err := c.adminClient().Accounts(q.ctx, &admin.AccountListOptions{ListOptions: admin.ListOptions{PageSize: 500}})
	if err != nil && p == nil {
		p = problemOf(err)
	}
	if list != nil {
		v.Items = list.Items
	}
	v.CanCreate = q.may(rbac.EntitySubOrganization, rbac.ActionCreate)
	v.IsAdmin = q.p.Scope == rbac.ScopeAdmin
	q.page(status, "accounts", "Accounts", "accounts", v, p)
}

func (c *Console) createAccount(q *req) {
	f := q.r.PostForm
	v := accountsView{Name: strings.TrimSpace(f.Get("name")), Realm: strings.TrimSpace(f.Get("sip_realm")), Provider: strings.TrimSpace(f.Get("service_provider"))}
	a := tenancy.Account{Name: v.Name, SIPRealm: v.Realm, ServiceProvider: v.Provider}
	if q.p.Scope == rbac.ScopeServiceProvider && a.ServiceProvider == "" {
		a.ServiceProvider = q.p.ServiceProvider
	}
	created, err := c.adminClient().CreateAccount(q.ctx, a)
	if err != nil {
		c.renderAccounts(q, http.StatusOK, v, problemOf(err))
		return
	}
	q.c.sessions.setAccount(q.s, string(created.SID))
	q.done(c.prefix+"accounts/"+url.PathEscape(string(created.SID)), &flash{OK: true,
		Text: "Account " + created.Name + " created. Its webhook secret signs the account's webhooks.", Secret: created.WebhookSecret})
}

// accountField is one setting of the form.
type accountField struct {
	Name, Label, Type, Value, Hint string
	Options                        []option
	ReadOnly                       bool
	Error                          string
}

type option struct {
	Value, Label string
	Selected     bool
}

type accountView struct {
	Account   *tenancy.Account
	Fields    []accountField
	CanEdit   bool
	CanRotate bool
}

// accountFields returns the settings of seed 000 the form shows, with the
// values given (the stored ones, or those submitted).
func (c *Console) accountFields(q *req, a *tenancy.Account, values url.Values, apps []tenancy.Application, p *problemView) []accountField {
	val := func(name, stored string) string {
		if values != nil {
			if v, ok := values[name]; ok && len(v) > 0 {
				return v[0]
			}
		}
		return stored
	}
	appOptions := func(name string, stored tenancy.SID) []option {
		cur := val(name, string(stored))
		opts := []option{{Value: "", Label: "None", Selected: cur == ""}}
		for _, ap := range apps {
			opts = append(opts, option{Value: string(ap.SID), Label: ap.Name, Selected: cur == string(ap.SID)})
		}
		return opts
	}
	unit := string(a.EffectiveUnit())
	fs := []accountField{
		{Name: "sid", Label: "Account SID", Value: string(a.SID), ReadOnly: true, Hint: "Generated when the account was created."},
		{Name: "name", Label: "Account name", Value: val("name", a.Name)},
		{Name: "service_provider", Label: "Service provider", Value: val("service_provider", a.ServiceProvider)},
		{Name: "unit", Label: "Unit", Type: "select", Options: []option{
			{Value: "sessions", Label: "Sessions", Selected: val("unit", unit) == "sessions"},
			{Value: "minutes", Label: "Minutes", Selected: val("unit", unit) == "minutes"}}, Value: val("unit", unit)},
		{Name: "max_units", Label: "Maximum of the unit", Type: "number", Value: val("max_units", strconv.Itoa(a.MaxUnits)), Hint: "0: no maximum."},
		{Name: "licensed_sessions", Label: "Licensed sessions", Type: "number", Value: val("licensed_sessions", strconv.Itoa(a.LicensedSessions)), Hint: "Purchased concurrent sessions; 0: no limit."},
		{Name: "sip_realm", Label: "SIP realm", Value: val("sip_realm", a.SIPRealm), Hint: "The domain SIP devices register with."},
		{Name: "device_calls_application", Label: "Application for SIP device calls", Type: "select", Options: appOptions("device_calls_application", a.DeviceCallsApplication)},
		{Name: "siprec_application", Label: "Application for SIPREC calls", Type: "select", Options: appOptions("siprec_application", a.SIPRECApplication)},
		{Name: "registration_webhook", Label: "Registration webhook", Type: "url", Value: val("registration_webhook", a.RegistrationWebhook)},
		{Name: "queue_event_webhook", Label: "Queue event webhook", Type: "url", Value: val("queue_event_webhook", a.QueueEventWebhook)},
		{Name: "session_webhook", Label: "Session webhook", Type: "url", Value: val("session_webhook", a.SessionWebhook), Hint: "Notified, signed, when a recorded session ends."},
	}
	canEdit := q.may(rbac.EntityOrganization, rbac.ActionUpdate)
	for i := range fs {
		f := &fs[i]
		if f.Type == "" {
			f.Type = "text"
		}
		if !canEdit || !c.fields.editable(q.p.Scope, "Account", f.Name) {
			f.ReadOnly = true
			if f.Hint == "" && canEdit {
				f.Hint = "Only the " + scopeLabel(c.fields["Account"][f.Name]) + " scope may change it."
			}
		}
		f.Error = p.FieldError(f.Name)
	}
	return fs
}

func (c *Console) accountPage(q *req) {
	sid := tenancy.SID(q.r.PathValue("sid"))
	a, err := c.adminClient().Account(q.ctx, sid)
	if err != nil {
		q.apiFailed("message", "Account", "accounts", messageView{Heading: "Account"}, err)
		return
	}
	if q.p.Scope != rbac.ScopeAccount {
		q.c.sessions.setAccount(q.s, string(a.SID))
	}
	c.renderAccount(q, http.StatusOK, a, nil, nil)
}

func (c *Console) renderAccount(q *req, status int, a *tenancy.Account, values url.Values, p *problemView) {
	var apps []tenancy.Application
	if l, err := c.adminClient().Applications(q.ctx, a.SID, &admin.ListOptions{PageSize: 500}); err == nil {
		apps = l.Items
	}
	v := accountView{Account: a, Fields: c.accountFields(q, a, values, apps, p),
		CanEdit: q.may(rbac.EntityOrganization, rbac.ActionUpdate), CanRotate: q.may(rbac.EntityOrganization, rbac.ActionUpdate)}
	q.page(status, "account", "Account settings", "accounts", v, p)
}

// saveAccount sends the settings the member changed.
func (c *Console) saveAccount(q *req) {
	sid := tenancy.SID(q.r.PathValue("sid"))
	cl := c.adminClient()
	cur, err := cl.Account(q.ctx, sid)
	if err != nil {
		q.apiFailed("message", "Account", "accounts", messageView{Heading: "Account"}, err)
		return
	}
	f := q.r.PostForm
	var patch admin.AccountPatch
	changed := false
	str := func(name, stored string, dst **string) {
		if v, ok := f[name]; ok && strings.TrimSpace(v[0]) != stored {
			s := strings.TrimSpace(v[0])
			*dst, changed = &s, true
		}
	}
	num := func(name string, stored int, dst **int) bool {
		v, ok := f[name]
		if !ok || strings.TrimSpace(v[0]) == strconv.Itoa(stored) {
			return true
		}
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil {
			c.renderAccount(q, http.StatusUnprocessableEntity, cur, f, &problemView{Status: 422, Title: "Invalid value",
				Detail: "not a whole number", Fields: map[string]string{name: "want a whole number"}})
			return false
		}
		*dst, changed = &n, true
		return true
	}
	str("name", cur.Name, &patch.Name)
	str("service_provider", cur.ServiceProvider, &patch.ServiceProvider)
	if v, ok := f["unit"]; ok && v[0] != string(cur.EffectiveUnit()) {
		u := tenancy.Unit(v[0])
		patch.Unit, changed = &u, true
	}
	if !num("max_units", cur.MaxUnits, &patch.MaxUnits) || !num("licensed_sessions", cur.LicensedSessions, &patch.LicensedSessions) {
		return
	}
	str("sip_realm", cur.SIPRealm, &patch.SIPRealm)
	for _, app := range []struct {
		name   string
		stored tenancy.SID
		dst    **tenancy.SID
	}{{"device_calls_application", cur.DeviceCallsApplication, &patch.DeviceCallsApplication}, {"siprec_application", cur.SIPRECApplication, &patch.SIPRECApplication}} {
		if v, ok := f[app.name]; ok && v[0] != string(app.stored) {
			s := tenancy.SID(v[0])
			*app.dst, changed = &s, true
		}
	}
	str("registration_webhook", cur.RegistrationWebhook, &patch.RegistrationWebhook)
	str("queue_event_webhook", cur.QueueEventWebhook, &patch.QueueEventWebhook)
	str("session_webhook", cur.SessionWebhook, &patch.SessionWebhook)
	if !changed {
		q.done(c.prefix+"accounts/"+url.PathEscape(string(sid)), &flash{OK: true, Text: "Nothing changed."})
		return
	}
	rev, _ := strconv.ParseInt(f.Get("revision"), 10, 64)
	if _, err := cl.UpdateAccount(q.ctx, sid, patch, rev); err != nil {
		c.renderAccount(q, http.StatusOK, cur, f, problemOf(err))
		return
	}
	q.done(c.prefix+"accounts/"+url.PathEscape(string(sid)), &flash{OK: true, Text: "Settings saved."})
}

func (c *Console) rotateSecret(q *req) {
	sid := tenancy.SID(q.r.PathValue("sid"))
	rev, _ := strconv.ParseInt(q.r.PostForm.Get("revision"), 10, 64)
	r, err := c.adminClient().RotateWebhookSecret(q.ctx, sid, rev)
	if err != nil {
		a, rerr := c.adminClient().Account(q.ctx, sid)
		if rerr != nil {
			q.apiFailed("message", "Account", "accounts", messageView{Heading: "Account"}, rerr)
			return
		}
		c.renderAccount(q, http.StatusOK, a, nil, problemOf(err))
		return
	}
	q.done(c.prefix+"accounts/"+url.PathEscape(string(sid)), &flash{OK: true,
		Text: "Webhook secret rotated. Webhooks are signed with the previous one too until " + fmtTime(r.PreviousWebhookSecretUntil) + ".", Secret: r.WebhookSecret})
}
