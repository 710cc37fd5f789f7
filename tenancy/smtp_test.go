package tenancy_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/tenancy"
)

// The SMTP settings are tested against real SMTP servers on loopback:
// chasquid (Debian package chasquid, a complete MTA) for STARTTLS, implicit
// TLS, AUTH PLAIN and delivery of the test message, and aiosmtpd (Debian
// package python3-aiosmtpd) for AUTH LOGIN, which chasquid does not offer.
// Both run unprivileged on free loopback ports; no mock server is involved
// (testdata/aiosmtpd_server.py only configures aiosmtpd).

const (
	smtpUser = "notify@example.test"
	smtpPass = "s3cret-Passw0rd-for-test"
)

// writeCert writes a self-signed certificate for localhost and 127.0.0.1
// and returns a pool that trusts it.
func writeCert(t *testing.T, certPath, keyPath string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func waitListening(t *testing.T, addr string, done <-chan struct{}, logPath string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("server exited before listening on %s:\n%s", addr, log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	t.Fatalf("server not listening on %s after 15 s:\n%s", addr, log)
}

type chasquid struct {
	submission, submissionTLS string
	roots                     *x509.CertPool
	inbox                     string
}

// startChasquid runs chasquid on loopback with one user, smtpUser, and a
// delivery agent that appends local mail to an inbox file.
func startChasquid(t *testing.T) *chasquid {
	t.Helper()
	bin := testenv.RequireTool(t, "chasquid", "apt-get install -y chasquid")
	util := testenv.RequireTool(t, "chasquid-util", "apt-get install -y chasquid")
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	for _, d := range []string{"certs/localhost", "domains/example.test"} {
		if err := os.MkdirAll(filepath.Join(conf, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	roots := writeCert(t, filepath.Join(conf, "certs/localhost/fullchain.pem"), filepath.Join(conf, "certs/localhost/privkey.pem"))
	cq := &chasquid{
		submission:    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		submissionTLS: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		roots:         roots,
		inbox:         filepath.Join(dir, "inbox"),
	}
	cfg := fmt.Sprintf(`hostname: "localhost"
smtp_address: "127.0.0.1:%d"
submission_address: %q
submission_over_tls_address: %q
data_dir: %q
mail_log_path: %q
mail_delivery_agent_bin: "/bin/sh"
mail_delivery_agent_args: "-c"
mail_delivery_agent_args: "cat >> %s"
`, testenv.FreePort(t), cq.submission, cq.submissionTLS, filepath.Join(dir, "data"), filepath.Join(dir, "mail.log"), cq.inbox)
	if err := os.WriteFile(filepath.Join(conf, "chasquid.conf"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(util, "-C="+conf, "user-add", smtpUser, "--password="+smtpPass).CombinedOutput(); err != nil {
		t.Fatalf("chasquid-util user-add: %v\n%s", err, out)
	}
	logPath := filepath.Join(dir, "chasquid.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config_dir="+conf, "-logfile="+logPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		logf.Close()
	})
	waitListening(t, cq.submission, done, logPath)
	waitListening(t, cq.submissionTLS, done, logPath)
	return cq
}

func hostPort(t *testing.T, addr string) (string, int) {
	h, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(p, &n)
	return h, n
}

func TestSMTPTestAgainstChasquid(t *testing.T) {
	testenv.Short(t, "starts an SMTP server")
	cq := startChasquid(t)
	ctx := context.Background()
	_, subPort := hostPort(t, cq.submission)
	_, tlsPort := hostPort(t, cq.submissionTLS)
	base := tenancy.SMTPSettings{Host: "127.0.0.1", Username: smtpUser, Password: smtpPass, MailFrom: "Voice Gateway <" + smtpUser + ">"}
	with := func(f func(*tenancy.SMTPSettings)) tenancy.SMTPSettings { s := base; f(&s); return s }

	for _, tc := range []struct {
		name     string
		s        tenancy.SMTPSettings
		opts     tenancy.SMTPTestOptions
		want     error
		wantRes  tenancy.SMTPTestResult
		delivery bool
	}{
		{"STARTTLS, trusted certificate, AUTH PLAIN", with(func(s *tenancy.SMTPSettings) { s.Host, s.Port = "localhost", subPort }),
			tenancy.SMTPTestOptions{RootCAs: cq.roots}, nil, tenancy.SMTPTestResult{TLS: true, AuthMechanism: "PLAIN"}, false},
		{"implicit TLS (Secure)", with(func(s *tenancy.SMTPSettings) { s.Host, s.Port, s.Secure = "localhost", tlsPort, true }),
			tenancy.SMTPTestOptions{RootCAs: cq.roots}, nil, tenancy.SMTPTestResult{TLS: true, AuthMechanism: "PLAIN"}, false},
		{"self-signed certificate, skip check", with(func(s *tenancy.SMTPSettings) { s.Port, s.SkipCertificateCheck = subPort, true }),
			tenancy.SMTPTestOptions{}, nil, tenancy.SMTPTestResult{TLS: true, AuthMechanism: "PLAIN"}, false},
		{"self-signed certificate, checked", with(func(s *tenancy.SMTPSettings) { s.Port = subPort }),
			tenancy.SMTPTestOptions{}, tenancy.ErrSMTPTLS, tenancy.SMTPTestResult{}, false},
		{"implicit TLS, untrusted", with(func(s *tenancy.SMTPSettings) { s.Port, s.Secure = tlsPort, true }),
			tenancy.SMTPTestOptions{}, tenancy.ErrSMTPTLS, tenancy.SMTPTestResult{}, false},
		{"wrong password", with(func(s *tenancy.SMTPSettings) {
			s.Port, s.SkipCertificateCheck, s.Password = subPort, true, "wrong-password"
		}),
			tenancy.SMTPTestOptions{}, tenancy.ErrSMTPAuth, tenancy.SMTPTestResult{}, false},
		{"unknown user", with(func(s *tenancy.SMTPSettings) {
			s.Port, s.SkipCertificateCheck, s.Username = subPort, true, "nobody@example.test"
		}),
			tenancy.SMTPTestOptions{}, tenancy.ErrSMTPAuth, tenancy.SMTPTestResult{}, false},
		{"test message delivered", with(func(s *tenancy.SMTPSettings) { s.Host, s.Port = "localhost", subPort }),
			tenancy.SMTPTestOptions{RootCAs: cq.roots, To: smtpUser}, nil, tenancy.SMTPTestResult{TLS: true, AuthMechanism: "PLAIN", Sent: true}, true},
		{"nothing listening", with(func(s *tenancy.SMTPSettings) { s.Port = testenv.FreePort(t) }),
			tenancy.SMTPTestOptions{}, tenancy.ErrSMTPDial, tenancy.SMTPTestResult{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.s.Test(ctx, &tc.opts)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Test = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), tc.s.Password.Reveal()) {
				t.Fatalf("error reveals the password: %v", err)
			}
			if tc.want == nil && res != tc.wantRes {
				t.Fatalf("result %+v, want %+v", res, tc.wantRes)
			}
			if tc.delivery {
				// chasquid queues, then runs the delivery agent.
				deadline := time.Now().Add(15 * time.Second)
				for {
					b, _ := os.ReadFile(cq.inbox)
					if strings.Contains(string(b), "Subject: voicegw SMTP settings test") {
						if !strings.Contains(string(b), "From: \"Voice Gateway\" <"+smtpUser+">") {
							t.Fatalf("delivered message lacks the From header:\n%s", b)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("test message not delivered; inbox:\n%s", b)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
}

// findAiosmtpd returns a python3 that can import aiosmtpd (Debian's
// /usr/bin/python3 first: another python3 may come first in PATH).
func findAiosmtpd(t *testing.T) string {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import aiosmtpd").Run() == nil {
			return py
		}
	}
	testenv.Missing(t, "python3 module aiosmtpd", "apt-get install -y python3-aiosmtpd")
	return ""
}

type aiosmtpd struct {
	port  int
	roots *x509.CertPool
	mu    sync.Mutex
	auths []string
}

func (a *aiosmtpd) authAttempts() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auths...)
}

// startAiosmtpd runs testdata/aiosmtpd_server.py in mode "login" or "plain".
func startAiosmtpd(t *testing.T, mode string) *aiosmtpd {
	t.Helper()
	py := findAiosmtpd(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	srv := &aiosmtpd{roots: writeCert(t, certPath, keyPath), port: testenv.FreePort(t)}
	cmd := exec.Command(py, "testdata/aiosmtpd_server.py", mode, fmt.Sprint(srv.port), certPath, keyPath, smtpUser, smtpPass)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	logPath := filepath.Join(dir, "stderr")
	logf, _ := os.Create(logPath)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m, ok := strings.CutPrefix(sc.Text(), "AUTH "); ok {
				srv.mu.Lock()
				srv.auths = append(srv.auths, m)
				srv.mu.Unlock()
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		<-done
		logf.Close()
	})
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", srv.port), done, logPath)
	return srv
}

func TestSMTPTestAuthLoginAgainstAiosmtpd(t *testing.T) {
	testenv.Short(t, "starts an SMTP server")
	srv := startAiosmtpd(t, "login")
	ctx := context.Background()
	s := tenancy.SMTPSettings{Host: "localhost", Port: srv.port, Username: smtpUser, Password: smtpPass, MailFrom: smtpUser}
	res, err := s.Test(ctx, &tenancy.SMTPTestOptions{RootCAs: srv.roots, To: "ops@example.test"})
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	if res != (tenancy.SMTPTestResult{TLS: true, AuthMechanism: "LOGIN", Sent: true}) {
		t.Fatalf("result %+v", res)
	}
	s.Password = "wrong-password-entirely"
	if _, err := s.Test(ctx, &tenancy.SMTPTestOptions{RootCAs: srv.roots}); !errors.Is(err, tenancy.ErrSMTPAuth) || !strings.Contains(err.Error(), "535") {
		t.Fatalf("wrong password: %v", err)
	}
}

// A server that offers AUTH without any TLS: Test refuses before sending the
// password, and the server sees no authentication attempt.
func TestSMTPRefusesCleartextPassword(t *testing.T) {
	testenv.Short(t, "starts an SMTP server")
	srv := startAiosmtpd(t, "plain")
	s := tenancy.SMTPSettings{Host: "127.0.0.1", Port: srv.port, Username: smtpUser, Password: smtpPass, MailFrom: smtpUser}
	_, err := s.Test(context.Background(), nil)
	if !errors.Is(err, tenancy.ErrSMTPInsecure) {
		t.Fatalf("Test = %v, want ErrSMTPInsecure", err)
	}
	// Without credentials the same server passes (nothing secret is sent).
	s.Username, s.Password = "", ""
	if res, err := s.Test(context.Background(), &tenancy.SMTPTestOptions{To: "ops@example.test"}); err != nil || res.TLS || !res.Sent {
		t.Fatalf("Test without credentials = %+v, %v", res, err)
	}
	if got := srv.authAttempts(); len(got) != 0 {
		t.Fatalf("the client authenticated over cleartext: %v", got)
	}
}

func TestSMTPValidate(t *testing.T) {
	ok := tenancy.SMTPSettings{Host: "smtp.example.com", Port: 587, Username: "u", Password: "p", MailFrom: "noreply@example.com"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid settings: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*tenancy.SMTPSettings)
		field string
	}{
		{"no host", func(s *tenancy.SMTPSettings) { s.Host = "" }, "host"},
		{"bad host", func(s *tenancy.SMTPSettings) { s.Host = "smtp example.com" }, "host"},
		{"port too big", func(s *tenancy.SMTPSettings) { s.Port = 70000 }, "port"},
		{"negative port", func(s *tenancy.SMTPSettings) { s.Port = -1 }, "port"},
		{"password without username", func(s *tenancy.SMTPSettings) { s.Username = "" }, "username"},
		{"username without password", func(s *tenancy.SMTPSettings) { s.Password = "" }, "password"},
		{"no mail from", func(s *tenancy.SMTPSettings) { s.MailFrom = "" }, "mail_from"},
		{"mail from not an address", func(s *tenancy.SMTPSettings) { s.MailFrom = "noreply" }, "mail_from"},
		{"bad bcc", func(s *tenancy.SMTPSettings) { s.NotificationBCC = "a@b@c" }, "notification_bcc"},
		{"bad support email", func(s *tenancy.SMTPSettings) { s.SupportEmail = "support at example.com" }, "support_email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.edit(&s)
			err := s.Validate()
			if !errors.Is(err, tenancy.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			fes := tenancy.FieldErrors(err)
			if len(fes) != 1 || fes[0].Field != tc.field {
				t.Fatalf("Validate = %v, want one error naming %q", err, tc.field)
			}
			if strings.Contains(err.Error(), "p\"") && tc.field == "password" {
				t.Fatalf("error quotes the password: %v", err)
			}
		})
	}
	for _, good := range []tenancy.SMTPSettings{
		{Host: "localhost", MailFrom: "Voice Gateway <noreply@example.com>"},
		{Host: "192.0.2.10", Secure: true, MailFrom: "a@example.com", NotificationBCC: "audit@example.com", SupportEmail: "help@example.com"},
		{Host: "::1", MailFrom: "a@example.com"},
	} {
		if err := good.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", good, err)
		}
	}
	if p := (&tenancy.SMTPSettings{Secure: true}).EffectivePort(); p != 465 {
		t.Errorf("default secure port %d", p)
	}
	if p := (&tenancy.SMTPSettings{}).EffectivePort(); p != 587 {
		t.Errorf("default port %d", p)
	}
}
