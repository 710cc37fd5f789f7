package console

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// The pages are Go templates rendered on the server; the CSS and the one
// small script (copy buttons, showing the chosen bucket vendor's fields)
// are embedded files. Nothing is built with Node, and every page works
// without JavaScript.

//go:embed templates/*.html static/*
var assets embed.FS

type templates struct {
	set map[string]*template.Template
}

func parseTemplates(prefix string) (*templates, error) {
	funcs := template.FuncMap{
		"path":     func(p ...string) string { return prefix + strings.Join(p, "") },
		"time":     fmtTime,
		"date":     func(t time.Time) string { return fmtDate(t) },
		"duration": fmtDuration,
		"join":     strings.Join,
		"pe":       url.PathEscape,
		"lower":    strings.ToLower,
		"title":    titleCase,
		"has":      func(a rbac.Action, want rbac.Action) bool { return a.Has(want) },
		"hasAdv":   func(a rbac.Advanced, want rbac.Advanced) bool { return a.Has(want) },
		"add":      func(a, b int) int { return a + b },
		"avgDuration": func(ms *float64) string {
			if ms == nil {
				return ""
			}
			return fmtDuration(int64(*ms))
		},
		"svg": func(s string) template.HTML { return template.HTML(s) }, // charts built by chart.go from numbers only
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	pages, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	t := &templates{set: map[string]*template.Template{}}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		pt, err := template.Must(base.Clone()).ParseFS(assets, p)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		t.set[name] = pt
	}
	return t, nil
}

// render writes page name with v (buffered, so a template error sends no
// half page).
func (t *templates) render(w io.Writer, name string, v *view) error {
	pt, ok := t.set[name]
	if !ok {
		return fmt.Errorf("console: no template %q", name)
	}
	var b bytes.Buffer
	if err := pt.ExecuteTemplate(&b, "layout", v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// view is what every page template gets.
type view struct {
	Title   string
	Prefix  string
	Current string // the nav entry of the page
	Nav     []navItem
	Me      *meView
	CSRF    string
	Flash   *flash
	Problem *problemView
	// Accounts lets a service provider or admin member pick the account
	// the page works on; Account is the current one.
	Accounts    []accountOption
	Account     string
	AccountName string
	Data        any
}

type meView struct {
	Email string
	Scope string
}

type navItem struct {
	Key, Label, Href string
}

type accountOption struct {
	SID, Name string
	Selected  bool
}

// problemView is an API refusal shown on a form: the API's own words and
// the fields it names.
type problemView struct {
	Status int
	Title  string
	Detail string
	Fields map[string]string
	List   []admin.FieldProblem
}

// FieldError returns the API's words about one field ("" when none).
func (p *problemView) FieldError(name string) string {
	if p == nil {
		return ""
	}
	return p.Fields[name]
}

func problemOf(err error) *problemView {
	var p *admin.Problem
	if errors.As(err, &p) {
		v := &problemView{Status: p.Status, Title: p.Title, Detail: p.Detail, Fields: map[string]string{}, List: p.Errors}
		for _, f := range p.Errors {
			v.Fields[f.Field] = f.Detail
		}
		return v
	}
	var ie *insights.APIError
	if errors.As(err, &ie) {
		return &problemView{Status: ie.StatusCode, Title: http.StatusText(ie.StatusCode), Detail: ie.Message}
	}
	if errors.Is(err, insights.ErrInvalidQuery) {
		return &problemView{Status: http.StatusBadRequest, Title: "Invalid search", Detail: strings.TrimPrefix(err.Error(), "insights: ")}
	}
	return &problemView{Status: http.StatusInternalServerError, Title: "The request failed", Detail: "The request could not be completed; see the gateway's log."}
}

// page renders a page of a signed-in member.
func (q *req) page(status int, name, title, current string, data any, problem *problemView) {
	v := &view{Title: title, Prefix: q.c.prefix, Current: current, CSRF: q.s.csrf, Data: data, Problem: problem,
		Me:    &meView{Email: q.s.email, Scope: scopeLabel(q.p.Scope)},
		Flash: q.c.sessions.takeFlash(q.s), Nav: q.nav()}
	if q.p.Scope != rbac.ScopeAccount {
		v.Account = q.account()
		if list, err := q.c.adminClient().Accounts(q.ctx, &admin.AccountListOptions{ListOptions: admin.ListOptions{PageSize: 500}}); err == nil {
			for _, a := range list.Items {
				v.Accounts = append(v.Accounts, accountOption{SID: string(a.SID), Name: a.Name, Selected: string(a.SID) == v.Account})
				if string(a.SID) == v.Account {
					v.AccountName = a.Name
				}
			}
		}
	}
	if problem != nil && status < 400 {
		status = problem.Status
	}
	q.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	q.w.WriteHeader(status)
	if err := q.c.pages.render(q.w, name, v); err != nil {
		q.c.log.ErrorContext(q.ctx, "console: rendering a page", "page", name, "error", err)
	}
}

// done ends a form: a flash for the next page, and a redirect to it (so a
// reload does not send the form again).
func (q *req) done(to string, f *flash) {
	if f != nil {
		q.c.sessions.setFlash(q.s, f)
	}
	http.Redirect(q.w, q.r, to, http.StatusSeeOther)
}

// nav lists the pages, hiding those whose API the member's role cannot
// read.
func (q *req) nav() []navItem {
	p := q.c.prefix
	items := []navItem{{"dashboard", "Dashboard", p}}
	if q.may(rbac.EntityInteraction, rbac.ActionRead) {
		items = append(items, navItem{"calls", "Recent calls", p + "calls"})
	}
	if q.may(rbac.EntityOrganization, rbac.ActionRead) || q.may(rbac.EntitySubOrganization, rbac.ActionRead) {
		items = append(items, navItem{"accounts", "Accounts", p + "accounts"})
	}
	if q.may(rbac.EntityAgent, rbac.ActionRead) {
		items = append(items, navItem{"applications", "Applications", p + "applications"})
	}
	if q.may(rbac.EntityPhone, rbac.ActionRead) {
		items = append(items, navItem{"sip", "SIP users and allowlist", p + "sip"})
	}
	if q.may(rbac.EntityOrganization, rbac.ActionRead) {
		items = append(items,
			navItem{"recording", "Recording", p + "recording"},
			navItem{"cad", "Call attached data", p + "cad"},
			navItem{"keys", "API keys", p + "keys"},
			navItem{"members", "Members and roles", p + "members"})
		if q.p.Scope == rbac.ScopeAdmin {
			items = append(items, navItem{"smtp", "SMTP", p + "smtp"})
		}
	}
	return items
}

func scopeLabel(s rbac.Scope) string {
	switch s {
	case rbac.ScopeAdmin:
		return "Admin"
	case rbac.ScopeServiceProvider:
		return "Service provider"
	case rbac.ScopeAccount:
		return "Account"
	}
	return s.String()
}

func titleCase(s string) string {
	s = strings.ReplaceAll(s, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

// fmtDuration writes milliseconds as m:ss (h:mm:ss past an hour).
func fmtDuration(ms int64) string {
	if ms <= 0 {
		return "0:00"
	}
	s := (ms + 500) / 1000
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
