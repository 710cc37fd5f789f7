package admin_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/voicegw/voicegw/internal/smtptest"
	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/storagetest"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// The SMTP test runs against the real SMTP servers tenancy's tests run:
// chasquid (Debian package chasquid) for STARTTLS, AUTH PLAIN and delivery,
// aiosmtpd (python3-aiosmtpd, configured by tenancy/testdata) for a server
// without TLS. The bucket test runs against storage's test servers: the
// in-process S3 and GCS servers and Azurite (npm).

const (
	smtpUser = smtptest.User
	smtpPass = smtptest.Password
)

func TestSMTPSettingsAgainstChasquid(t *testing.T) {
	testenv.Short(t, "starts an SMTP server")
	cq := smtptest.StartChasquid(t)
	e := newEnv(t, func(c *admin.Config) { c.SMTPTestOptions = &tenancy.SMTPTestOptions{RootCAs: cq.Roots} })
	ctx := context.Background()
	c := e.client(e.admin)

	settings := tenancy.SMTPSettings{Host: "localhost", Port: cq.Port, Username: smtpUser, Password: smtpPass, MailFrom: "Voice Gateway <" + smtpUser + ">"}
	// Test before saving, with delivery.
	res, err := c.TestSMTP(ctx, admin.SMTPTestRequest{Settings: &settings, To: smtpUser})
	if err != nil || !res.OK || !res.TLS || res.AuthMechanism != "PLAIN" || !res.Sent {
		t.Fatalf("TestSMTP = %+v, %v", res, err)
	}
	cq.WaitDelivered(t, "Subject: voicegw SMTP settings test")
	// Save, read back masked, test the stored settings.
	saved, err := c.SetSMTP(ctx, settings, 0)
	if err != nil || saved.Revision != 1 {
		t.Fatalf("SetSMTP = %+v, %v", saved, err)
	}
	got, _ := c.SMTP(ctx)
	if got.Password.Reveal() == smtpPass || got.Host != "localhost" {
		t.Fatalf("SMTP read back %+v (password must be masked)", got)
	}
	if res, err := c.TestSMTP(ctx, admin.SMTPTestRequest{}); err != nil || !res.OK {
		t.Fatalf("testing the stored settings: %+v, %v", res, err)
	}
	// The form sent back with the masked password keeps the stored one.
	masked := got.SMTPSettings
	masked.SupportEmail = "help@example.test"
	if res, err := c.TestSMTP(ctx, admin.SMTPTestRequest{Settings: &masked}); err != nil || !res.OK {
		t.Fatalf("testing with the masked password: %+v, %v", res, err)
	}
	if _, err := c.SetSMTP(ctx, masked, got.Revision); err != nil {
		t.Fatal(err)
	}
	// Wrong password: the test runs and says why, without the password.
	wrong := settings
	wrong.Password = "wrong-Passw0rd-xyz"
	res, err = c.TestSMTP(ctx, admin.SMTPTestRequest{Settings: &wrong})
	if err != nil || res.OK || res.Code != "auth" || strings.Contains(res.Error, "wrong-Passw0rd-xyz") {
		t.Fatalf("wrong password: %+v, %v", res, err)
	}
	// Untrusted certificate, nothing listening.
	e2 := newEnv(t)
	res, _ = e2.client(e2.admin).TestSMTP(ctx, admin.SMTPTestRequest{Settings: &settings})
	if res.OK || res.Code != "tls" {
		t.Fatalf("untrusted certificate: %+v", res)
	}
	closed := settings
	closed.Port = testenv.FreePort(t)
	if res, _ := c.TestSMTP(ctx, admin.SMTPTestRequest{Settings: &closed}); res.OK || res.Code != "dial" {
		t.Fatalf("nothing listening: %+v", res)
	}
	// A masked password is never sent to another server.
	elsewhere := got.SMTPSettings
	elsewhere.Host = "127.0.0.2"
	_, err = c.TestSMTP(ctx, admin.SMTPTestRequest{Settings: &elsewhere})
	var p *admin.Problem
	if !errorsAs(err, &p) || p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("masked password to another host: %v", err)
	}
	if _, ok := p.Field("password"); !ok {
		t.Fatalf("refusal does not name the password: %v", err)
	}
	if _, err := c.SetSMTP(ctx, elsewhere, 2); !errorsAs(err, &p) || p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("saving a masked password for another host: %v", err)
	}
	// Only the platform (Admin) reaches SMTP settings.
	w := e.world()
	spKey := e.key(rbac.ScopeServiceProvider, w.sp1, "", "all")
	e.do(http.MethodGet, "/smtp", spKey, nil).must(t, http.StatusForbidden)
	e.do(http.MethodPost, "/smtp/test", spKey, nil).must(t, http.StatusForbidden)
}

// findAiosmtpd returns a python3 that can import aiosmtpd.
func findAiosmtpd(t *testing.T) string {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import aiosmtpd").Run() == nil {
			return py
		}
	}
	testenv.Missing(t, "python3 module aiosmtpd", "apt-get install -y python3-aiosmtpd")
	return ""
}

// A server without TLS: the test refuses to send the password in clear.
func TestSMTPInsecureServer(t *testing.T) {
	testenv.Short(t, "starts an SMTP server")
	py := findAiosmtpd(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	smtptest.WriteCert(t, certPath, keyPath)
	port := testenv.FreePort(t)
	cmd := exec.Command(py, "../testdata/aiosmtpd_server.py", "plain", fmt.Sprint(port), certPath, keyPath, smtpUser, smtpPass)
	stdin, _ := cmd.StdinPipe()
	logPath := filepath.Join(dir, "log")
	logf, _ := os.Create(logPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Process.Kill(); <-done; logf.Close() })
	smtptest.WaitListening(t, fmt.Sprintf("127.0.0.1:%d", port), done, logPath)

	e := newEnv(t)
	s := tenancy.SMTPSettings{Host: "127.0.0.1", Port: port, Username: smtpUser, Password: smtpPass, MailFrom: smtpUser}
	res, err := e.client(e.admin).TestSMTP(context.Background(), admin.SMTPTestRequest{Settings: &s})
	if err != nil || res.OK || res.Code != "insecure" {
		t.Fatalf("cleartext server: %+v, %v", res, err)
	}
}

// TestRecordingBucketEgressRefused: with the default egress policy, an
// account key that points its bucket at a loopback server (a stand-in for
// an internal service or the cloud metadata endpoint) and runs the test
// gets egress_refused naming the address, the server sees no connection,
// and nothing it would have answered is in the result.
func TestRecordingBucketEgressRefused(t *testing.T) {
	var conns atomic.Int64
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ami-id instance-id iam/security-credentials"))
	}))
	internal.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	internal.Start()
	defer internal.Close()
	e := newEnv(t, func(c *admin.Config) { c.Egress = nil })
	w := e.world()
	c := e.client(e.key(rbac.ScopeAccount, "", string(w.a1.SID), "all"))
	cfg := storage.Config{Vendor: storage.VendorS3Compatible, S3Compatible: &storage.S3CompatibleConfig{
		Endpoint: internal.URL, PathStyle: true, Bucket: "b", AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "not-a-real-secret-0123456789"}}
	res, err := c.TestRecording(context.Background(), w.a1.SID, &tenancy.RecordingConfig{Bucket: cfg})
	if err != nil {
		t.Fatal(err)
	}
	host := internal.Listener.Addr().String()
	if res.OK || res.Code != "egress_refused" || !strings.Contains(res.Error, host) {
		t.Fatalf("probe = %+v, want egress_refused naming %s", res, host)
	}
	if strings.Contains(res.Error, "ami-id") || strings.Contains(res.Error, "bytes") {
		t.Fatalf("the result tells what the internal server holds: %s", res.Error)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the internal server", n)
	}
}

func TestRecordingBucketAgainstTestServers(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	ctx := context.Background()
	c := e.client(e.key(rbac.ScopeAccount, "", string(w.a1.SID), "all"))

	s3 := storagetest.NewS3Server(t)
	s3.CreateBucket("recordings")
	gcs := storagetest.NewGCSServer(t)
	gcs.CreateBucket("recordings")
	type tc struct {
		name string
		cfg  storage.Config
		ok   bool
		code string
	}
	cases := []tc{
		{"S3-compatible", s3.Config("recordings", nil), true, ""},
		{"S3-compatible, missing bucket", s3.Config("nothere", nil), false, "no_such_bucket"},
		{"S3-compatible, wrong secret", func() storage.Config {
			cfg := s3.Config("recordings", nil)
			cfg.S3Compatible.SecretAccessKey = "wrong/secret/key/0123456789abcdefghij"
			return cfg
		}(), false, "bad_credentials"},
		{"GCS", gcs.Config("recordings", nil), true, ""},
		{"GCS, wrong service key", func() storage.Config {
			cfg := gcs.Config("recordings", nil)
			cfg.GCS.ServiceKey = gcs.WrongServiceKey()
			return cfg
		}(), false, "bad_credentials"},
		{"S3-compatible, unreachable", func() storage.Config {
			cfg := s3.Config("recordings", nil)
			cfg.S3Compatible.Endpoint = storagetest.UnreachableEndpoint(t)
			return cfg
		}(), false, "unreachable"},
	}
	if !testing.Short() {
		az := storagetest.StartAzurite(t)
		az.CreateContainer(t, "recordings")
		cases = append(cases,
			tc{"Azurite", az.Config("recordings", nil), true, ""},
			tc{"Azurite, wrong key", func() storage.Config {
				cfg := az.Config("recordings", nil)
				cfg.Azure.ConnectionString = az.WrongConnectionString()
				return cfg
			}(), false, "bad_credentials"})
	}
	for _, x := range cases {
		t.Run(x.name, func(t *testing.T) {
			res, err := c.TestRecording(ctx, w.a1.SID, &tenancy.RecordingConfig{Bucket: x.cfg})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != x.ok || res.Code != x.code {
				t.Fatalf("probe = %+v, want ok=%v code=%q", res, x.ok, x.code)
			}
			if !x.ok && (res.Step == "" || res.Error == "") {
				t.Fatalf("a failed probe says neither step nor why: %+v", res)
			}
			for _, secret := range []string{"wrong/secret/key", s3.SecretKey.Reveal(), "PRIVATE KEY"} {
				if strings.Contains(res.Error, secret) {
					t.Fatalf("the probe's error reveals a secret: %s", res.Error)
				}
			}
		})
	}
	// Saved, then tested as stored; then the masked form sent back tests
	// with the stored secret.
	rec, err := c.UpdateRecording(ctx, w.a1.SID, admin.RecordingPatch{Enabled: ptr(true), Bucket: ptr(s3.Config("recordings", nil))}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rec.Bucket.S3Compatible.SecretAccessKey.Reveal(), s3.SecretKey.Reveal()) {
		t.Fatalf("the bucket secret comes back in plain form: %+v", rec.Bucket.S3Compatible)
	}
	if res, err := c.TestRecording(ctx, w.a1.SID, nil); err != nil || !res.OK {
		t.Fatalf("stored configuration: %+v, %v", res, err)
	}
	if res, err := c.TestRecording(ctx, w.a1.SID, &rec.RecordingConfig); err != nil || !res.OK {
		t.Fatalf("masked configuration sent back: %+v, %v", res, err)
	}
	// The masked secret is not sent to another endpoint.
	moved := rec.RecordingConfig
	moved.Bucket = rec.Bucket.Clone()
	moved.Bucket.S3Compatible.Endpoint = "http://127.0.0.1:1"
	_, err = c.TestRecording(ctx, w.a1.SID, &moved)
	var p *admin.Problem
	if !errorsAs(err, &p) || p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("masked secret with another endpoint: %v", err)
	}
	// Nothing configured: 422 says so.
	if _, err := c.TestRecording(ctx, w.a2.SID, nil); err == nil {
		t.Fatal("testing an account without a bucket passed")
	}
}
