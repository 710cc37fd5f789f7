package console_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/sqliteindex"
	"github.com/voicegw/voicegw/rbac"
	rbacsqlite "github.com/voicegw/voicegw/rbac/sqlitestore"
	"github.com/voicegw/voicegw/storage/egress"
	"github.com/voicegw/voicegw/storage/storagetest"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/console"
	adminsqlite "github.com/voicegw/voicegw/tenancy/admin/sqlitestore"
	tenancysqlite "github.com/voicegw/voicegw/tenancy/sqlitestore"
)

// world is a gateway's HTTP side as a test server: the console at /console/,
// the admin API at /admin/ and the Insights API at /insights/ (both with
// API keys), over SQLite stores sharing one database file, as
// examples/gateway keeps them. Two accounts, A and B, each with a member
// whose role grants everything; an Admin member; sessions of both accounts
// in the index, one of A's with a recording that StoredPlayback serves.
type world struct {
	t       *testing.T
	srv     *httptest.Server
	mux     *http.ServeMux
	con     *console.Console
	tenants *tenancy.Store
	keys    *rbac.KeyStore
	members *rbac.MemberStore
	audit   *admin.Store
	idx     *insights.Index
	logs    *syncBuffer

	a, b         *tenancy.Account
	ann, bob     *rbac.Member // account members of A and B
	root         *rbac.Member // an Admin member
	viewer       *rbac.Member // a member of A whose role only reads interactions
	callA, callB *insights.Session
	wav          []byte
	now          time.Time
}

const password = "correct horse battery staple"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type worldOptions struct {
	edit func(*console.Config)
}

func newWorld(t *testing.T, opts ...worldOptions) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := rbacsqlite.OpenDB(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	w := &world{t: t, logs: &syncBuffer{}, now: time.Now().UTC()}
	seal := tenancy.NewRandomSealingKey()
	if w.tenants, err = tenancysqlite.NewStore(ctx, db, &tenancysqlite.Options{SealingKey: seal}); err != nil {
		t.Fatal(err)
	}
	if w.keys, err = rbacsqlite.NewKeyStore(ctx, db, nil); err != nil {
		t.Fatal(err)
	}
	// Cheap Argon2id: the tests sign in often on a shared machine.
	if w.members, err = rbacsqlite.NewMemberStore(ctx, db, &rbac.StoreOptions{Passwords: rbac.PasswordParams{Memory: 1024, Time: 1}}); err != nil {
		t.Fatal(err)
	}
	store, err := adminsqlite.NewStore(ctx, db, &adminsqlite.Options{SealingKey: seal})
	if err != nil {
		t.Fatal(err)
	}
	w.audit = store
	if w.idx, err = sqliteindex.OpenIndex(ctx, filepath.Join(dir, "insights.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.idx.Close() })

	w.a = w.account("Acme", "acme.example.com")
	w.b = w.account("Bolt", "bolt.example.com")
	everything := w.role(w.a.SID, "Account admin", rbac.AllPrivileges())
	everythingB := w.role(w.b.SID, "Account admin", rbac.AllPrivileges())
	var reader rbac.Privileges
	reader.Grant(rbac.EntityInteraction, rbac.ActionRead)
	readerRole := w.role(w.a.SID, "Listener", reader)
	w.ann = w.member("ann@acme.example.com", rbac.ScopeAccount, w.a.SID, everything.ID)
	w.bob = w.member("bob@bolt.example.com", rbac.ScopeAccount, w.b.SID, everythingB.ID)
	w.viewer = w.member("vera@acme.example.com", rbac.ScopeAccount, w.a.SID, readerRole.ID)
	platform := w.role("", "Platform admin", rbac.AllPrivileges())
	w.root = w.member("root@voicegw.example", rbac.ScopeAdmin, "", platform.ID)

	start := w.now.Add(-2 * time.Hour).Truncate(time.Second)
	w.callA = insights.NewCallSession(insights.CallRecord{SessionID: "a1b2c3d4-0000-4000-8000-00000000000a", AccountID: string(w.a.SID),
		ApplicationID: "AP-A", Source: "+15550001111", Destination: "+15550002222", Start: start, End: start.Add(3 * time.Second),
		Format: "wav", RecordingID: "rec-a", SIPCallID: "call-a@pbx"})
	w.callB = insights.NewCallSession(insights.CallRecord{SessionID: "b1b2c3d4-0000-4000-8000-00000000000b", AccountID: string(w.b.SID),
		ApplicationID: "AP-B", Source: "+15559990000", Destination: "+15558880000", Start: start.Add(time.Minute), End: start.Add(time.Minute + 65*time.Second),
		Format: "wav", RecordingID: "rec-b", SIPCallID: "call-b@pbx"})
	if err := w.idx.Put(ctx, w.callA, w.callB); err != nil {
		t.Fatal(err)
	}
	w.wav = storagetest.WAV(8000, 2, 3*time.Second)

	failed := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{})
	acfg := admin.Config{Tenants: w.tenants, Keys: w.keys, Members: w.members, Store: store,
		// the test buckets listen on loopback, which the default refuses
		Egress: &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	icfg := insights.HandlerConfig{Index: w.idx, Keys: w.keys, FailedKeys: failed,
		Accounts: insights.AccountResolverFunc(func(ctx context.Context, account string) (string, error) {
			a, err := w.tenants.Account(ctx, tenancy.SID(account))
			if err != nil {
				return "", insights.ErrNotFound
			}
			return a.ServiceProvider, nil
		})}
	cfg := console.Config{Admin: acfg, Insights: icfg, FailedSignIns: failed,
		Logger:   slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Playback: console.StoredPlayback{Open: w.openRecording}}
	for _, o := range opts {
		if o.edit != nil {
			o.edit(&cfg)
		}
	}
	if w.con, err = console.New(cfg); err != nil {
		t.Fatal(err)
	}
	ah, err := admin.NewHandler(acfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", w.con)
	mux.Handle("/admin/", ah)
	mux.Handle("/insights/", insights.NewHandler(icfg))
	w.mux = mux
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)
	return w
}

// tlsServer serves the same handlers over TLS.
func (w *world) tlsServer() *httptest.Server {
	srv := httptest.NewTLSServer(w.mux)
	w.t.Cleanup(srv.Close)
	return srv
}

// openRecording is the test's recording store: A's call has a WAV.
func (w *world) openRecording(_ context.Context, doc *console.SessionDocument) (io.ReadSeekCloser, time.Time, error) {
	if doc.ID != w.callA.ID {
		return nil, time.Time{}, console.ErrNoRecording
	}
	return nopCloser{bytes.NewReader(w.wav)}, w.now, nil
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

func (w *world) account(name, realm string) *tenancy.Account {
	w.t.Helper()
	a, err := w.tenants.CreateAccount(context.Background(), &tenancy.Account{Name: name, SIPRealm: realm})
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

func (w *world) role(acct tenancy.SID, name string, p rbac.Privileges) *rbac.Role {
	w.t.Helper()
	r, err := w.members.CreateRole(context.Background(), &rbac.Role{Account: string(acct), Name: name, Privileges: p})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) member(email string, scope rbac.Scope, acct tenancy.SID, role string) *rbac.Member {
	w.t.Helper()
	ctx := context.Background()
	m, err := w.members.CreateMember(ctx, &rbac.Member{Email: email, Scope: scope, Account: string(acct), RoleID: role})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.members.SetPassword(ctx, m.ID, password); err != nil {
		w.t.Fatal(err)
	}
	return m
}

// browser is a Go HTTP client with a cookie jar that does not follow
// redirects: a browser as the security tests need one.
type browser struct {
	t   *testing.T
	w   *world
	c   *http.Client
	jar http.CookieJar
}

func (w *world) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: w.t, w: w, jar: jar, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, header ...string) page {
	b.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.w.srv.URL+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of a page's forms.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page (status %d): %.400s", p.status, p.body)
	}
	return m[1]
}

// signIn signs in through the form and returns the answer to the POST.
func (b *browser) signIn(email, pw string) page {
	b.t.Helper()
	form := b.get("/console/signin")
	return b.do(http.MethodPost, "/console/signin", url.Values{"csrf": {form.csrf(b.t)}, "email": {email}, "password": {pw}})
}

// mustSignIn signs in and fails the test unless the console accepted.
func (b *browser) mustSignIn(email string) {
	b.t.Helper()
	if p := b.signIn(email, password); p.status != http.StatusSeeOther {
		b.t.Fatalf("sign-in of %s: %d %.400s", email, p.status, p.body)
	}
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.w.srv.URL + "/console/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}
