package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voicegw/voicegw/internal/errwalk"
)

// ErrTLSFiles is matched by the errors of LoadTLSFiles, TLSFiles.Reload and
// WriteSelfSigned: a certificate, key or CA file that cannot be read or
// used. The error names the file, never a key's contents.
var ErrTLSFiles = errors.New("sip: TLS certificate files")

// TLSFilesConfig names the PEM files of a SIP over TLS server.
type TLSFilesConfig struct {
	// CertFile holds the server's certificate chain (leaf first) and
	// KeyFile its private key (PKCS #8, PKCS #1 or SEC 1). Required,
	// unless DevCertDir is set.
	CertFile, KeyFile string
	// DevCertDir, when CertFile and KeyFile are both empty, is where a
	// development certificate is kept (DevCertificate: made on first use,
	// naming the host of DevListen); TLSFiles.MadeDevCertificate says
	// whether LoadTLSFiles made it now, for the program to show its
	// fingerprint. Default "": CertFile and KeyFile are required.
	DevCertDir string
	// DevListen is the host:port the server listens on, for the
	// development certificate's names.
	DevListen string
	// ClientCAFile, when set, holds the certificates of the authorities
	// that sign the clients' certificates: every client must then present
	// a certificate one of them signed (mutual TLS, the way SBCs and
	// carriers pin each other), or its handshake fails. Default "": no
	// client certificate is asked for.
	ClientCAFile string
	// MinVersion is the oldest TLS version accepted; default TLS 1.2
	// (RFC 8996 retires 1.0 and 1.1).
	MinVersion uint16
	// Logger receives the reloads; nil discards.
	Logger *slog.Logger
}

// TLSFiles is the certificate, key and client CAs of a SIP over TLS
// server, read from files and swapped atomically when they change
// (Reload, Watch): connections already up keep the certificate they
// were made with and never drop; new handshakes get the new one. Give
// ServerConfig to ListenerConfig.TLS. A TLSFiles is safe for concurrent
// use.
type TLSFiles struct {
	cfg TLSFilesConfig
	log *slog.Logger

	cur  atomic.Pointer[tlsMaterial]
	made *x509.Certificate // the development certificate LoadTLSFiles made

	mu    sync.Mutex // one Reload at a time
	stamp string     // the files' sizes and times at the last load
}

// tlsMaterial is one load of the files.
type tlsMaterial struct {
	cert    *tls.Certificate
	leaf    *x509.Certificate
	clients *x509.CertPool // nil: no client certificate asked for
}

// TLSFileError is one problem TLSFilesConfig.Check finds: Field is the
// field's name ("CertFile", "KeyFile" or "ClientCAFile"), File its value
// (a path, "" when missing), Reason what is wrong. It matches ErrTLSFiles.
type TLSFileError struct {
	Field, File, Reason string
}

func (e *TLSFileError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%s: %s: %s", ErrTLSFiles, e.Field, e.Reason)
	}
	return fmt.Sprintf("%s: %s %q: %s", ErrTLSFiles, e.Field, e.File, e.Reason)
}

// Unwrap makes the error match ErrTLSFiles.
func (e *TLSFileError) Unwrap() error { return ErrTLSFiles }

// TLSFileErrors returns every *TLSFileError in err (Check's).
func TLSFileErrors(err error) []*TLSFileError { return errwalk.All[*TLSFileError](err) }

// Check reports, without reading them, what LoadTLSFiles refuses in cfg's
// file names: a certificate file without its key file or the reverse;
// neither without DevCertDir; a file named that does not exist or cannot
// be reached. Each problem is a *TLSFileError (TLSFileErrors returns them
// all), so a program checks its configuration before it starts.
// LoadTLSFiles checks this first, then the files' contents.
func (cfg TLSFilesConfig) Check() error {
	var errs []error
	switch {
	case cfg.CertFile != "" && cfg.KeyFile == "":
		errs = append(errs, &TLSFileError{Field: "KeyFile", Reason: "missing: give the certificate and key files together"})
	case cfg.CertFile == "" && cfg.KeyFile != "":
		errs = append(errs, &TLSFileError{Field: "CertFile", Reason: "missing: give the certificate and key files together"})
	case cfg.CertFile == "" && cfg.DevCertDir == "":
		errs = append(errs, &TLSFileError{Field: "CertFile", Reason: "missing: the certificate and key files are required"})
	}
	for _, f := range []struct{ field, path string }{{"CertFile", cfg.CertFile}, {"KeyFile", cfg.KeyFile}, {"ClientCAFile", cfg.ClientCAFile}} {
		if f.path == "" {
			continue
		}
		st, err := os.Stat(f.path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			errs = append(errs, &TLSFileError{Field: f.field, File: f.path, Reason: err.Error()})
		} else if !st.Mode().IsRegular() {
			errs = append(errs, &TLSFileError{Field: f.field, File: f.path, Reason: "not a regular file"})
		}
	}
	return errors.Join(errs...)
}

// LoadTLSFiles checks cfg (Check), then reads its files. Errors wrap
// ErrTLSFiles.
func LoadTLSFiles(cfg TLSFilesConfig) (*TLSFiles, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	var made *x509.Certificate
	if cfg.CertFile == "" && cfg.KeyFile == "" && cfg.DevCertDir != "" {
		var err error
		if cfg.CertFile, cfg.KeyFile, made, err = DevCertificate(cfg.DevCertDir, cfg.DevListen); err != nil {
			return nil, fmt.Errorf("development certificate: %w", err)
		}
	}
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, fmt.Errorf("%w: the certificate and key files are required", ErrTLSFiles)
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	f := &TLSFiles{cfg: cfg, log: cfg.Logger, made: made}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	m, stamp, err := f.load()
	if err != nil {
		return nil, err
	}
	f.cur.Store(m)
	f.stamp = stamp
	return f, nil
}

func (f *TLSFiles) load() (*tlsMaterial, string, error) {
	stamp := f.stampNow()
	cert, err := tls.LoadX509KeyPair(f.cfg.CertFile, f.cfg.KeyFile)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s and %s: %v", ErrTLSFiles, f.cfg.CertFile, f.cfg.KeyFile, redactPEMError(err))
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, "", fmt.Errorf("%w: %s: %v", ErrTLSFiles, f.cfg.CertFile, err)
		}
	}
	m := &tlsMaterial{cert: &cert, leaf: leaf}
	if f.cfg.ClientCAFile != "" {
		b, err := os.ReadFile(f.cfg.ClientCAFile)
		if err != nil {
			return nil, "", fmt.Errorf("%w: client CA file: %v", ErrTLSFiles, err)
		}
		m.clients = x509.NewCertPool()
		if !m.clients.AppendCertsFromPEM(b) {
			return nil, "", fmt.Errorf("%w: client CA file %s holds no PEM certificate", ErrTLSFiles, f.cfg.ClientCAFile)
		}
	}
	return m, stamp, nil
}

// redactPEMError keeps crypto/tls's message (it names no key material)
// on one line.
func redactPEMError(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// stampNow describes the files' current sizes and modification times.
func (f *TLSFiles) stampNow() string {
	var b strings.Builder
	for _, p := range []string{f.cfg.CertFile, f.cfg.KeyFile, f.cfg.ClientCAFile} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, st.Size(), st.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s:missing;", p)
		}
	}
	return b.String()
}

// Reload reads the files again and, when they are usable, swaps them in:
// the next handshakes use them. When they are not (a half-written file, a
// key that does not match), the ones in use stay and the error (wrapping
// ErrTLSFiles) says why: reload again once the files are complete.
func (f *TLSFiles) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, stamp, err := f.load()
	if err != nil {
		f.log.Warn("TLS files not reloaded; the certificate in use stays", "error", err)
		return err
	}
	old := f.cur.Swap(m)
	f.stamp = stamp
	if old == nil || !old.leaf.Equal(m.leaf) {
		f.log.Info("TLS certificate reloaded", "subject", m.leaf.Subject.String(), "not_after", m.leaf.NotAfter, "sha256", Fingerprint(m.leaf))
	}
	return nil
}

// Watch reloads the files whenever their size or modification time
// changes, checking every interval (default 10 s), until ctx ends. A change
// that does not load (a file half written) is tried again at the next
// check.
func (f *TLSFiles) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.mu.Lock()
			changed := f.stampNow() != f.stamp
			f.mu.Unlock()
			if changed {
				_ = f.Reload()
			}
		}
	}
}

// CertFile returns the certificate file: TLSFilesConfig.CertFile, or the
// development certificate's.
func (f *TLSFiles) CertFile() string { return f.cfg.CertFile }

// MadeDevCertificate returns the development certificate LoadTLSFiles made
// (TLSFilesConfig.DevCertDir), or nil when it loaded files that were there.
func (f *TLSFiles) MadeDevCertificate() *x509.Certificate { return f.made }

// Certificate returns the leaf certificate in use.
func (f *TLSFiles) Certificate() *x509.Certificate { return f.cur.Load().leaf }

// ServerConfig returns a tls.Config for a SIP over TLS server: each
// handshake takes the certificate (and client CAs) loaded last, so a
// Reload needs no restart. With ClientCAFile, clients must present a
// certificate signed by one of its authorities.
func (f *TLSFiles) ServerConfig() *tls.Config {
	base := &tls.Config{MinVersion: f.cfg.MinVersion}
	return &tls.Config{
		MinVersion: f.cfg.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := f.cur.Load()
			c := base.Clone()
			c.Certificates = []tls.Certificate{*m.cert}
			if m.clients != nil {
				c.ClientCAs = m.clients
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}
			return c, nil
		},
	}
}

// Fingerprint returns the SHA-256 fingerprint of a certificate, as
// uppercase hex pairs joined by colons (the form of RFC 8122's
// a=fingerprint and of `openssl x509 -fingerprint -sha256`).
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// WriteSelfSigned makes a self-signed certificate for development (ECDSA
// P-256, valid for validFor, default a year) naming hosts (IP addresses
// and DNS names; default localhost and 127.0.0.1) and writes it and its
// key as PEM to certFile and keyFile, both mode 0600, through temporary
// files renamed into place. Clients must be told to trust it (its
// fingerprint, or the file as their CA): it is no substitute for a
// certificate of a real authority. Errors wrap ErrTLSFiles.
func WriteSelfSigned(certFile, keyFile string, hosts []string, validFor time.Duration) (*x509.Certificate, error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1"}
	}
	if validFor <= 0 {
		validFor = 365 * 24 * time.Hour
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %v", ErrTLSFiles, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("%w: serial: %v", ErrTLSFiles, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"voicegw development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that a client can take the file as its CA
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrTLSFiles, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %v", ErrTLSFiles, err)
	}
	if err := writePEM(keyFile, "PRIVATE KEY", keyDER); err != nil {
		return nil, err
	}
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// DevCertificate returns the development certificate kept in dir
// (cert.pem and key.pem), making dir (mode 0700) and the certificate
// (WriteSelfSigned, valid a year) when there is none yet: made is the new
// certificate then, nil when the files were there. The certificate names
// localhost and 127.0.0.1, and before them the host of listen (host:port)
// when it is a specific one (not empty, 0.0.0.0, :: or one of those two),
// so that a client that dials that address can verify it. For a program's
// first start without configured certificate files; errors wrap
// ErrTLSFiles.
func DevCertificate(dir, listen string) (certFile, keyFile string, made *x509.Certificate, err error) {
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", nil, fmt.Errorf("%w: %v", ErrTLSFiles, err)
	}
	if _, err := os.Stat(certFile); !errors.Is(err, os.ErrNotExist) {
		return certFile, keyFile, nil, nil
	}
	hosts := []string{"localhost", "127.0.0.1"}
	if host, _, _ := net.SplitHostPort(listen); host != "" && host != "0.0.0.0" && host != "::" && !slices.Contains(hosts, host) {
		hosts = append([]string{host}, hosts...)
	}
	made, err = WriteSelfSigned(certFile, keyFile, hosts, 365*24*time.Hour)
	if err != nil {
		return "", "", nil, err
	}
	return certFile, keyFile, made, nil
}

// writePEM writes one PEM block to path, mode 0600, atomically.
func writePEM(path, typ string, der []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTLSFiles, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		err = pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der})
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			return fmt.Errorf("%w: writing %s: %v", ErrTLSFiles, path, err)
		}
		return nil
	}
	_ = tmp.Close()
	return fmt.Errorf("%w: %s: cannot make it private (0600)", ErrTLSFiles, path)
}
