package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/storage/storagetest"
)

// The browser tests drive Debian's Chromium (package chromium) headless
// through the DevTools protocol (github.com/chromedp/chromedp): real
// rendering, real forms, a real audio element. With VOICEGW_SCREENSHOTS=DIR
// they write a PNG of each page they visit to DIR.

type chrome struct {
	t     *testing.T
	w     *world
	ctx   context.Context
	shots string
	base  string
}

func newChrome(t *testing.T, w *world) *chrome {
	t.Helper()
	testenv.Short(t, "starts Chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testenv.RequireTool(t, "chromium", "apt-get install -y chromium")),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
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
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting Chromium: %v", err)
	}
	// Destructive forms ask for confirmation: accept.
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return &chrome{t: t, w: w, ctx: ctx, shots: os.Getenv("VOICEGW_SCREENSHOTS"), base: w.srv.URL}
}

// do runs steps with a time limit, failing the test on error.
func (c *chrome) do(steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		html, _ := chromedp.Run(c.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		c.t.Fatalf("browser: %v\npage: %.3000s", err, html)
	}
}

func run[T any](c *chrome, a chromedp.Action[T]) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		c.t.Fatalf("browser: %v", err)
	}
	return v
}

func (c *chrome) open(path string) {
	c.t.Helper()
	c.do(chromedp.Navigate(c.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// submit clicks a button that sends a form and waits for the next page.
func (c *chrome) submit(sel string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		c.t.Fatalf("submitting with %s: %v", sel, err)
	}
}

// shot writes a screenshot of the page when VOICEGW_SCREENSHOTS is set.
func (c *chrome) shot(name string) {
	c.t.Helper()
	if c.shots == "" {
		return
	}
	png, err := compactPNG(run(c, chromedp.FullScreenshot(100)))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.MkdirAll(c.shots, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.shots, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// audit checks what a keyboard and screen reader user needs on the page:
// the landmarks, one h1, a label for every form control, and a skip link
// that is the first thing Tab reaches.
func (c *chrome) audit(name string) {
	c.t.Helper()
	problems := run(c, chromedp.Evaluate[[]string](`(() => {
	  const out = [];
	  const visible = e => !e.closest('[hidden]') && e.type !== 'hidden';
	  for (const e of document.querySelectorAll('input, select, textarea')) {
	    if (!visible(e)) continue;
	    const labelled = (e.id && document.querySelector('label[for="' + CSS.escape(e.id) + '"]')) ||
	      e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || e.closest('label');
	    if (!labelled) out.push('unlabelled ' + e.tagName.toLowerCase() + ' ' + (e.name || e.id));
	  }
	  for (const sel of ['main', 'header']) if (!document.querySelector(sel)) out.push('no ' + sel + ' landmark');
	  if (document.querySelectorAll('h1').length !== 1) out.push('want one h1');
	  if (!document.documentElement.lang) out.push('no lang');
	  for (const b of document.querySelectorAll('button')) if (!b.textContent.trim() && !b.getAttribute('aria-label')) out.push('button without a name');
	  const ids = {};
	  for (const e of document.querySelectorAll('[id]')) { if (ids[e.id]) out.push('duplicate id ' + e.id); ids[e.id] = true; }
	  return out;
	})()`))
	if len(problems) > 0 {
		c.t.Errorf("%s: accessibility: %v", name, problems)
	}
	// Tab from the top reaches the skip link first; following it moves
	// focus to the main content.
	c.do(chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`), keyTab())
	if got := run(c, chromedp.Evaluate[string](`document.activeElement.className + ':' + document.activeElement.textContent.trim()`)); got != "skip:Skip to content" {
		c.t.Errorf("%s: the first Tab reaches %q, want the skip link", name, got)
	}
	c.do(chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
}

func keyTab() chromedp.Action[chromedp.Void] {
	return chromedp.KeyEvent("\t")
}

func (c *chrome) signIn(email string) {
	c.t.Helper()
	c.open("/console/")
	c.do(chromedp.WaitVisible(chromedp.ID("email")))
	if got := run(c, chromedp.Evaluate[string](`location.pathname`)); got != "/console/signin" {
		c.t.Fatalf("an anonymous visit lands on %q, want the sign-in page", got)
	}
	c.do(chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password))
	c.shot("signin")
	c.submit(`button[type=submit]`)
	c.do(chromedp.WaitVisible(chromedp.CSS(".who")))
}

func (c *chrome) text(sel string) string {
	c.t.Helper()
	return run(c, chromedp.Text(chromedp.CSS(sel)))
}

func TestBrowser(t *testing.T) {
	w := newWorld(t)
	c := newChrome(t, w)
	seedCalls(t, w)

	t.Run("SignIn", func(t *testing.T) {
		c.t = t
		c.signIn(w.ann.Email)
		if h := c.text("h1"); h != "Dashboard" {
			t.Fatalf("after sign-in: %q", h)
		}
		c.audit("dashboard")
		c.shot("dashboard")
	})

	t.Run("RecentCallsFindsAndPlays", func(t *testing.T) {
		c.t = t
		c.open("/console/calls")
		c.do(chromedp.SendKeys(chromedp.ID("source"), w.callA.Source))
		c.submit(`form[role=search] button[type=submit]`)
		c.do(chromedp.WaitVisible(chromedp.CSS(`a[data-call="` + w.callA.ID + `"]`)))
		if total := c.text("#calls-total"); !strings.HasPrefix(total, "1 call ") {
			t.Fatalf("search by source: %q", total)
		}
		c.audit("calls")
		c.shot("calls")
		c.submit(`a[data-call="` + w.callA.ID + `"]`)
		c.do(chromedp.WaitVisible(chromedp.ID("player")))
		c.audit("call")
		// Seek to 1 s and play: the audio element fetches with Range
		// through the console and its clock advances past the seek.
		duration := run(c, chromedp.Poll[float64](`(() => { const a = document.getElementById('player'); return a.readyState >= 1 && a.duration; })()`))
		if duration < 2.9 || duration > 3.1 {
			t.Fatalf("audio duration %.2f s, want 3", duration)
		}
		c.do(chromedp.Evaluate[chromedp.Void](`(() => { const a = document.getElementById('player'); a.currentTime = 1.0; a.play(); })()`))
		at := run(c, chromedp.Poll[float64](`(() => { const a = document.getElementById('player'); return (a.ended || a.currentTime > 1.3) && a.currentTime; })()`,
			chromedp.WithPollingTimeout(20*time.Second)))
		if at <= 1.0 {
			t.Fatalf("currentTime %.2f after seeking to 1 s and playing", at)
		}
		c.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('player').pause()`))
		href := run(c, chromedp.AttributeValue(chromedp.CSS(`a[download]`), "href"))
		if !href.Exists || !strings.Contains(href.Value, "download=1") {
			t.Fatalf("download link %+v", href)
		}
		c.shot("call")
	})

	t.Run("APIKeyWorksWithCurl", func(t *testing.T) {
		c.t = t
		curlPath := testenv.RequireTool(t, "curl", "apt-get install -y curl")
		c.open("/console/keys")
		c.do(chromedp.SendKeys(chromedp.ID("key-name"), "browser key"), chromedp.SetValue(chromedp.ID("key-type"), "insights"))
		c.submit(`section[aria-labelledby=add-key] button[type=submit]`)
		c.do(chromedp.WaitVisible(chromedp.ID("once-secret")))
		secret := run(c, chromedp.Value(chromedp.ID("once-secret")))
		c.audit("keys")
		c.do(chromedp.Click(chromedp.CSS(`button[data-copy]`)))
		if got := run(c, chromedp.Poll[string](`document.querySelector('.copied').textContent`, chromedp.WithPollingTimeout(5*time.Second))); got != "Copied." {
			t.Errorf("copy button: %q", got)
		}
		c.shot("keys")
		if !strings.HasPrefix(secret, rbac.KeyPrefix) {
			t.Fatalf("secret %q", secret)
		}
		q := url.Values{"from_date": {w.now.AddDate(0, 0, -1).Format("2006-01-02")}, "to_date": {w.now.Format("2006-01-02")}}
		out, err := exec.Command(curlPath, "-s", "-w", "\n%{http_code}", "-H", "X-Vgai-Key: "+secret, w.srv.URL+"/insights/sessions?"+q.Encode()).Output()
		if err != nil {
			t.Fatal(err)
		}
		if s := string(out); !strings.HasSuffix(s, "\n200") || !strings.Contains(s, w.callA.ID) || strings.Contains(s, w.callB.ID) {
			t.Fatalf("curl with the new key: %.400s", s)
		}
		// Reloading shows it masked, never the secret again.
		c.open("/console/keys")
		if html := run(c, chromedp.OuterHTML(chromedp.CSS("main"))); strings.Contains(html, secret) || !strings.Contains(html, "browser key") {
			t.Fatal("the keys page shows the secret again, or not the key")
		}
	})

	t.Run("ForbiddenFieldRefused", func(t *testing.T) {
		c.t = t
		c.open("/console/accounts/" + string(w.a.SID))
		c.do(chromedp.WaitVisible(chromedp.ID("f-licensed_sessions")))
		ro := run(c, chromedp.AttributeValue(chromedp.ID("f-licensed_sessions"), "readonly"))
		if !ro.Exists {
			t.Fatal("licensed sessions is editable for an account member")
		}
		c.audit("account")
		c.shot("account")
		// The member removes readonly in the page and sends 100: the API
		// refuses, and the console says which field and why.
		c.do(chromedp.RemoveAttribute(chromedp.ID("f-licensed_sessions"), "readonly"),
			chromedp.SetValue(chromedp.ID("f-licensed_sessions"), "100"))
		c.submit(`form[aria-labelledby=settings] button[type=submit]`)
		c.do(chromedp.WaitVisible(chromedp.ID("problem")))
		msg := c.text("#problem")
		if !strings.Contains(msg, "licensed_sessions") || !strings.Contains(msg, "only admin scope may change it") {
			t.Fatalf("problem shown: %q", msg)
		}
		c.shot("account-refused")
		a, _ := w.tenants.Account(context.Background(), w.a.SID)
		if a.LicensedSessions != 0 {
			t.Fatalf("licensed sessions = %d", a.LicensedSessions)
		}
	})

	t.Run("TestBrokenBucket", func(t *testing.T) {
		c.t = t
		s3 := storagetest.NewS3Server(t)
		s3.CreateBucket("recordings")
		c.open("/console/recording")
		c.audit("recording")
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
		res := c.text("#test-result")
		if !strings.Contains(res, "Test failed") || !strings.Contains(res, "bad_credentials") {
			t.Fatalf("test of a bucket with a wrong secret: %q", res)
		}
		if strings.Contains(run(c, chromedp.OuterHTML(chromedp.CSS("html"))), "not-the-secret-key") {
			t.Fatal("the page shows the secret typed")
		}
		c.shot("recording-test")
		// With the right secret the probe passes.
		c.do(chromedp.SendKeys(chromedp.ID("s3c-secret"), s3.SecretKey.Reveal()))
		c.submit("#test-bucket")
		c.do(chromedp.WaitVisible(chromedp.ID("test-result")))
		if res := c.text("#test-result"); !strings.Contains(res, "Test passed") {
			t.Fatalf("test of the right bucket: %q", res)
		}
	})

	t.Run("OtherPages", func(t *testing.T) {
		c.t = t
		for _, p := range []struct{ path, name string }{
			{"/console/applications", "applications"}, {"/console/sip", "sip"}, {"/console/cad", "cad"}, {"/console/members", "members"},
		} {
			c.open(p.path)
			c.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
			c.audit(p.name)
			c.shot(p.name)
		}
		roles, _ := w.members.Roles(context.Background(), string(w.a.SID))
		c.open("/console/roles/" + roles[0].ID)
		c.do(chromedp.WaitVisible(chromedp.CSS("table.grid")))
		c.audit("role")
		c.shot("role")
		// A phone-sized screen.
		c.do(chromedp.EmulateViewport(390, 844))
		c.open("/console/calls")
		c.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
		if wide := run(c, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); wide {
			t.Error("the calls page scrolls sideways on a phone")
		}
		c.shot("calls-phone")
		c.do(chromedp.EmulateViewport(1200, 860))
	})

	t.Run("CrossSiteFormRefused", func(t *testing.T) {
		c.t = t
		// A page of another site (localhost is not 127.0.0.1's site) posts
		// a form to the console in the signed-in browser.
		target := c.base + "/console/keys"
		evil := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(rw, `<!doctype html><form id="f" method="post" action="%s">
<input name="name" value="csrf-attack"><input name="service_type" value="api"></form>
<script>document.getElementById('f').submit()</script>`, target)
		}))
		defer evil.Close()
		evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
		c.do(chromedp.Navigate(evilURL))
		run(c, chromedp.Poll[bool](`location.href.indexOf('/console/') > 0 && document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second)))
		keys, _ := w.keys.Keys(context.Background(), rbac.Owner{Scope: rbac.ScopeAccount, Account: string(w.a.SID)})
		for _, k := range keys {
			if k.Name == "csrf-attack" {
				t.Fatal("a cross-site form created an API key")
			}
		}
	})

	t.Run("AdminPages", func(t *testing.T) {
		c.t = t
		c.open("/console/")
		c.submit(`.who button[type=submit]`)
		c.do(chromedp.WaitVisible(chromedp.ID("email")))
		c.signIn(w.root.Email)
		c.open("/console/accounts")
		c.do(chromedp.WaitVisible(chromedp.CSS("table.list")))
		c.audit("accounts")
		c.shot("accounts")
		c.open("/console/smtp")
		c.do(chromedp.WaitVisible(chromedp.ID("smtp-host")))
		c.audit("smtp")
		c.shot("smtp")
		c.open("/console/calls?account=")
		c.do(chromedp.WaitVisible(chromedp.ID("calls-total")))
		// Both accounts' calls of two hours ago head the list.
		if table := c.text("table.list"); !strings.Contains(table, w.callA.Source) || !strings.Contains(table, w.callB.Source) {
			t.Fatalf("the admin's calls of every account: %q", table)
		}
	})
}

// seedCalls gives account A two weeks of calls (for the dashboard and the
// screenshots): a few a day, most ended, some in progress, durations of a
// few minutes; none from the source the tests search for.
func seedCalls(t *testing.T, w *world) {
	t.Helper()
	var docs []*insights.Session
	n := 0
	for d := 1; d <= 13; d++ {
		day := w.now.AddDate(0, 0, -d).Truncate(24 * time.Hour)
		for i := range 1 + (d*7)%5 {
			start := day.Add(time.Duration(8+i*2) * time.Hour)
			rec := insights.CallRecord{SessionID: fmt.Sprintf("5eed%04d-0000-4000-8000-%012d", d, i), AccountID: string(w.a.SID),
				ApplicationID: "AP-A", Source: fmt.Sprintf("+1555777%04d", n), Destination: "+15550002222", Start: start, Format: "wav"}
			if (d+i)%6 != 0 {
				rec.End = start.Add(time.Duration(40+(d*37+i*53)%260) * time.Second)
			}
			docs = append(docs, insights.NewCallSession(rec))
			n++
		}
	}
	if err := w.idx.Put(context.Background(), docs...); err != nil {
		t.Fatal(err)
	}
}
