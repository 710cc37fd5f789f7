package sip

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/siptest"
	"github.com/voicegw/voicegw/internal/testenv"
)

// tlsFiles writes a self-signed certificate into dir and loads it.
func tlsFiles(t *testing.T, dir string, clientCA string) *TLSFiles {
	t.Helper()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := os.Stat(cert); err != nil {
		if _, err := WriteSelfSigned(cert, key, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	f, err := LoadTLSFiles(TLSFilesConfig{CertFile: cert, KeyFile: key, ClientCAFile: clientCA})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// sipgoTLS runs a sipgo server for SIP over TLS behind a Listener for cfg,
// answering OPTIONS 200.
func sipgoTLS(t *testing.T, cfg ListenerConfig) (string, *Listener) {
	t.Helper()
	srv, _ := siptest.NewServer(t, siptest.Config{NoHost: true})
	var seen string
	srv.OnOptions(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		seen = req.Transport()
		res := sipgosip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sipgosip.NewHeader("X-Transport", seen))
		_ = tx.Respond(res)
	})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, cfg)
	go func() { _ = srv.ServeTLS(l) }()
	t.Cleanup(func() { _ = l.Close() })
	return inner.Addr().String(), l
}

// dialTLS connects with TLS, trusting roots, presenting certs.
func dialTLS(t *testing.T, addr string, roots *x509.CertPool, certs ...tls.Certificate) (*tls.Conn, error) {
	t.Helper()
	raw := dialFrom(t, "127.0.0.1", addr)
	c := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: certs})
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	err := c.Handshake()
	if err == nil {
		// TLS 1.3: the server refuses a client certificate after the
		// client's side of the handshake; an OPTIONS shows the outcome.
		msg := strings.Replace(sipMessage("OPTIONS", "probe", ""), "SIP/2.0/TCP", "SIP/2.0/TLS", 1)
		if _, err = c.Write([]byte(msg)); err == nil {
			r := bufio.NewReader(c)
			var line string
			if line, err = r.ReadString('\n'); err == nil && !strings.HasPrefix(line, "SIP/2.0 200") {
				err = errors.New("answered " + line)
			}
			for l := line; err == nil && l != "\r\n"; { // the rest of the answer
				l, err = r.ReadString('\n')
			}
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, err
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// optionsOver sends an OPTIONS on c and checks the 200 says it came over
// TLS.
func optionsOver(t *testing.T, c net.Conn, id string) {
	t.Helper()
	msg := strings.Replace(sipMessage("OPTIONS", id, ""), "sip:b@example.test SIP/2.0", "sips:127.0.0.1 SIP/2.0", 1)
	msg = strings.Replace(msg, "SIP/2.0/TCP", "SIP/2.0/TLS", 1)
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	res := readResponse(t, c, bufio.NewReader(c))
	if !strings.HasPrefix(res, "SIP/2.0 200 OK") || !strings.Contains(res, "Call-ID: "+id) || !strings.Contains(res, "X-Transport: TLS") {
		t.Fatalf("answer over TLS: %q", res)
	}
}

// TestListenerTLS: SIP over TLS through the Listener to sipgo: a request
// is answered over TLS (sipgo sees transport TLS); the size limit reads
// the decrypted stream (513 over TLS); Allow refuses a source at accept,
// before any handshake; a connection that never completes its handshake
// is closed (HandshakeTimeout) and counted, as is one that is not TLS.
func TestListenerTLS(t *testing.T) {
	files := tlsFiles(t, t.TempDir(), "")
	roots := poolOf(files.Certificate())
	var events eventLog
	addr, l := sipgoTLS(t, ListenerConfig{
		TLS: files.ServerConfig(), HandshakeTimeout: 300 * time.Millisecond, MaxMessageSize: 4000, OnEvent: events.record,
		Allow: func(a netip.Addr) bool { return a != netip.MustParseAddr("127.0.0.3") },
	})
	c, err := dialTLS(t, addr, roots)
	if err != nil {
		t.Fatal(err)
	}
	optionsOver(t, c, "tls-1")

	big := strings.Replace(sipMessage("INVITE", "big-tls", strings.Repeat("m", 6000)), "SIP/2.0/TCP", "SIP/2.0/TLS", 1)
	if _, err := c.Write([]byte(big)); err != nil {
		t.Fatal(err)
	}
	if res := readResponse(t, c, bufio.NewReader(c)); !strings.HasPrefix(res, "SIP/2.0 513") || !strings.Contains(res, "SIP/2.0/TLS") {
		t.Fatalf("answer to the big request over TLS: %q", res)
	}
	optionsOver(t, c, "tls-2") // the connection goes on

	refused := dialFrom(t, "127.0.0.3", addr)
	waitClosed(t, refused, "a refused source")

	silent := dialFrom(t, "127.0.0.1", addr) // connects, never says hello
	waitClosed(t, silent, "a connection without a handshake")
	notTLS := dialFrom(t, "127.0.0.1", addr)
	_, _ = notTLS.Write([]byte(sipMessage("OPTIONS", "clear-1", "")))
	waitClosed(t, notTLS, "a connection speaking SIP in clear")

	srsEventuallyTrue(t, "handshake failures counted", func() bool { return l.Stats().HandshakeFailures == 2 })
	if s := l.Stats(); s.Refused != 1 || s.TooLarge != 1 || events.count(EventHandshakeFailed) != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func srsEventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenerMutualTLS: with a client CA file, a client without a
// certificate, and one whose certificate another authority signed, fail
// the handshake and are closed; one with a certificate of the CA is
// served. The refusal is checked with OpenSSL's s_client too.
func TestListenerMutualTLS(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	ca, err := WriteSelfSigned(caCert, caKey, []string{"sbc.example.test"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	client, err := tls.LoadX509KeyPair(caCert, caKey) // the SBC presents the CA's own certificate
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if _, err := WriteSelfSigned(filepath.Join(otherDir, "c.pem"), filepath.Join(otherDir, "k.pem"), []string{"stranger"}, 0); err != nil {
		t.Fatal(err)
	}
	stranger, _ := tls.LoadX509KeyPair(filepath.Join(otherDir, "c.pem"), filepath.Join(otherDir, "k.pem"))
	files := tlsFiles(t, t.TempDir(), caCert)
	roots := poolOf(files.Certificate())
	addr, l := sipgoTLS(t, ListenerConfig{TLS: files.ServerConfig()})

	if _, err := dialTLS(t, addr, roots); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if _, err := dialTLS(t, addr, roots, stranger); err == nil {
		t.Fatal("a client with another authority's certificate was served")
	}
	c, err := dialTLS(t, addr, roots, client)
	if err != nil {
		t.Fatalf("the CA's client: %v", err)
	}
	optionsOver(t, c, "mtls-1")
	_ = ca

	openssl := testenv.RequireTool(t, "openssl", "apt-get install -y openssl")
	cmd := exec.Command(openssl, "s_client", "-connect", addr, "-CAfile", filepath.Join(filepath.Dir(files.cfg.CertFile), "cert.pem"), "-quiet", "-verify_return_error")
	cmd.Stdin = strings.NewReader(sipMessage("OPTIONS", "openssl-1", ""))
	out, err := cmd.CombinedOutput()
	if err == nil && strings.Contains(string(out), "SIP/2.0 200") {
		t.Fatalf("openssl s_client without a certificate was answered:\n%s", out)
	}
	srsEventuallyTrue(t, "handshake failures", func() bool { return l.Stats().HandshakeFailures >= 3 })
}

// TestTLSFilesReload: new certificate files are picked up by Reload (and
// by Watch) without a restart: new handshakes get the new certificate
// while a connection made before keeps working; files that do not load
// leave the certificate in use.
func TestTLSFilesReload(t *testing.T) {
	dir := t.TempDir()
	files := tlsFiles(t, dir, "")
	first := files.Certificate()
	addr, _ := sipgoTLS(t, ListenerConfig{TLS: files.ServerConfig()})
	old, err := dialTLS(t, addr, poolOf(first))
	if err != nil {
		t.Fatal(err)
	}

	next, err := WriteSelfSigned(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go files.Watch(ctx, 20*time.Millisecond)
	srsEventuallyTrue(t, "the watcher reloads", func() bool { return files.Certificate().Equal(next) })
	c, err := dialTLS(t, addr, poolOf(next))
	if err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	if got := c.ConnectionState().PeerCertificates[0]; !got.Equal(next) {
		t.Fatal("a new connection got the old certificate")
	}
	optionsOver(t, c, "new-1")
	optionsOver(t, old, "old-1") // the connection made before is still served

	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("-----BEGIN PRIVATE KEY-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := files.Reload(); !errors.Is(err, ErrTLSFiles) || strings.Contains(err.Error(), "broken") {
		t.Fatalf("reload of a broken key: %v", err)
	}
	if !files.Certificate().Equal(next) {
		t.Fatal("a failed reload replaced the certificate")
	}
}

// TestWriteSelfSigned: the files are private (0600), load, and name the
// hosts asked for.
func TestWriteSelfSigned(t *testing.T) {
	dir := t.TempDir()
	cert, err := WriteSelfSigned(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), []string{"srs.example.test", "192.0.2.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"c.pem", "k.pem"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st.Mode(), err)
		}
	}
	if err := cert.VerifyHostname("srs.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if fp := Fingerprint(cert); len(fp) != 95 || strings.ToUpper(fp) != fp {
		t.Fatalf("fingerprint %q", fp)
	}
	if _, err := LoadTLSFiles(TLSFilesConfig{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "missing.pem")}); !errors.Is(err, ErrTLSFiles) {
		t.Fatalf("missing key: %v", err)
	}
}

// TestDevCertificate: the first call makes the directory (0700) and a
// certificate naming the listen host; the second finds it and makes none;
// a wildcard listen host is not named.
func TestDevCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	cert, key, made, err := DevCertificate(dir, "192.0.2.10:5061")
	if err != nil || made == nil {
		t.Fatalf("first call: %v, made %v", err, made)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the directory: %v %v", fi.Mode(), err)
	}
	if len(made.IPAddresses) != 2 || made.IPAddresses[0].String() != "192.0.2.10" || !slices.Contains(made.DNSNames, "localhost") {
		t.Fatalf("names: %v %v", made.IPAddresses, made.DNSNames)
	}
	files, err := LoadTLSFiles(TLSFilesConfig{CertFile: cert, KeyFile: key})
	if err != nil || !files.Certificate().Equal(made) {
		t.Fatalf("the files do not load as the certificate made: %v", err)
	}
	if c2, k2, again, err := DevCertificate(dir, "0.0.0.0:5061"); err != nil || again != nil || c2 != cert || k2 != key {
		t.Fatalf("second call: %v, made again %v", err, again != nil)
	}
	wild, _, _, err := DevCertificate(t.TempDir(), "[::]:5061")
	if err != nil {
		t.Fatal(err)
	}
	files, err = LoadTLSFiles(TLSFilesConfig{CertFile: wild, KeyFile: filepath.Join(filepath.Dir(wild), "key.pem")})
	if err != nil || len(files.Certificate().IPAddresses) != 1 {
		t.Fatalf("a wildcard host is named: %v %v", err, files.Certificate().IPAddresses)
	}
}

// TestLoadTLSFilesDevCertDir: without certificate files, DevCertDir makes
// a development certificate on the first load (MadeDevCertificate says so)
// and finds it on the next; without DevCertDir the files are required.
func TestLoadTLSFilesDevCertDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	files, err := LoadTLSFiles(TLSFilesConfig{DevCertDir: dir, DevListen: "192.0.2.10:5061"})
	if err != nil || files.MadeDevCertificate() == nil || !files.Certificate().Equal(files.MadeDevCertificate()) ||
		files.CertFile() != filepath.Join(dir, "cert.pem") || files.Certificate().IPAddresses[0].String() != "192.0.2.10" {
		t.Fatalf("first load: %v (made %v, file %q)", err, files != nil && files.MadeDevCertificate() != nil, files.CertFile())
	}
	again, err := LoadTLSFiles(TLSFilesConfig{DevCertDir: dir, DevListen: "192.0.2.10:5061"})
	if err != nil || again.MadeDevCertificate() != nil || !again.Certificate().Equal(files.Certificate()) {
		t.Fatalf("second load: %v, made again %v", err, again != nil && again.MadeDevCertificate() != nil)
	}
	if _, err := LoadTLSFiles(TLSFilesConfig{}); !errors.Is(err, ErrTLSFiles) {
		t.Fatalf("no files and no DevCertDir: %v", err)
	}
}

// TestTLSFilesConfigCheck: each problem of the names is a TLSFileError
// naming the field and the file (never the contents); a complete set of
// existing files, or none with DevCertDir, passes; LoadTLSFiles refuses
// what Check refuses, with the same errors.
func TestTLSFilesConfigCheck(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := WriteSelfSigned(cert, key, nil, 0); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	type want struct{ field, file string }
	for _, tc := range []struct {
		name string
		cfg  TLSFilesConfig
		want []want
	}{
		{"complete", TLSFilesConfig{CertFile: cert, KeyFile: key, ClientCAFile: cert}, nil},
		{"development", TLSFilesConfig{DevCertDir: dir}, nil},
		{"none", TLSFilesConfig{}, []want{{"CertFile", ""}}},
		{"cert alone", TLSFilesConfig{CertFile: cert, DevCertDir: dir}, []want{{"KeyFile", ""}}},
		{"key alone", TLSFilesConfig{KeyFile: key}, []want{{"CertFile", ""}}},
		{"missing files", TLSFilesConfig{CertFile: missing, KeyFile: key, ClientCAFile: missing + "2"},
			[]want{{"CertFile", missing}, {"ClientCAFile", missing + "2"}}},
		{"a directory", TLSFilesConfig{CertFile: cert, KeyFile: key, ClientCAFile: dir}, []want{{"ClientCAFile", dir}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Check()
			var got []want
			for _, e := range TLSFileErrors(err) {
				got = append(got, want{e.Field, e.File})
				if e.File != "" && (!strings.Contains(e.Error(), e.File) || !(strings.Contains(e.Reason, "no such file") || e.Reason == "not a regular file")) {
					t.Errorf("%v: want the file named and why", e)
				}
			}
			if !slices.Equal(got, tc.want) || (err != nil) != (tc.want != nil) || (err != nil && !errors.Is(err, ErrTLSFiles)) {
				t.Fatalf("Check: %v (%v), want %v", err, got, tc.want)
			}
			if tc.want != nil {
				if _, lerr := LoadTLSFiles(tc.cfg); lerr == nil || lerr.Error() != err.Error() {
					t.Fatalf("LoadTLSFiles: %v, want Check's %v", lerr, err)
				}
			}
		})
	}
}
