// Package smtptest runs a real SMTP server for tests: chasquid (Debian
// package chasquid) on loopback, with STARTTLS on a certificate made for the
// test, one user for AUTH PLAIN, and local delivery appended to an inbox
// file.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
)

// The user chasquid knows.
const (
	User     = "notify@example.test"
	Password = "s3cret-Passw0rd-for-test"
)

// WriteCert writes a self-signed certificate for localhost and 127.0.0.1
// (PEM) and its key, and returns a pool holding the certificate.
func WriteCert(t testing.TB, certPath, keyPath string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
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

// WaitListening waits up to 15 s for a server to accept on addr, failing
// with its log (logPath) when it exits first or never listens.
func WaitListening(t testing.TB, addr string, done <-chan struct{}, logPath string) {
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

// Chasquid is a running chasquid.
type Chasquid struct {
	// Port is the submission port (STARTTLS, AUTH).
	Port int
	// Roots trusts its certificate; CertFile is the certificate (PEM),
	// for a child process's SSL_CERT_FILE.
	Roots    *x509.CertPool
	CertFile string
	// Inbox receives every message delivered to User.
	Inbox string
}

// StartChasquid runs chasquid until t ends; a missing chasquid skips the
// test (fails under CI=true).
func StartChasquid(t testing.TB) *Chasquid {
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
	cq := &Chasquid{CertFile: filepath.Join(conf, "certs/localhost/fullchain.pem"), Port: testenv.FreePort(t), Inbox: filepath.Join(dir, "inbox")}
	cq.Roots = WriteCert(t, cq.CertFile, filepath.Join(conf, "certs/localhost/privkey.pem"))
	cfg := fmt.Sprintf(`hostname: "localhost"
smtp_address: "127.0.0.1:%d"
submission_address: "127.0.0.1:%d"
submission_over_tls_address: "127.0.0.1:%d"
data_dir: %q
mail_log_path: %q
mail_delivery_agent_bin: "/bin/sh"
mail_delivery_agent_args: "-c"
mail_delivery_agent_args: "cat >> %s"
`, testenv.FreePort(t), cq.Port, testenv.FreePort(t), filepath.Join(dir, "data"), filepath.Join(dir, "mail.log"), cq.Inbox)
	if err := os.WriteFile(filepath.Join(conf, "chasquid.conf"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(util, "-C="+conf, "user-add", User, "--password="+Password).CombinedOutput(); err != nil {
		t.Fatalf("chasquid-util user-add: %v\n%s", err, out)
	}
	logPath := filepath.Join(dir, "chasquid.log")
	logf, _ := os.Create(logPath)
	cmd := exec.Command(bin, "-config_dir="+conf, "-logfile="+logPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done; logf.Close() })
	WaitListening(t, fmt.Sprintf("127.0.0.1:%d", cq.Port), done, logPath)
	return cq
}

// WaitDelivered waits up to 15 s for the inbox to hold text.
func (c *Chasquid) WaitDelivered(t testing.TB, text string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(c.Inbox)
		if strings.Contains(string(b), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not delivered; inbox:\n%s", text, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
