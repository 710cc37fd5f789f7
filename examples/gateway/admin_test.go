package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/smtptest"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/storage/storagetest"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/admintest"
)

// The admin API through the gateway binary, over real HTTP (issue 16): the
// gateway is started with an Admin key from its configuration file, and
// everything else is made through the API, as an operator would.

const adminKey = "test-admin-Zq8vW3xT9pL2mN6bR4cY"

// adminConfig is the configuration of the tests: the Admin key, no demo.
const adminConfig = `
demo: false
admin:
  api_keys: [{name: ops, secret: ` + adminKey + `}]
`

// apiResult is one answer of the admin API.
type apiResult struct {
	status int
	body   []byte
}

// api sends a request to the admin API of gw (path below /admin/v1) with
// key, a JSON body when body is not nil.
func (p *gwProc) api(t *testing.T, method, path, key string, body any) apiResult {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.url(admin.BasePath+path), rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return apiResult{res.StatusCode, b}
}

func (r apiResult) problem(t *testing.T) admin.Problem {
	t.Helper()
	var p admin.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("not a problem document (%d): %s", r.status, r.body)
	}
	return p
}

// client returns the admin API's Go client for gw with key.
func (p *gwProc) client(key string) *admin.Client {
	return admin.NewClient(p.url(""), secret.String(key))
}

// must fails the test on err.
func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestAdminAuthorizationThroughBinary: seed 000's table (every setting ×
// Admin, Service Provider and Account scope: allowed, or 403 naming the
// field), seed 002's privilege matrix for representative entities and
// methods (a key of each service type the gateway offers, on routes of the
// organization, sub-organization, phone and agent entities), and
// cross-account isolation (404), all against the built gateway.
func TestAdminAuthorizationThroughBinary(t *testing.T) {
	gw := startGateway(t, gwOptions{Config: adminConfig})
	ctx := t.Context()
	c := gw.client(adminKey)
	for _, sp := range []string{"sp1", "sp2"} {
		must[*admin.ServiceProvider](t)(c.CreateServiceProvider(ctx, admin.ServiceProvider{ID: sp, Name: "Provider " + sp}))
	}
	a1 := must[*admin.CreatedAccount](t)(c.CreateAccount(ctx, tenancy.Account{Name: "A1", ServiceProvider: "sp1", SIPRealm: "a1.example.com"}))
	a2 := must[*admin.CreatedAccount](t)(c.CreateAccount(ctx, tenancy.Account{Name: "A2", ServiceProvider: "sp2", SIPRealm: "a2.example.com"}))
	app := must[*tenancy.Application](t)(c.CreateApplication(ctx, a1.SID, tenancy.Application{Name: "ivr"}))
	key := func(r admin.CreateAPIKeyRequest) string {
		t.Helper()
		return must[*admin.CreatedAPIKey](t)(c.CreateAPIKey(ctx, r)).Secret
	}
	callers := map[string]string{
		admintest.Admin:           adminKey,
		admintest.ServiceProvider: key(admin.CreateAPIKeyRequest{Name: "sp1 ops", ServiceType: "admin", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp1"}),
		admintest.Account:         key(admin.CreateAPIKeyRequest{Name: "a1 ops", ServiceType: "admin", AccountSID: string(a1.SID)}),
	}

	t.Run("seed 000 scope table", func(t *testing.T) {
		target := admintest.Target{Account: string(a1.SID), Application: string(app.SID)}
		n := 0
		for _, st := range admintest.Seed000Settings() {
			for _, scope := range admintest.Scopes() {
				req := st.Request(scope, target)
				r := gw.api(t, req.Method, req.Path, callers[scope], req.Body)
				n++
				if st.AllowedFor(scope) {
					if r.status != http.StatusOK && r.status != http.StatusCreated {
						t.Errorf("%s by %s: %d %s; seed 000 allows it", st.Name, scope, r.status, r.body)
					}
					continue
				}
				p := r.problem(t)
				if _, ok := p.Field(st.Field); r.status != http.StatusForbidden || p.Code != admin.CodeForbiddenField || !ok {
					t.Errorf("%s by %s: %d %s; want 403 naming %q", st.Name, scope, r.status, r.body, st.Field)
				}
			}
		}
		cur := must[*tenancy.Account](t)(c.Account(ctx, a1.SID))
		if cur.LicensedSessions != 10+len(admintest.Admin) || cur.MaxUnits != 100+len(admintest.Admin) || cur.Unit != tenancy.UnitMinutes {
			t.Fatalf("a refused write got through: %+v", cur)
		}
		t.Logf("seed 000: %d requests", n)
	})

	t.Run("seed 002 privilege matrix", func(t *testing.T) {
		types := must[[]admin.ServiceType](t)(c.ServiceTypes(ctx))
		routes := admin.Routes()
		a := "/accounts/" + string(a1.SID)
		seq := 0
		next := func() string { seq++; return fmt.Sprint(seq) }
		calls := []struct {
			method, route string // route as admin.Routes names it
			path          func() string
			body          func() any
		}{
			{"GET", "/accounts", func() string { return "/accounts" }, nil},
			{"POST", "/accounts", func() string { return "/accounts" }, func() any { return map[string]any{"name": "New " + next()} }},
			{"GET", "/accounts/{sid}", func() string { return a }, nil},
			{"PATCH", "/accounts/{sid}", func() string { return a }, func() any { return map[string]any{"queue_event_webhook": "https://q.example.com/" + next()} }},
			{"DELETE", "/accounts/{sid}", func() string {
				return "/accounts/" + string(must[*admin.CreatedAccount](t)(c.CreateAccount(ctx, tenancy.Account{Name: "Doomed " + next()})).SID)
			}, nil},
			{"GET", "/accounts/{sid}/sip", func() string { return a + "/sip" }, nil},
			{"POST", "/accounts/{sid}/sip/users", func() string { return a + "/sip/users" }, func() any {
				return map[string]any{"username": "u" + next(), "password": "a-Passw0rd-1"}
			}},
			{"GET", "/accounts/{sid}/applications", func() string { return a + "/applications" }, nil},
			{"POST", "/accounts/{sid}/applications", func() string { return a + "/applications" }, func() any { return map[string]any{"name": "app " + next()} }},
			{"GET", "/api-keys", func() string { return "/api-keys?account_sid=" + string(a1.SID) }, nil},
			{"GET", "/smtp", func() string { return "/smtp" }, nil},
		}
		tested := 0
		for _, st := range types {
			k := key(admin.CreateAPIKeyRequest{Name: "matrix " + st.Name, ServiceType: st.Name, Scope: rbac.ScopeAdmin})
			for _, cl := range calls {
				i := slices.IndexFunc(routes, func(r admin.Route) bool { return r.Method == cl.method && r.Path == admin.BasePath+cl.route })
				if i < 0 {
					t.Fatalf("no route %s %s", cl.method, cl.route)
				}
				want := st.Privileges.Allows(routes[i].Entity, routes[i].Action)
				var body any
				if cl.body != nil {
					body = cl.body()
				}
				r := gw.api(t, cl.method, cl.path(), k, body)
				tested++
				switch {
				case want && r.status/100 != 2:
					t.Errorf("%s key (%s.%s granted) on %s %s: %d %s", st.Name, routes[i].Entity, routes[i].Action, cl.method, cl.route, r.status, r.body)
				case !want && r.status != http.StatusForbidden:
					t.Errorf("%s key (no %s.%s) on %s %s: %d %s, want 403", st.Name, routes[i].Entity, routes[i].Action, cl.method, cl.route, r.status, r.body)
				}
			}
		}
		if len(types) < 6 || tested < 6*len(calls) {
			t.Fatalf("%d service types, %d requests", len(types), tested)
		}
		t.Logf("privilege matrix: %d service types × %d routes", len(types), len(calls))
	})

	t.Run("cross-account isolation", func(t *testing.T) {
		acctKey, spKey := callers[admintest.Account], callers[admintest.ServiceProvider]
		other := "/accounts/" + string(a2.SID)
		for _, x := range []struct {
			key, method, path string
			body              any
		}{
			{acctKey, "GET", other, nil},
			{acctKey, "PATCH", other, map[string]any{"name": "taken over"}},
			{acctKey, "DELETE", other, nil},
			{acctKey, "GET", other + "/sip", nil},
			{acctKey, "POST", other + "/sip/users", map[string]any{"username": "intruder", "password": "a-Passw0rd-1"}},
			{acctKey, "GET", other + "/recording", nil},
			{acctKey, "POST", other + "/recording/test", nil},
			{acctKey, "GET", other + "/applications", nil},
			{acctKey, "GET", "/service-providers/sp1", nil},
			{spKey, "GET", other, nil},
			{spKey, "PATCH", other + "/sip", map[string]any{"allowlist": []string{"192.0.2.1"}}},
			{spKey, "GET", "/service-providers/sp2", nil},
			{spKey, "GET", "/accounts?service_provider=sp2", nil},
		} {
			if r := gw.api(t, x.method, x.path, x.key, x.body); r.status != http.StatusNotFound {
				t.Errorf("%s %s by another tenant's key: %d %s, want 404", x.method, x.path, r.status, r.body)
			}
		}
		// Lists show the caller's own accounts only.
		for k, want := range map[string][]tenancy.SID{acctKey: {a1.SID}, spKey: {a1.SID}} {
			list := must[*admin.List[tenancy.Account]](t)(gw.client(k).Accounts(ctx, nil))
			var got []tenancy.SID
			for _, a := range list.Items {
				got = append(got, a.SID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("account list %v, want %v", got, want)
			}
		}
		// The other account is untouched.
		if a := must[*tenancy.Account](t)(c.Account(ctx, a2.SID)); a.Name != "A2" || len(a.SIP.Users) != 0 {
			t.Fatalf("the other account changed: %+v", a)
		}
	})
}

// TestAdminSMTPAndBucketTestsThroughBinary: the SMTP settings' test against
// chasquid (STARTTLS with the test's certificate, which the gateway trusts
// through SSL_CERT_FILE; AUTH PLAIN; delivery to the inbox), and the
// bucket test against the suite's S3 and GCS servers and Azurite, each
// passing and failing as the server decides, through the gateway binary.
func TestAdminSMTPAndBucketTestsThroughBinary(t *testing.T) {
	cq := smtptest.StartChasquid(t)
	gw := startGateway(t, gwOptions{Config: adminConfig, Env: []string{"SSL_CERT_FILE=" + cq.CertFile}})
	ctx := t.Context()
	c := gw.client(adminKey)

	settings := tenancy.SMTPSettings{Host: "localhost", Port: cq.Port, Username: smtptest.User, Password: smtptest.Password, MailFrom: "Voice Gateway <" + smtptest.User + ">"}
	must[*admin.SMTPConfig](t)(c.SetSMTP(ctx, settings, 0))
	res := must[*admin.SMTPTestResult](t)(c.TestSMTP(ctx, admin.SMTPTestRequest{To: smtptest.User}))
	if !res.OK || !res.TLS || res.AuthMechanism != "PLAIN" || !res.Sent {
		t.Fatalf("SMTP test of the stored settings: %+v", res)
	}
	cq.WaitDelivered(t, "Subject: voicegw SMTP settings test")
	wrong := settings
	wrong.Password = "wrong-Passw0rd-xyz"
	if res := must[*admin.SMTPTestResult](t)(c.TestSMTP(ctx, admin.SMTPTestRequest{Settings: &wrong})); res.OK || res.Code != "auth" || strings.Contains(res.Error, "wrong-Passw0rd") {
		t.Fatalf("SMTP test with a wrong password: %+v", res)
	}

	acct := must[*admin.CreatedAccount](t)(c.CreateAccount(ctx, tenancy.Account{Name: "Buckets"}))
	acctClient := gw.client(must[*admin.CreatedAPIKey](t)(c.CreateAPIKey(ctx, admin.CreateAPIKeyRequest{
		Name: "owner", ServiceType: "admin", AccountSID: string(acct.SID)})).Secret)
	for _, x := range bucketCases(t) {
		t.Run(x.name, func(t *testing.T) {
			res := must[*admin.BucketTestResult](t)(acctClient.TestRecording(ctx, acct.SID, &tenancy.RecordingConfig{Bucket: x.cfg}))
			if res.OK != x.ok || res.Code != x.code || (!x.ok && (res.Step == "" || res.Error == "")) {
				t.Fatalf("bucket test = %+v, want ok=%v code=%q", res, x.ok, x.code)
			}
			for _, secret := range x.secrets {
				if strings.Contains(res.Error, secret) {
					t.Fatalf("the test's error reveals a secret: %s", res.Error)
				}
			}
		})
	}
}

// waitFile waits for a file matching pattern (filepath.Glob) and returns the
// matches.
func waitFile(t *testing.T, pattern string) []string {
	t.Helper()
	var m []string
	waitFor(t, 20*time.Second, "a file "+pattern, func() bool {
		m, _ = filepath.Glob(pattern)
		return len(m) > 0
	})
	return m
}

// sipCall records a call of duration as user to the account whose realm is
// realm, with examples/siprec-client (digest over TCP, the realm resolved
// to the gateway), and returns its exit code and output.
func sipCall(t *testing.T, gw *gwProc, realm, user, password string, duration time.Duration) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, siprecClient(t), "-srs", fmt.Sprintf("sip:%s:%d;transport=tcp", realm, gw.sipPort),
		"-resolve", realm+"=127.0.0.1", "-user", user, "-password", password, "-duration", duration.String())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("siprec-client: %v\n%s", err, out)
	return 0, ""
}

type bucketCase struct {
	name    string
	cfg     bucketconfig.Config
	ok      bool
	code    string
	secrets []string // that the answer must not show
}

// bucketCases are buckets of the suite's S3 and GCS servers and Azurite
// (not with -short), good and broken.
func bucketCases(t *testing.T) []bucketCase {
	s3 := storagetest.NewS3Server(t)
	s3.CreateBucket("recordings")
	gcs := storagetest.NewGCSServer(t)
	gcs.CreateBucket("recordings")
	wrongS3 := s3.Config("recordings", nil)
	wrongS3.S3Compatible.SecretAccessKey = "wrong/secret/key/0123456789abcdefghij"
	wrongGCS := gcs.Config("recordings", nil)
	wrongGCS.GCS.ServiceKey = gcs.WrongServiceKey()
	unreachable := s3.Config("recordings", nil)
	unreachable.S3Compatible.Endpoint = storagetest.UnreachableEndpoint(t)
	secrets := []string{"wrong/secret/key", s3.SecretKey.Reveal(), "PRIVATE KEY"}
	cases := []bucketCase{
		{"S3-compatible", s3.Config("recordings", nil), true, "", secrets},
		{"S3-compatible, missing bucket", s3.Config("nothere", nil), false, "no_such_bucket", secrets},
		{"S3-compatible, wrong secret", wrongS3, false, "bad_credentials", secrets},
		{"S3-compatible, unreachable", unreachable, false, "unreachable", secrets},
		{"GCS", gcs.Config("recordings", nil), true, "", secrets},
		{"GCS, wrong service key", wrongGCS, false, "bad_credentials", secrets},
	}
	if !testing.Short() {
		az := storagetest.StartAzurite(t)
		az.CreateContainer(t, "recordings")
		wrongAz := az.Config("recordings", nil)
		wrongAz.Azure.ConnectionString = az.WrongConnectionString()
		cases = append(cases,
			bucketCase{"Azurite", az.Config("recordings", nil), true, "", secrets},
			bucketCase{"Azurite, wrong key", wrongAz, false, "bad_credentials", append(secrets, az.WrongConnectionString().Reveal())})
	}
	return cases
}
