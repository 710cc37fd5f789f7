package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/storage/storagetest"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// The console through the built gateway binary (issue 19): Debian's
// Chromium, headless, driven by chromedp, signs in with what the demo's
// first start printed, finds and plays a call recorded by
// examples/siprec-client, makes an API key and uses it with curl, is
// refused a setting its scope may not change, and sees a broken bucket's
// Test fail. With VOICEGW_SCREENSHOTS=DIR (as the console package's tests)
// each page is written to DIR as a PNG.

// demoWelcome is what a first start printed.
type demoWelcome struct {
	sipPassword, apiKey, adminKey string
	consoleURL, email, password   string
}

func parseWelcome(t *testing.T, out string) demoWelcome {
	t.Helper()
	find := func(re string) string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s in the first start's output:\n%s", re, out)
		}
		return m[1]
	}
	return demoWelcome{
		sipPassword: find(`SIP password +(\S+)`),
		apiKey:      find(`(?m)^  API key +(\S+)`),
		adminKey:    find(`Admin API key +(\S+)`),
		consoleURL:  find(`Console +(http://\S+)`),
		email:       find(`(?m)^    email +(\S+)`),
		password:    find(`(?m)^    password +(\S+)`),
	}
}

// startDemo starts a gateway with the demo account and returns what its
// first start printed.
func startDemo(t *testing.T) (*gwProc, demoWelcome) {
	t.Helper()
	gw := startGateway(t, gwOptions{})
	waitFor(t, 10*time.Second, "the welcome text", func() bool { return strings.Contains(gw.stdout.String(), "Manage accounts") })
	return gw, parseWelcome(t, gw.stdout.String())
}

// sessionsOf returns the session documents the Insights API lists today
// for key, once there are want of them.
func sessionsOf(t *testing.T, gw *gwProc, key string, want int) []map[string]any {
	t.Helper()
	today := time.Now().UTC().Format("2006-01-02")
	var res struct {
		Total int              `json:"total"`
		Hits  []map[string]any `json:"hits"`
	}
	waitFor(t, 20*time.Second, fmt.Sprintf("%d sessions in the Insights API", want), func() bool {
		status, body := httpGetKey(t, gw.url("/insights/sessions?from_date="+today+"&to_date="+today), key)
		if status != http.StatusOK {
			t.Fatalf("Insights: %d %s", status, body)
		}
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatal(err)
		}
		return res.Total == want && len(res.Hits) == want
	})
	return res.Hits
}

// TestFirstStartPrintsConsoleSignInOnce: the first start prints a console
// sign-in for the demo account that works; later starts print none, and no
// log ever holds the password, before or after it is used (and failed
// sign-ins with it are not logged with it either).
func TestFirstStartPrintsConsoleSignInOnce(t *testing.T) {
	data := t.TempDir()
	gw := startGateway(t, gwOptions{DataDir: data})
	waitFor(t, 10*time.Second, "the welcome text", func() bool { return strings.Contains(gw.stdout.String(), "Manage accounts") })
	w := parseWelcome(t, gw.stdout.String())
	if w.consoleURL != gw.url("/console/") || w.email != srsstate.DemoConsoleEmail || len(w.password) < 20 {
		t.Fatalf("console sign-in printed: %+v", w)
	}
	b := newConsoleClient(t, gw)
	if r := b.signIn(w.email, w.password+"x"); r.status == http.StatusSeeOther {
		t.Fatal("a wrong password signed in")
	}
	b.mustSignIn(w.email, w.password)
	if r := b.get("/console/"); r.status != http.StatusOK || !strings.Contains(r.body, "Dashboard") {
		t.Fatalf("the dashboard after sign-in: %d %.300s", r.status, r.body)
	}
	gw.stop()

	gw2 := startGateway(t, gwOptions{DataDir: data, Ports: gw})
	b2 := newConsoleClient(t, gw2)
	b2.mustSignIn(w.email, w.password) // the member and its password were kept
	gw2.stop()
	if strings.Contains(gw2.stdout.String(), "Console ") || strings.Contains(gw2.stdout.String(), "password") {
		t.Errorf("the second start printed a sign-in:\n%s", gw2.stdout.String())
	}
	for name, s := range map[string]string{"first stderr": gw.stderr.String(), "second stdout": gw2.stdout.String(), "second stderr": gw2.stderr.String()} {
		if strings.Contains(s, w.password) {
			t.Errorf("%s holds the console password:\n%s", name, tail(s, 4<<10))
		}
	}
}

// TestConsoleInBrowserThroughBinary is issue 19's "Must show" in a real
// headless Chromium against the built gateway.
func TestConsoleInBrowserThroughBinary(t *testing.T) {
	siprecClient(t)
	gw, w := startDemo(t)
	c := newChromium(t, gw)
	if code, out := sipCall(t, gw, "demo.voicegw.test", "demo", w.sipPassword, 3*time.Second); code != 0 {
		t.Fatalf("the recorded call: exit %d\n%s", code, out)
	}
	call := sessionsOf(t, gw, w.apiKey, 1)[0]
	id, _ := call["id"].(string)
	demo := must[*admin.List[tenancy.Account]](t)(gw.client(w.adminKey).Accounts(t.Context(), nil)).Items[0]

	t.Run("SignIn", func(t *testing.T) {
		c.t = t
		c.open("/console/")
		c.do(chromedp.WaitVisible(chromedp.ID("email")))
		if got := crun(c, chromedp.Evaluate[string](`location.pathname`)); got != "/console/signin" {
			t.Fatalf("an anonymous visit lands on %q, want the sign-in page", got)
		}
		c.do(chromedp.SendKeys(chromedp.ID("email"), w.email), chromedp.SendKeys(chromedp.ID("password"), w.password))
		c.shot("gateway-signin")
		c.submit(`button[type=submit]`)
		c.do(chromedp.WaitVisible(chromedp.CSS(".who")))
		if h := c.text("h1"); h != "Dashboard" {
			t.Fatalf("after sign-in: %q", h)
		}
		c.shot("gateway-dashboard")
	})

	t.Run("RecentCallsFindsAndPlays", func(t *testing.T) {
		c.t = t
		c.open("/console/calls")
		c.do(chromedp.WaitVisible(chromedp.CSS(`a[data-call="` + id + `"]`)))
		if total := c.text("#calls-total"); !strings.HasPrefix(total, "1 call ") {
			t.Fatalf("Recent calls: %q", total)
		}
		c.shot("gateway-calls")
		c.submit(`a[data-call="` + id + `"]`)
		c.do(chromedp.WaitVisible(chromedp.ID("player")))
		// The player follows the document's playback_url (the gateway's
		// signed link to /insights/recordings/…): its duration is the
		// call's, and playing from 1 s advances its clock.
		duration := crun(c, chromedp.Poll[float64](`(() => { const a = document.getElementById('player'); return a.readyState >= 1 && a.duration; })()`,
			chromedp.WithPollingTimeout(20*time.Second)))
		if duration < 2.5 || duration > 3.5 {
			t.Fatalf("audio duration %.2f s, want about 3", duration)
		}
		c.do(chromedp.Evaluate[chromedp.Void](`(() => { const a = document.getElementById('player'); a.currentTime = 1.0; a.play(); })()`))
		at := crun(c, chromedp.Poll[float64](`(() => { const a = document.getElementById('player'); return (a.ended || a.currentTime > 1.3) && a.currentTime; })()`,
			chromedp.WithPollingTimeout(20*time.Second)))
		if at <= 1.0 {
			t.Fatalf("currentTime %.2f after seeking to 1 s and playing", at)
		}
		c.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('player').pause()`))
		c.shot("gateway-call")
	})

	t.Run("APIKeyWorksWithCurl", func(t *testing.T) {
		c.t = t
		curl := testenv.RequireTool(t, "curl", "apt-get install -y curl")
		c.open("/console/keys")
		c.do(chromedp.SendKeys(chromedp.ID("key-name"), "browser key"), chromedp.SetValue(chromedp.ID("key-type"), "insights"))
		c.submit(`section[aria-labelledby=add-key] button[type=submit]`)
		c.do(chromedp.WaitVisible(chromedp.ID("once-secret")))
		secret := crun(c, chromedp.Value(chromedp.ID("once-secret")))
		c.shot("gateway-keys")
		if !strings.HasPrefix(secret, rbac.KeyPrefix) {
			t.Fatalf("secret %q", secret)
		}
		today := time.Now().UTC().Format("2006-01-02")
		out, err := exec.Command(curl, "-s", "-w", "\n%{http_code}", "-H", "X-Vgai-Key: "+secret,
			gw.url("/insights/sessions?from_date="+today+"&to_date="+today)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if s := string(out); !strings.HasSuffix(s, "\n200") || !strings.Contains(s, id) {
			t.Fatalf("curl with the new key: %.400s", s)
		}
		c.open("/console/keys")
		if html := crun(c, chromedp.OuterHTML(chromedp.CSS("main"))); strings.Contains(html, secret) || !strings.Contains(html, "browser key") {
			t.Fatal("the keys page shows the secret again, or not the key")
		}
	})

	t.Run("ForbiddenFieldRefused", func(t *testing.T) {
		c.t = t
		c.open("/console/accounts/" + string(demo.SID))
		c.do(chromedp.WaitVisible(chromedp.ID("f-licensed_sessions")))
		if ro := crun(c, chromedp.AttributeValue(chromedp.ID("f-licensed_sessions"), "readonly")); !ro.Exists {
			t.Fatal("licensed sessions is editable for the demo account's member")
		}
		// Made editable in the page and sent: the admin API refuses, and
		// the console says which field.
		c.do(chromedp.RemoveAttribute(chromedp.ID("f-licensed_sessions"), "readonly"),
			chromedp.SetValue(chromedp.ID("f-licensed_sessions"), "100"))
		c.submit(`form[aria-labelledby=settings] button[type=submit]`)
		c.do(chromedp.WaitVisible(chromedp.ID("problem")))
		if msg := c.text("#problem"); !strings.Contains(msg, "licensed_sessions") {
			t.Fatalf("problem shown: %q", msg)
		}
		c.shot("gateway-account-refused")
		if a := must[*tenancy.Account](t)(gw.client(w.adminKey).Account(t.Context(), demo.SID)); a.LicensedSessions != demo.LicensedSessions {
			t.Fatalf("licensed sessions = %d, was %d", a.LicensedSessions, demo.LicensedSessions)
		}
	})

	t.Run("TestBrokenBucket", func(t *testing.T) {
		c.t = t
		s3 := storagetest.NewS3Server(t)
		s3.CreateBucket("recordings")
		c.open("/console/recording")
		c.do(chromedp.SetValue(chromedp.ID("vendor"), "s3-compatible"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('vendor').dispatchEvent(new Event('change'))`),
			chromedp.WaitVisible(chromedp.ID("s3c-endpoint")),
			chromedp.SendKeys(chromedp.ID("s3c-endpoint"), s3.Endpoint()),
			chromedp.Click(chromedp.ID("s3c-path")),
			chromedp.SendKeys(chromedp.ID("s3c-bucket"), "recordings"),
			chromedp.SendKeys(chromedp.ID("s3c-region"), s3.Region),
			chromedp.SendKeys(chromedp.ID("s3c-key"), s3.KeyID),
			chromedp.SendKeys(chromedp.ID("s3c-secret"), "not-the-secret-key-0123456789"))
		c.submit("#test-bucket")
		c.do(chromedp.WaitVisible(chromedp.ID("test-result")))
		if res := c.text("#test-result"); !strings.Contains(res, "Test failed") || !strings.Contains(res, "bad_credentials") {
			t.Fatalf("test of a bucket with a wrong secret: %q", res)
		}
		c.shot("gateway-recording-test")
		// The account's bucket was not changed by the test.
		if rs := must[*admin.RecordingSettings](t)(gw.client(w.adminKey).Recording(t.Context(), demo.SID)); rs.Bucket.Vendor != bucketconfig.VendorFile {
			t.Fatalf("the bucket after a test: %+v", rs.Bucket)
		}
	})
	if strings.Contains(gw.stderr.String(), w.password) || strings.Contains(gw.stderr.String(), "not-the-secret-key") {
		t.Fatal("the gateway logged a password or secret")
	}
}

// TestConsoleSecurityThroughBinary: against the built gateway, no console
// page or form works without a session, and a session is no credential of
// the admin or Insights API; every form needs the session's
// CSRF token; and a member of one account, editing URLs, reaches nothing of
// another account's calls or recordings (both recorded by real calls),
// while the other account's member does.
func TestConsoleSecurityThroughBinary(t *testing.T) {
	siprecClient(t)
	gw, w := startDemo(t)
	ctx := t.Context()
	ac := gw.client(w.adminKey)
	demo := must[*admin.List[tenancy.Account]](t)(ac.Accounts(ctx, nil)).Items[0]

	// Account B, its SIP user, its bucket and a member who can sign in.
	const realmB, userB, pwB = "bolt.example.com", "bob", "bob-Passw0rd-1"
	bDir := t.TempDir()
	b := must[*admin.CreatedAccount](t)(ac.CreateAccount(ctx, tenancy.Account{Name: "Bolt", SIPRealm: realmB,
		Recording: tenancy.RecordingConfig{Enabled: true, RecordAllCalls: true,
			Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: bDir}}}}))
	must[*tenancy.SIPUser](t)(ac.AddSIPUser(ctx, b.SID, userB, pwB))
	role := must[*rbac.Role](t)(ac.CreateRole(ctx, rbac.Role{Account: string(b.SID), Name: "Bolt admin", Privileges: rbac.AllPrivileges()}))
	bob := must[*rbac.Member](t)(ac.CreateMember(ctx, rbac.Member{Email: "bob@bolt.example.com", Scope: rbac.ScopeAccount, Account: string(b.SID), RoleID: role.ID}))
	const bobPassword = "bob-console-Passw0rd-7"
	if err := ac.SetMemberPassword(ctx, bob.ID, bobPassword); err != nil {
		t.Fatal(err)
	}

	// A call of each account.
	if code, out := sipCall(t, gw, "demo.voicegw.test", "demo", w.sipPassword, 2*time.Second); code != 0 {
		t.Fatalf("demo call: exit %d\n%s", code, out)
	}
	if code, out := sipCall(t, gw, realmB, userB, pwB, 2*time.Second); code != 0 {
		t.Fatalf("Bolt call: exit %d\n%s", code, out)
	}
	waitFile(t, filepath.Join(bDir, string(b.SID), "*", "*.wav"))
	callA := sessionsOf(t, gw, w.apiKey, 1)[0]["id"].(string)
	bKey := must[*admin.CreatedAPIKey](t)(ac.CreateAPIKey(ctx, admin.CreateAPIKeyRequest{Name: "bolt reports", ServiceType: "insights", AccountSID: string(b.SID)}))
	callB := sessionsOf(t, gw, bKey.Secret, 1)[0]["id"].(string)
	today := time.Now().UTC().Format("2006-01-02")

	pages := []string{"/console/", "/console/calls", "/console/calls/" + callA + "?start=" + today, "/console/calls/" + callA + "/recording?start=" + today,
		"/console/accounts", "/console/accounts/" + string(demo.SID), "/console/applications", "/console/sip", "/console/recording",
		"/console/cad", "/console/keys", "/console/members", "/console/smtp"}
	forms := []string{"/console/keys", "/console/sip/users", "/console/sip/allowlist", "/console/recording", "/console/recording/test",
		"/console/accounts/" + string(demo.SID), "/console/members", "/console/roles", "/console/smtp", "/console/signout"}
	keysOfDemo := func() int {
		l := must[*admin.List[rbac.APIKey]](t)(ac.APIKeys(ctx, admin.Owner{Scope: rbac.ScopeAccount, AccountSID: string(demo.SID)}, nil))
		return len(l.Items)
	}
	keysBefore := keysOfDemo()

	t.Run("NothingWithoutASession", func(t *testing.T) {
		anon := newConsoleClient(t, gw)
		for _, p := range pages {
			r := anon.get(p)
			if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/console/signin") {
				t.Errorf("GET %s without a session: %d %q, want a redirect to sign in", p, r.status, r.header.Get("Location"))
			}
			if strings.Contains(r.body, "RIFF") || strings.Contains(r.body, "caller@example.invalid") {
				t.Errorf("GET %s without a session shows data", p)
			}
		}
		for _, p := range forms {
			r := anon.do(http.MethodPost, p, url.Values{"csrf": {"guess"}, "name": {"anon"}, "service_type": {"insights"}})
			if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/console/signin") {
				t.Errorf("POST %s without a session: %d, want a redirect to sign in", p, r.status)
			}
		}
		if n := keysOfDemo(); n != keysBefore {
			t.Fatalf("forms without a session made %d keys", n-keysBefore)
		}
	})

	t.Run("SessionIsNoAPICredential", func(t *testing.T) {
		ann := newConsoleClient(t, gw)
		ann.mustSignIn(w.email, w.password)
		u, _ := url.Parse(gw.url("/console/"))
		var cookie string
		for _, c := range ann.jar.Cookies(u) {
			if c.Name == "voicegw_console" {
				cookie = c.String()
			}
		}
		if cookie == "" {
			t.Fatal("no session cookie after sign-in")
		}
		for _, p := range []string{"/admin/v1/accounts", "/admin/v1/accounts/" + string(demo.SID), "/insights/sessions?from_date=" + today + "&to_date=" + today} {
			req, _ := http.NewRequest(http.MethodGet, gw.url(p), nil)
			req.Header.Set("Cookie", cookie)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), callA) {
				t.Errorf("GET %s with the console's session cookie: %d %.200s, want 401", p, res.StatusCode, body)
			}
		}
	})

	t.Run("CSRFTokenRequired", func(t *testing.T) {
		ann := newConsoleClient(t, gw)
		ann.mustSignIn(w.email, w.password)
		token := ann.get("/console/keys").csrf(t)
		// the real token with its first character changed (a fixed "x"
		// was the real token whenever that started with x)
		wrong := "x" + token[1:]
		if token[0] == 'x' {
			wrong = "y" + token[1:]
		}
		for _, p := range forms {
			for name, tok := range map[string]string{"no token": "", "wrong token": wrong} {
				form := url.Values{"name": {"csrf-victim"}, "service_type": {"insights"}, "username": {"mallory"}, "password": {"m-Passw0rd-123"}}
				if tok != "" {
					form.Set("csrf", tok)
				}
				if r := ann.do(http.MethodPost, p, form); r.status != http.StatusForbidden {
					t.Errorf("POST %s with %s: %d, want 403", p, name, r.status)
				}
			}
		}
		if n := keysOfDemo(); n != keysBefore {
			t.Fatalf("forms without the token made %d keys", n-keysBefore)
		}
		if s := must[*admin.SIPSettings](t)(ac.SIP(ctx, demo.SID)); len(s.Users) != 1 {
			t.Fatalf("forms without the token changed the SIP users: %+v", s.Users)
		}
		if r := ann.get("/console/keys"); r.status != http.StatusOK {
			t.Fatalf("signed out by a forged form: %d", r.status)
		}
		// With the token the same form works.
		if r := ann.do(http.MethodPost, "/console/keys", url.Values{"csrf": {token}, "name": {"genuine"}, "service_type": {"insights"}}); r.status != http.StatusSeeOther {
			t.Fatalf("the form with its token: %d %.300s", r.status, r.body)
		}
		if n := keysOfDemo(); n != keysBefore+1 {
			t.Fatalf("%d keys made by the genuine form, want 1", n-keysBefore)
		}
		// The sign-in form needs its own token.
		fresh := newConsoleClient(t, gw)
		if r := fresh.do(http.MethodPost, "/console/signin", url.Values{"email": {w.email}, "password": {w.password}}); r.status != http.StatusForbidden {
			t.Fatalf("sign-in without its token: %d, want 403", r.status)
		}
	})

	t.Run("AccountIsolationByURL", func(t *testing.T) {
		ann := newConsoleClient(t, gw)
		ann.mustSignIn(w.email, w.password)
		for _, p := range []string{
			"/console/calls/" + callB + "?start=" + today,
			"/console/calls/" + callB,
			"/console/calls/" + callB + "?start=" + today + "&account=" + string(b.SID),
			"/console/calls/" + callB + "/recording?start=" + today,
			"/console/calls/" + callB + "/recording?start=" + today + "&account=" + string(b.SID) + "&download=1",
			"/console/accounts/" + string(b.SID),
			"/console/roles/" + role.ID,
		} {
			r := ann.get(p)
			if r.status != http.StatusNotFound {
				t.Errorf("demo member GET %s: %d, want 404", p, r.status)
			}
			for _, leak := range []string{callB, "RIFF", "Bolt", realmB} {
				if strings.Contains(r.body, leak) && !strings.Contains(p, leak) {
					t.Errorf("demo member GET %s shows %q of account B", p, leak)
				}
			}
		}
		for _, p := range []string{"/console/calls?account=" + string(b.SID), "/console/keys?account=" + string(b.SID), "/console/members?account=" + string(b.SID)} {
			r := ann.get(p)
			if r.status != http.StatusOK {
				t.Errorf("demo member GET %s: %d", p, r.status)
			}
			for _, leak := range []string{callB, "bolt reports", bob.Email} {
				if strings.Contains(r.body, leak) {
					t.Errorf("demo member GET %s shows %q of account B", p, leak)
				}
			}
		}
		// B's member sees B's call and plays its recording, not A's.
		bobc := newConsoleClient(t, gw)
		bobc.mustSignIn(bob.Email, bobPassword)
		if r := bobc.get("/console/calls"); !strings.Contains(r.body, callB) || strings.Contains(r.body, callA) {
			t.Fatalf("Bolt's calls page: %.500s", r.body)
		}
		if r := bobc.follow("/console/calls/" + callB + "/recording?start=" + today); r.status != http.StatusOK || !strings.HasPrefix(r.body, "RIFF") {
			t.Fatalf("Bolt's own recording: %d %.40q", r.status, r.body)
		}
		if r := bobc.get("/console/calls/" + callA + "/recording?start=" + today); r.status != http.StatusNotFound || strings.Contains(r.body, "RIFF") {
			t.Fatalf("Bolt's member fetching the demo's recording: %d", r.status)
		}
	})
	if strings.Contains(gw.stderr.String(), bobPassword) || strings.Contains(gw.stderr.String(), w.password) {
		t.Fatal("the gateway logged a member's password")
	}
}

// consoleClient is a browser without a browser: a cookie jar, no
// redirects followed.
type consoleClient struct {
	t   *testing.T
	gw  *gwProc
	jar *cookiejar.Jar
	c   *http.Client
}

func newConsoleClient(t *testing.T, gw *gwProc) *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: t, gw: gw, jar: jar, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type consolePage struct {
	status int
	header http.Header
	body   string
}

func (b *consoleClient) do(method, path string, form url.Values) consolePage {
	b.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.gw.url(path), rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return consolePage{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *consoleClient) get(path string) consolePage { return b.do(http.MethodGet, path, nil) }

// follow GETs path and follows one redirect (a recording's playback link).
func (b *consoleClient) follow(path string) consolePage {
	b.t.Helper()
	r := b.get(path)
	if r.status/100 != 3 {
		return r
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return b.get(loc.RequestURI())
}

var consoleCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (p consolePage) csrf(t *testing.T) string {
	t.Helper()
	m := consoleCSRF.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page (status %d): %.400s", p.status, p.body)
	}
	return m[1]
}

func (b *consoleClient) signIn(email, password string) consolePage {
	b.t.Helper()
	form := b.get("/console/signin")
	return b.do(http.MethodPost, "/console/signin", url.Values{"csrf": {form.csrf(b.t)}, "email": {email}, "password": {password}})
}

func (b *consoleClient) mustSignIn(email, password string) {
	b.t.Helper()
	if r := b.signIn(email, password); r.status != http.StatusSeeOther {
		b.t.Fatalf("sign-in of %s: %d %.400s", email, r.status, r.body)
	}
}

// chromium is a headless Debian Chromium driven through chromedp.
type chromium struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
}

func newChromium(t *testing.T, gw *gwProc) *chromium {
	t.Helper()
	testenv.Short(t, "starts Chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testenv.RequireTool(t, "chromium", "apt-get install -y chromium")),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 860),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return &chromium{t: t, ctx: ctx, base: gw.url(""), shots: os.Getenv("VOICEGW_SCREENSHOTS")}
}

func (c *chromium) do(steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		html, _ := chromedp.Run(c.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		c.t.Fatalf("browser: %v\npage: %.3000s", err, html)
	}
}

func crun[T any](c *chromium, a chromedp.Action[T]) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		c.t.Fatalf("browser: %v", err)
	}
	return v
}

func (c *chromium) open(path string) {
	c.t.Helper()
	c.do(chromedp.Navigate(c.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// submit clicks what sends a form (or follows a link) and waits for the
// next page.
func (c *chromium) submit(sel string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		c.t.Fatalf("submitting with %s: %v", sel, err)
	}
}

func (c *chromium) text(sel string) string {
	c.t.Helper()
	return crun(c, chromedp.Text(chromedp.CSS(sel)))
}

// shot writes a PNG of the page to $VOICEGW_SCREENSHOTS when it is set.
func (c *chromium) shot(name string) {
	c.t.Helper()
	if c.shots == "" {
		return
	}
	png := crun(c, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(c.shots, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.shots, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// TestConsoleChangesLiveAndAudited: a SIP user added through the console
// (as the signed-in member, through the admin API in-process) is let in on
// the gateway's next call without a restart, and the admin API's audit
// lists the change under the member's email with the password masked.
// Failed sign-ins count in the failure limiter the APIs share: past
// http.failed_keys.burst of them, the source's next admin API request gets
// 429 whatever key it sends.
func TestConsoleChangesLiveAndAudited(t *testing.T) {
	siprecClient(t)
	gw := startGateway(t, gwOptions{HTTP: "failed_keys: {burst: 4, every: 1h}"})
	waitFor(t, 10*time.Second, "the welcome text", func() bool { return strings.Contains(gw.stdout.String(), "Manage accounts") })
	w := parseWelcome(t, gw.stdout.String())
	ctx := t.Context()
	ac := gw.client(w.adminKey)
	demo := must[*admin.List[tenancy.Account]](t)(ac.Accounts(ctx, nil)).Items[0]
	const user, pw = "carol", "carol-Passw0rd-42"

	if code, out := sipCall(t, gw, "demo.voicegw.test", user, pw, time.Second); code == 0 {
		t.Fatalf("a call of a SIP user that does not exist yet: exit 0\n%s", out)
	}
	b := newConsoleClient(t, gw)
	b.mustSignIn(w.email, w.password)
	tok := b.get("/console/sip").csrf(t)
	if r := b.do(http.MethodPost, "/console/sip/users", url.Values{"csrf": {tok}, "account": {string(demo.SID)}, "username": {user}, "password": {pw}}); r.status != http.StatusSeeOther {
		t.Fatalf("adding a SIP user in the console: %d %.400s", r.status, r.body)
	}
	if code, out := sipCall(t, gw, "demo.voicegw.test", user, pw, time.Second); code != 0 || !strings.Contains(out, "stop ") || strings.Contains(out, "failed") {
		t.Fatalf("the call of the SIP user the console just added: exit %d\n%s", code, out)
	}

	list := must[*admin.List[admin.AuditRecord]](t)(ac.Audit(ctx, &admin.AuditListOptions{AccountSID: string(demo.SID)}))
	var rec *admin.AuditRecord
	for i, r := range list.Items {
		if r.Actor == w.email || r.ActorEmail == w.email {
			rec = &list.Items[i]
			break
		}
	}
	if rec == nil {
		t.Fatalf("no audit record of the console's change: %+v", list.Items)
	}
	raw, _ := json.Marshal(rec)
	if !strings.Contains(string(raw), user) || strings.Contains(string(raw), pw) {
		t.Fatalf("the audit record of the console's change: %s", raw)
	}

	// Failed sign-ins and the APIs share one limiter per source address.
	anon := newConsoleClient(t, gw)
	for range 4 {
		anon.signIn(w.email, "not-the-password-123")
	}
	status, body := httpGetKey(t, gw.url("/admin/v1/accounts"), w.adminKey)
	if status != http.StatusTooManyRequests {
		t.Fatalf("the admin API after 4 failed sign-ins from the address: %d %.200s, want 429", status, body)
	}
	if strings.Contains(gw.stderr.String(), "not-the-password-123") || strings.Contains(gw.stderr.String(), pw) {
		t.Fatal("the gateway logged a password")
	}
}
