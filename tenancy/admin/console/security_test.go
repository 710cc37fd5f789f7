package console_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy/admin/console"
)

// clock is a settable clock for expiry and lockout.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// Every page and form of the console, as a member would use them.
func consoleRoutes(w *world) (gets, posts []string) {
	a, call := string(w.a.SID), url.PathEscape(w.callA.ID)
	gets = []string{"/console/", "/console/calls", "/console/calls/" + call + "?start=" + w.callA.SessionStartTime.Format("2006-01-02"),
		"/console/calls/" + call + "/recording", "/console/accounts", "/console/accounts/" + a, "/console/applications",
		"/console/sip", "/console/recording", "/console/cad", "/console/keys", "/console/members", "/console/roles/x", "/console/smtp",
		"/console/no-such-page"}
	posts = []string{"/console/signout", "/console/accounts", "/console/accounts/" + a, "/console/accounts/" + a + "/rotate",
		"/console/applications", "/console/applications/x", "/console/applications/x/delete", "/console/sip/users",
		"/console/sip/users/u/password", "/console/sip/users/u/delete", "/console/sip/allowlist", "/console/recording",
		"/console/recording/test", "/console/cad", "/console/keys", "/console/keys/x/delete", "/console/members",
		"/console/members/x", "/console/members/x/password", "/console/members/x/delete", "/console/roles",
		"/console/roles/x", "/console/roles/x/delete", "/console/smtp", "/console/smtp/test"}
	return gets, posts
}

// Without a session no page shows anything and no form does anything:
// every request is sent to sign in. A session cookie is no API credential
// either: the admin and Insights APIs still want a key.
func TestNothingWithoutASession(t *testing.T) {
	w := newWorld(t)
	gets, posts := consoleRoutes(w)
	for _, planted := range []string{"", "forged-session-id"} {
		b := w.browser()
		if planted != "" {
			u, _ := url.Parse(w.srv.URL + "/console/")
			b.jar.SetCookies(u, []*http.Cookie{{Name: "voicegw_console", Value: planted, Path: "/console/"}})
		}
		for _, p := range gets {
			r := b.get(p)
			if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/console/signin") {
				t.Errorf("GET %s without a session (cookie %q): %d %s, want a redirect to sign in", p, planted, r.status, r.header.Get("Location"))
			}
			if strings.Contains(r.body, w.callA.Source) || strings.Contains(r.body, "RIFF") {
				t.Errorf("GET %s without a session leaks data", p)
			}
		}
		for _, p := range posts {
			r := b.do(http.MethodPost, p, url.Values{"name": {"x"}, "csrf": {"guess"}})
			if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/console/signin") {
				t.Errorf("POST %s without a session: %d, want a redirect to sign in", p, r.status)
			}
		}
	}
	// Nothing was created by those forms.
	if keys, _ := w.keys.Keys(context.Background(), rbac.Owner{Scope: rbac.ScopeAccount, Account: string(w.a.SID)}); len(keys) != 0 {
		t.Fatalf("forms without a session created %d keys", len(keys))
	}
	// A signed-in browser's cookie does not open the APIs.
	b := w.browser()
	b.mustSignIn(w.ann.Email)
	for _, p := range []string{"/admin/v1/me", "/admin/v1/accounts/" + string(w.a.SID), "/insights/sessions/search/" + w.callA.ID} {
		if r := b.get(p); r.status != http.StatusUnauthorized {
			t.Errorf("GET %s with only the console's cookie: %d, want 401", p, r.status)
		}
	}
}

// Every form needs the session's CSRF token: a form without it, with a
// wrong one or with another session's is refused and changes nothing; a
// browser's cross-site POST is refused before the token is looked at.
func TestCSRFTokenRequired(t *testing.T) {
	w := newWorld(t)
	ann, other := w.browser(), w.browser()
	ann.mustSignIn(w.ann.Email)
	other.mustSignIn(w.ann.Email)
	token := ann.get("/console/keys").csrf(t)
	otherToken := other.get("/console/keys").csrf(t)
	if token == otherToken {
		t.Fatal("two sessions share a CSRF token")
	}
	_, posts := consoleRoutes(w)
	for _, p := range posts {
		for name, tok := range map[string]string{"no token": "", "wrong token": "x" + token[1:], "another session's token": otherToken} {
			form := url.Values{"name": {"csrf-victim"}, "service_type": {"insights"}, "email": {"x@acme.example.com"}}
			if tok != "" {
				form.Set("csrf", tok)
			}
			if r := ann.do(http.MethodPost, p, form); r.status != http.StatusForbidden {
				t.Errorf("POST %s with %s: %d, want 403", p, name, r.status)
			}
		}
	}
	ctx := context.Background()
	countKeys := func() int {
		keys, err := w.keys.Keys(ctx, rbac.Owner{Scope: rbac.ScopeAccount, Account: string(w.a.SID)})
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	if n := countKeys(); n != 0 {
		t.Fatalf("refused forms created %d keys", n)
	}
	// The signed-out form too: the session is still alive.
	if r := ann.get("/console/keys"); r.status != http.StatusOK {
		t.Fatalf("signed out by a forged form: %d", r.status)
	}
	// A browser's cross-site POST (Sec-Fetch-Site), even with the token.
	form := url.Values{"csrf": {token}, "name": {"cross-site"}, "service_type": {"insights"}}
	if r := ann.do(http.MethodPost, "/console/keys", form, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); r.status != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d, want 403", r.status)
	}
	if n := countKeys(); n != 0 {
		t.Fatalf("the cross-site POST created a key")
	}
	// The same form with the token, from the console itself, works.
	if r := ann.do(http.MethodPost, "/console/keys", form, "Sec-Fetch-Site", "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("POST with the token: %d %.300s", r.status, r.body)
	}
	if n := countKeys(); n != 1 {
		t.Fatalf("%d keys after the genuine form, want 1", n)
	}
	// The sign-in form has its own token (double submit).
	fresh := w.browser()
	if r := fresh.do(http.MethodPost, "/console/signin", url.Values{"email": {w.ann.Email}, "password": {password}}); r.status != http.StatusForbidden {
		t.Fatalf("sign-in without its token: %d, want 403", r.status)
	}
	if fresh.cookie("voicegw_console") != "" {
		t.Fatal("a sign-in without its token got a session")
	}
}

// A member of account A edits URLs to reach account B's calls, recordings,
// settings, keys and roles: everything answers as if it did not exist.
func TestAccountIsolationByURL(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	bKey, err := w.keys.Create(ctx, rbac.NewAPIKey{Name: "bolt crm", ServiceType: "insights", Account: string(w.b.SID), CreatorEmail: w.bob.Email}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bRoles, _ := w.members.Roles(ctx, string(w.b.SID))
	ann := w.browser()
	ann.mustSignIn(w.ann.Email)
	day := w.callB.SessionStartTime.Format("2006-01-02")
	bCall := url.PathEscape(w.callB.ID)
	for _, p := range []string{
		"/console/calls/" + bCall + "?start=" + day,
		"/console/calls/" + bCall,
		"/console/calls/" + bCall + "?start=" + day + "&account=" + string(w.b.SID),
		"/console/calls/" + bCall + "/recording?start=" + day,
		"/console/calls/" + bCall + "/recording?start=" + day + "&account=" + string(w.b.SID) + "&download=1",
		"/console/accounts/" + string(w.b.SID),
		"/console/roles/" + bRoles[0].ID,
	} {
		r := ann.get(p)
		if r.status != http.StatusNotFound {
			t.Errorf("Ann GET %s: %d, want 404", p, r.status)
		}
		for _, leak := range []string{w.callB.Source, "RIFF", "Bolt", "bolt.example.com"} {
			if strings.Contains(r.body, leak) {
				t.Errorf("Ann GET %s shows %q of account B", p, leak)
			}
		}
	}
	// Naming B in ?account= changes nothing for an account member.
	for _, p := range []string{"/console/calls?account=" + string(w.b.SID), "/console/keys?account=" + string(w.b.SID),
		"/console/members?account=" + string(w.b.SID), "/console/sip?account=" + string(w.b.SID)} {
		r := ann.get(p)
		if r.status != http.StatusOK {
			t.Errorf("Ann GET %s: %d", p, r.status)
		}
		for _, leak := range []string{"15559990000", "bolt crm", w.bob.Email} {
			if strings.Contains(r.body, leak) {
				t.Errorf("Ann GET %s shows %q of account B", p, leak)
			}
		}
	}
	// Deleting B's key by its ID is refused; the key still works.
	tok := ann.get("/console/keys").csrf(t)
	r := ann.do(http.MethodPost, "/console/keys/"+bKey.ID+"/delete", url.Values{"csrf": {tok}})
	if r.status != http.StatusNotFound {
		t.Errorf("Ann deleting B's key: %d, want 404", r.status)
	}
	if _, err := w.keys.VerifyKey(ctx, bKey.Secret); err != nil {
		t.Fatalf("B's key after Ann's attempt: %v", err)
	}
	// Bob sees his call and not Ann's.
	bob := w.browser()
	bob.mustSignIn(w.bob.Email)
	if r := bob.get("/console/calls"); !strings.Contains(r.body, "15559990000") || strings.Contains(r.body, "15550001111") {
		t.Fatalf("Bob's calls page: %.500s", r.body)
	}
	if r := bob.get("/console/calls/" + url.PathEscape(w.callA.ID) + "/recording"); r.status != http.StatusNotFound || strings.Contains(r.body, "RIFF") {
		t.Fatalf("Bob fetching A's recording: %d", r.status)
	}
}

// Sign-in issues a new session ID: an ID planted before it (session
// fixation) and the ID of an earlier sign-in are worth nothing after it.
func TestSessionFixation(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	u, _ := url.Parse(w.srv.URL + "/console/")
	const planted = "planted-by-the-attacker-0123456789abcdefghijklmn"
	b.jar.SetCookies(u, []*http.Cookie{{Name: "voicegw_console", Value: planted, Path: "/console/"}})
	b.mustSignIn(w.ann.Email)
	first := b.cookie("voicegw_console")
	if first == "" || first == planted {
		t.Fatalf("session cookie after sign-in = %q, want a new ID", first)
	}
	attacker := w.browser()
	attacker.jar.SetCookies(u, []*http.Cookie{{Name: "voicegw_console", Value: planted, Path: "/console/"}})
	if r := attacker.get("/console/calls"); r.status != http.StatusSeeOther {
		t.Fatalf("the planted ID opens the console: %d", r.status)
	}
	// Signing in again (a shared computer) ends the earlier session.
	b.mustSignIn(w.ann.Email)
	second := b.cookie("voicegw_console")
	if second == first {
		t.Fatal("a second sign-in kept the session ID")
	}
	old := w.browser()
	old.jar.SetCookies(u, []*http.Cookie{{Name: "voicegw_console", Value: first, Path: "/console/"}})
	if r := old.get("/console/calls"); r.status != http.StatusSeeOther {
		t.Fatalf("the first session's ID still works: %d", r.status)
	}
	if r := b.get("/console/calls"); r.status != http.StatusOK {
		t.Fatalf("the new session: %d", r.status)
	}
}

// Repeated failures lock the email (whether or not it exists, so the lock
// tells nothing) and throttle the source address; a locked email is not
// checked at all, even with the right password, until the lock expires.
func TestLockout(t *testing.T) {
	clk := &clock{now: time.Now()}
	src := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: 8, Every: time.Minute, Clock: clk.Now})
	w := newWorld(t, worldOptions{edit: func(c *console.Config) {
		c.Clock, c.FailedSignIns, c.LockoutThreshold, c.LockoutDuration = clk.Now, src, 3, 10*time.Minute
	}})
	b := w.browser()
	wrong := func(email string) page { return b.signIn(email, "not the password at all") }
	for i := range 3 {
		if r := wrong(w.ann.Email); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong email or password") {
			t.Fatalf("failure %d: %d", i+1, r.status)
		}
	}
	r := b.signIn(w.ann.Email, password)
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many failed sign-ins for this email") || r.header.Get("Retry-After") == "" {
		t.Fatalf("right password on a locked email: %d %q", r.status, r.header.Get("Retry-After"))
	}
	if b.cookie("voicegw_console") != "" {
		t.Fatal("a locked email got a session")
	}
	// An unknown email locks the same way and answers the same words.
	for range 3 {
		wrong("nobody@acme.example.com")
	}
	if r := wrong("nobody@acme.example.com"); r.status != http.StatusTooManyRequests {
		t.Fatalf("unknown email after 3 failures: %d", r.status)
	}
	// Other emails from this address: the source has used its allowance
	// (8 failures; the locked attempts were not checked, not counted).
	wrong("carol@acme.example.com")
	if r := wrong("dave@acme.example.com"); r.status != http.StatusUnauthorized {
		t.Fatalf("8th failure from one address: %d, want 401", r.status)
	}
	r = wrong("erin@acme.example.com")
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "from your address") || r.header.Get("Retry-After") == "" {
		t.Fatalf("9th failure from one address: %d", r.status)
	}
	if !strings.Contains(w.logs.String(), "email locked after failed sign-ins") {
		t.Error("the lock is not logged")
	}
	if strings.Contains(w.logs.String(), "not the password at all") || strings.Contains(w.logs.String(), password) {
		t.Fatal("a password reached the log")
	}
	// After the lock's duration (and the source's refill) the right
	// password works.
	clk.Add(11 * time.Minute)
	if r := b.signIn(w.ann.Email, password); r.status != http.StatusSeeOther {
		t.Fatalf("after the lock: %d", r.status)
	}
}

// Sessions end at sign-out, when idle too long, at their maximum age, and
// when their member is deleted.
func TestSessionEnds(t *testing.T) {
	clk := &clock{now: time.Now()}
	w := newWorld(t, worldOptions{edit: func(c *console.Config) { c.Clock, c.SessionIdle, c.SessionMax = clk.Now, 10*time.Minute, time.Hour }})
	ctx := context.Background()

	b := w.browser()
	b.mustSignIn(w.ann.Email)
	id := b.cookie("voicegw_console")
	tok := b.get("/console/").csrf(t)
	if r := b.get("/console/signout"); r.status != http.StatusNotFound {
		t.Fatalf("GET signout: %d, want 404 (signing out is a form)", r.status)
	}
	if r := b.do(http.MethodPost, "/console/signout", url.Values{"csrf": {tok}}); r.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", r.status)
	}
	replay := w.browser()
	u, _ := url.Parse(w.srv.URL + "/console/")
	replay.jar.SetCookies(u, []*http.Cookie{{Name: "voicegw_console", Value: id, Path: "/console/"}})
	if r := replay.get("/console/"); r.status != http.StatusSeeOther {
		t.Fatalf("the signed-out session ID: %d", r.status)
	}

	b.mustSignIn(w.ann.Email)
	clk.Add(9 * time.Minute)
	if r := b.get("/console/"); r.status != http.StatusOK {
		t.Fatalf("after 9 idle minutes: %d", r.status)
	}
	clk.Add(11 * time.Minute)
	if r := b.get("/console/"); r.status != http.StatusSeeOther {
		t.Fatalf("after 11 idle minutes: %d", r.status)
	}
	b.mustSignIn(w.ann.Email)
	for range 7 { // active every 9 minutes, past the hour
		clk.Add(9 * time.Minute)
		b.get("/console/")
	}
	if r := b.get("/console/"); r.status != http.StatusSeeOther {
		t.Fatalf("past the maximum age: %d", r.status)
	}
	b.mustSignIn(w.ann.Email)
	if err := w.members.DeleteMember(ctx, w.ann.ID); err != nil {
		t.Fatal(err)
	}
	if r := b.get("/console/"); r.status != http.StatusSeeOther {
		t.Fatalf("a deleted member's session: %d", r.status)
	}
}

// Cookies are HttpOnly and SameSite=Strict, scoped to the console; Secure
// over TLS and when configured behind a TLS proxy.
func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool
	}{{"plain HTTP", false}, {"behind a TLS proxy", true}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, worldOptions{edit: func(c *console.Config) { c.SecureCookies = tc.secure }})
			b := w.browser()
			form := b.get("/console/signin")
			req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/console/signin", strings.NewReader(url.Values{"csrf": {form.csrf(t)}, "email": {w.ann.Email}, "password": {password}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			name := "voicegw_console_signin"
			if tc.secure {
				name = "__Secure-" + name
			}
			req.AddCookie(&http.Cookie{Name: name, Value: form.csrf(t)})
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var sess *http.Cookie
			for _, c := range resp.Cookies() {
				if strings.HasSuffix(c.Name, "voicegw_console") {
					sess = c
				}
			}
			if sess == nil {
				t.Fatalf("no session cookie: %d %v", resp.StatusCode, resp.Header["Set-Cookie"])
			}
			if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/console/" || sess.Secure != tc.secure {
				t.Fatalf("session cookie %+v", sess)
			}
			if tc.secure != strings.HasPrefix(sess.Name, "__Secure-") {
				t.Fatalf("cookie name %q", sess.Name)
			}
		})
	}
	// Over TLS the cookie is Secure without configuration.
	w := newWorld(t)
	srv := w.tlsServer()
	b := w.browser()
	b.c.Transport = srv.Client().Transport
	resp, err := b.c.Get(srv.URL + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if !c.Secure || !strings.HasPrefix(c.Name, "__Secure-") {
			t.Fatalf("cookie over TLS: %+v", c)
		}
	}
}

// Wrong password and unknown email get the same answer; the next
// parameter never leads outside the console; pages carry the security
// headers.
func TestSignInAnswers(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	wrong := b.signIn(w.ann.Email, "wrong password here")
	unknown := b.signIn("nobody@acme.example.com", "wrong password here")
	if wrong.status != unknown.status || !strings.Contains(wrong.body, "Wrong email or password") || !strings.Contains(unknown.body, "Wrong email or password") {
		t.Fatalf("wrong password %d, unknown email %d", wrong.status, unknown.status)
	}
	for next, want := range map[string]string{
		"/console/calls?from=2025-01-01": "/console/calls?from=2025-01-01",
		"//evil.example/console/":        "/console/",
		"https://evil.example/":          "/console/",
		"/admin/v1/me":                   "/console/",
		"/console/\\evil":                "/console/",
	} {
		form := b.get("/console/signin?next=" + url.QueryEscape(next))
		r := b.do(http.MethodPost, "/console/signin", url.Values{"csrf": {form.csrf(t)}, "email": {w.ann.Email}, "password": {password}, "next": {next}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != want {
			t.Errorf("next=%q: %d to %q, want %q", next, r.status, r.header.Get("Location"), want)
		}
	}
	p := b.get("/console/calls")
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := p.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

// The console's recording endpoint plays what Playback serves, with Range
// (an audio element seeks with it) and the WAV's type; download names it.
func TestRecordingRanges(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.mustSignIn(w.ann.Email)
	p := "/console/calls/" + url.PathEscape(w.callA.ID) + "/recording?start=" + w.callA.SessionStartTime.Format("2006-01-02")
	r := b.do(http.MethodGet, p, nil, "Range", "bytes=100-1099")
	if r.status != http.StatusPartialContent || r.body != string(w.wav[100:1100]) || r.header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("ranged GET: %d %q, %d bytes", r.status, r.header.Get("Content-Type"), len(r.body))
	}
	r = b.get(p + "&download=1")
	if r.status != http.StatusOK || !bytes.Equal([]byte(r.body), w.wav) || !strings.Contains(r.header.Get("Content-Disposition"), `attachment; filename=`+w.callA.ID+".wav") {
		t.Fatalf("download: %d %q", r.status, r.header.Get("Content-Disposition"))
	}
	// A member without interaction read hears nothing.
	ctx := context.Background()
	var none rbac.Privileges
	none.Grant(rbac.EntityOrganization, rbac.ActionRead)
	role := w.role(w.a.SID, "Settings only", none)
	w.member("sam@acme.example.com", rbac.ScopeAccount, w.a.SID, role.ID)
	sam := w.browser()
	sam.mustSignIn("sam@acme.example.com")
	if r := sam.get(p); r.status != http.StatusNotFound || strings.Contains(r.body, "RIFF") {
		t.Fatalf("a member without interaction read: %d", r.status)
	}
	_ = ctx
}

// What the scope may not change is refused by the API, whatever the form
// sends, and the page names the field; nothing changes.
func TestForbiddenFieldRefused(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.mustSignIn(w.ann.Email)
	page := b.get("/console/accounts/" + string(w.a.SID))
	if !strings.Contains(page.body, `id="f-licensed_sessions" name="licensed_sessions" type="number" value="0" readonly`) {
		t.Fatalf("licensed sessions not read-only for an account member: %.3000s", page.body)
	}
	r := b.do(http.MethodPost, "/console/accounts/"+string(w.a.SID), url.Values{"csrf": {page.csrf(t)}, "licensed_sessions": {"500"}, "name": {"Acme"}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "licensed_sessions") || !strings.Contains(r.body, "only admin scope may change it") {
		t.Fatalf("tampered licensed_sessions: %d %.2000s", r.status, r.body)
	}
	a, _ := w.tenants.Account(context.Background(), w.a.SID)
	if a.LicensedSessions != 0 {
		t.Fatalf("licensed sessions became %d", a.LicensedSessions)
	}
	// The admin may.
	root := w.browser()
	root.mustSignIn(w.root.Email)
	page = root.get("/console/accounts/" + string(w.a.SID))
	if strings.Contains(page.body, `name="licensed_sessions" type="number" value="0" readonly`) {
		t.Fatal("licensed sessions read-only for the admin")
	}
	if r := root.do(http.MethodPost, "/console/accounts/"+string(w.a.SID), url.Values{"csrf": {page.csrf(t)}, "licensed_sessions": {"500"}}); r.status != http.StatusSeeOther {
		t.Fatalf("admin sets licensed sessions: %d %.1000s", r.status, r.body)
	}
	a, _ = w.tenants.Account(context.Background(), w.a.SID)
	if a.LicensedSessions != 500 {
		t.Fatalf("licensed sessions = %d after the admin's save", a.LicensedSessions)
	}
}

// An API key made in the console works with a real HTTP client at once,
// and stops working at once when deleted in the console.
func TestConsoleKeyWorksWithAnHTTPClient(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.mustSignIn(w.ann.Email)
	tok := b.get("/console/keys").csrf(t)
	if r := b.do(http.MethodPost, "/console/keys", url.Values{"csrf": {tok}, "name": {"curl"}, "service_type": {"insights"}}); r.status != http.StatusSeeOther {
		t.Fatalf("create key: %d %.500s", r.status, r.body)
	}
	page := b.get("/console/keys")
	secret := secretOf(t, page.body)
	if again := b.get("/console/keys"); strings.Contains(again.body, secret) {
		t.Fatal("the secret is shown a second time")
	}
	search := w.srv.URL + "/insights/sessions?" + url.Values{"from_date": {w.now.AddDate(0, 0, -1).Format("2006-01-02")}, "to_date": {w.now.Format("2006-01-02")}}.Encode()
	status, body := curl(t, search, secret)
	if status != http.StatusOK || !strings.Contains(body, w.callA.ID) || strings.Contains(body, w.callB.ID) {
		t.Fatalf("the new key on the Insights API: %d %.300s", status, body)
	}
	keys, _ := w.keys.Keys(context.Background(), rbac.Owner{Scope: rbac.ScopeAccount, Account: string(w.a.SID)})
	if len(keys) != 1 || keys[0].CreatorEmail != w.ann.Email || !strings.Contains(page.body, keys[0].Masked) {
		t.Fatalf("keys %+v: want one, created by Ann, listed masked", keys)
	}
	tok = page.csrf(t)
	if r := b.do(http.MethodPost, "/console/keys/"+keys[0].ID+"/delete", url.Values{"csrf": {tok}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	if status, _ := curl(t, search, secret); status != http.StatusUnauthorized {
		t.Fatalf("the deleted key: %d, want 401", status)
	}
}

// secretOf finds the once-shown secret in a page.
func secretOf(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, `id="once-secret"`)
	if i < 0 {
		t.Fatalf("no secret shown: %.1500s", body)
	}
	rest := body[i:]
	j := strings.Index(rest, `value="`)
	rest = rest[j+len(`value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

func curl(t *testing.T, u, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set(insights.KeyHeader, key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
