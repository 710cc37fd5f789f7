package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// maxFormBytes bounds a form's body.
const maxFormBytes = 1 << 20

// req is one request of a signed-in member.
type req struct {
	c      *Console
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context // carries the member's caller for the API clients
	s      *session
	caller *admin.Caller
	p      *rbac.Principal
}

// account returns the account the page works on: an account member's own;
// for service provider and admin members the one named by the "account"
// query or form value (which it remembers), else the one chosen last (""
// for none: every account, for an admin).
func (q *req) account() string {
	if q.p.Scope == rbac.ScopeAccount {
		return q.p.Account
	}
	_ = q.r.FormValue("account") // parses the query and the form
	if v, ok := q.r.Form["account"]; ok && len(v) > 0 {
		// Present, even empty: an admin's "All accounts" is "".
		a := strings.TrimSpace(v[0])
		q.c.sessions.setAccount(q.s, a)
		return a
	}
	return q.c.sessions.accountOf(q.s)
}

// insightsCtx returns the context of Insights API calls about account.
func (q *req) insightsCtx(account string) context.Context {
	if q.p.Scope == rbac.ScopeAccount || account == "" {
		return q.ctx
	}
	return withInsightsAccount(q.ctx, account)
}

// may reports whether the member's role grants action on entity (to hide
// what it cannot use; the API decides every request anyway).
func (q *req) may(e rbac.Entity, a rbac.Action) bool { return q.p.Privileges.Allows(e, a) }

// member wraps a page handler: it finds the member's session (else sends
// the browser to sign in), reads the member's current principal (a deleted
// member is signed out), checks the CSRF token of every form, and gives the
// handler a context whose API calls act as the member.
func (c *Console) member(h func(*req)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, ok := c.sessions.get(c.cookie(r, sessionCookie))
		if !ok {
			c.toSignIn(w, r)
			return
		}
		ctx := r.Context()
		p, err := c.members.Principal(ctx, s.memberID)
		if errors.Is(err, rbac.ErrNotFound) {
			c.sessions.end(s)
			c.toSignIn(w, r)
			return
		}
		if err != nil {
			c.log.ErrorContext(ctx, "console: member store unavailable", "error", err)
			http.Error(w, "The member store is unavailable; retry in a moment.", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseMultipartForm(maxFormBytes); err != nil && !errors.Is(err, http.ErrNotMultipart) {
				http.Error(w, "The form could not be read.", http.StatusBadRequest)
				return
			}
			if !validCSRF(s.csrf, r.PostForm.Get("csrf")) {
				c.log.InfoContext(ctx, "console: form without a valid CSRF token refused", "path", r.URL.Path, "member", s.email)
				c.forbidden(w, r)
				return
			}
		}
		caller := &admin.Caller{Principal: p, Email: s.email}
		h(&req{c: c, w: w, r: r, ctx: withCaller(ctx, caller), s: s, caller: caller, p: p})
	}
}

func (c *Console) forbidden(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	_ = c.pages.render(w, "forbidden", &view{Title: "Form refused", Prefix: c.prefix})
}

// toSignIn sends the browser to the sign-in page, back to r's page after.
func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request) {
	u := c.prefix + "signin"
	if r.Method == http.MethodGet && r.URL.Path != c.prefix+"signin" {
		u += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// safeNext returns next when it is a path of the console, else the
// dashboard: the sign-in never redirects elsewhere.
func (c *Console) safeNext(next string) string {
	if strings.HasPrefix(next, c.prefix) && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		if u, err := url.Parse(next); err == nil && u.Host == "" && u.Scheme == "" {
			return next
		}
	}
	return c.prefix
}

type signInView struct {
	Email string
	Next  string
	Token string
}

// signInPage shows the sign-in form with a fresh pre-session CSRF token
// (double submit: the same random value in a cookie and in the form).
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	// Shown to a signed-in browser too: signing in as someone else ends
	// the current session.
	c.renderSignIn(w, r, http.StatusOK, "", r.URL.Query().Get("next"), nil)
}

func (c *Console) renderSignIn(w http.ResponseWriter, r *http.Request, status int, email, next string, f *flash) {
	tok := randomToken()
	c.setCookie(w, r, signinCookie, tok, 3600)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = c.pages.render(w, "signin", &view{Title: "Sign in", Prefix: c.prefix, Flash: f,
		Data: signInView{Email: email, Next: c.safeNext(next), Token: tok}})
}

// signIn checks an email and password. Before the password is looked at:
// the form's token must match its cookie; the email must not be locked;
// the source must not have used its allowance of failures.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	next := r.PostForm.Get("next")
	if !validCSRF(c.cookie(r, signinCookie), r.PostForm.Get("csrf")) {
		c.log.InfoContext(ctx, "console: sign-in without its form token refused")
		c.renderSignIn(w, r, http.StatusForbidden, email, next, &flash{Text: "The sign-in form expired or did not come from this console. Please sign in again."})
		return
	}
	if len(email) > 320 {
		email = email[:320]
	}
	if locked, wait := c.lockout.locked(email); locked {
		c.log.InfoContext(ctx, "console: sign-in to a locked email refused", "email", email)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		c.renderSignIn(w, r, http.StatusTooManyRequests, email, next, &flash{Text: fmt.Sprintf(
			"Too many failed sign-ins for this email. Try again in %s.", roundUp(wait))})
		return
	}
	src := c.addr(r)
	if ok, wait := c.failed.Reserve(src); !ok {
		c.log.InfoContext(ctx, "console: sign-in throttled", "source", src.String())
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		c.renderSignIn(w, r, http.StatusTooManyRequests, email, next, &flash{Text: fmt.Sprintf(
			"Too many failed sign-ins from your address. Try again in %s.", roundUp(wait))})
		return
	}
	m, err := c.members.VerifyPassword(ctx, email, secret.String(r.PostForm.Get("password")))
	switch {
	case errors.Is(err, rbac.ErrWrongPassword):
		if c.lockout.fail(email) {
			c.log.WarnContext(ctx, "console: email locked after failed sign-ins", "email", email, "for", c.cfg.LockoutDuration.String())
		} else {
			c.log.InfoContext(ctx, "console: failed sign-in", "email", email, "source", src.String())
		}
		c.renderSignIn(w, r, http.StatusUnauthorized, email, next, &flash{Text: "Wrong email or password."})
		return
	case err != nil:
		c.failed.Refund(src)
		c.log.ErrorContext(ctx, "console: sign-in could not be checked", "error", err)
		c.renderSignIn(w, r, http.StatusServiceUnavailable, email, next, &flash{Text: "Sign-in is unavailable right now; try again in a moment."})
		return
	}
	c.failed.Refund(src)
	c.lockout.success(email)
	// A new session ID at every sign-in: whatever ID the browser held
	// before (perhaps planted) ends here.
	if old, ok := c.sessions.get(c.cookie(r, sessionCookie)); ok {
		c.sessions.end(old)
	}
	id, _ := c.sessions.create(m.ID, m.Email)
	c.setCookie(w, r, sessionCookie, id, int(c.cfg.SessionMax/time.Second))
	c.setCookie(w, r, signinCookie, "", -1)
	c.log.InfoContext(ctx, "console: signed in", "email", m.Email, "source", src.String())
	http.Redirect(w, r, c.safeNext(next), http.StatusSeeOther)
}

func roundUp(d time.Duration) string {
	if d > time.Minute {
		return strconv.Itoa(int((d+time.Minute-1)/time.Minute)) + " minutes"
	}
	return strconv.Itoa(int((d+time.Second-1)/time.Second)) + " seconds"
}

// signOut ends the member's session.
func (c *Console) signOut(q *req) {
	q.c.sessions.end(q.s)
	c.setCookie(q.w, q.r, sessionCookie, "", -1)
	c.log.InfoContext(q.ctx, "console: signed out", "email", q.s.email)
	http.Redirect(q.w, q.r, c.prefix+"signin", http.StatusSeeOther)
}
