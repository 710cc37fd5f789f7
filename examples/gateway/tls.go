package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec"
)

// TLSConfig configures SIP over TLS: the "tls" transport.
type TLSConfig struct {
	// Listen is where SIP over TLS is served, host:port. Default: the host
	// of sip.listen, port 5061 (or 0 when sip.listen's port is 0).
	Listen string `yaml:"listen"`
	// CertFile and KeyFile are the server's certificate chain and key
	// (PEM). Default: a self-signed development certificate made on the
	// first start in DATA_DIR/tls (mode 0600), its SHA-256 fingerprint
	// printed; give real files in production.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, turns on mutual TLS: every client must
	// present a certificate one of these authorities signed.
	ClientCAFile string `yaml:"client_ca_file"`
	// HandshakeTimeout bounds each TLS handshake from accept.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// ReloadInterval is how often the files are checked for a change
	// (they are also reloaded on SIGHUP); a new certificate serves new
	// connections, calls in progress keep theirs.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// SRTPConfig configures SRTP keyed by SDES (siprec.SRTPConfig).
type SRTPConfig struct {
	// AllowClearSignalling accepts a=crypto keys received over UDP or TCP.
	// INSECURE: whoever sees the SIP can decrypt the media. Tests only.
	AllowClearSignalling bool `yaml:"allow_clear_signalling"`
	// Require makes every account SRTP-only (accounts can require it one
	// by one: accounts[].sip.require_srtp).
	Require bool `yaml:"require"`
}

// devCertDir is where the development certificate is kept.
const devCertDir = "tls"

// checkTLS validates the TLS settings; on is whether "tls" is a transport.
func (c *Config) checkTLS(on bool, add func(key, format string, args ...any)) {
	t := &c.SIP.TLS
	if !on {
		return
	}
	if t.Listen != "" {
		if err := checkListen(t.Listen); err != "" {
			add("sip.tls.listen", "%s", err)
		}
	}
	// the files LoadTLSFiles would refuse (neither: the development certificate)
	keys := map[string]string{"CertFile": "sip.tls.cert_file", "KeyFile": "sip.tls.key_file", "ClientCAFile": "sip.tls.client_ca_file"}
	for _, e := range sip.TLSFileErrors(c.tlsFiles(nil).Check()) {
		if e.File == "" {
			add(keys[e.Field], "%s", e.Reason)
		} else {
			add(keys[e.Field], "%q: %s", e.File, e.Reason)
		}
	}
	if t.HandshakeTimeout <= 0 {
		add("sip.tls.handshake_timeout", "%s: want a positive duration", t.HandshakeTimeout)
	}
	if t.ReloadInterval <= 0 {
		add("sip.tls.reload_interval", "%s: want a positive duration", t.ReloadInterval)
	}
}

// tlsFiles names the certificate files of SIP over TLS: without cert_file
// and key_file, the development certificate of DATA_DIR/tls.
func (c *Config) tlsFiles(log *slog.Logger) sip.TLSFilesConfig {
	t := c.SIP.TLS
	return sip.TLSFilesConfig{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile,
		DevCertDir: c.path(devCertDir), DevListen: c.tlsListen(), Logger: log}
}

// tlsListen returns the address SIP over TLS listens on.
func (c *Config) tlsListen() string {
	if c.SIP.TLS.Listen != "" {
		return c.SIP.TLS.Listen
	}
	host, port, _ := net.SplitHostPort(c.SIP.Listen)
	if port != "0" {
		port = "5061"
	}
	return net.JoinHostPort(host, port)
}

// siprecSRTP is the SIPREC server's SRTP configuration.
func (c *Config) siprecSRTP() siprec.SRTPConfig {
	return siprec.SRTPConfig{AllowClearSignalling: c.SIP.SRTP.AllowClearSignalling, Require: c.SIP.SRTP.Require}
}

// openTLS loads (or, without configured files, makes) the certificate and
// binds the TLS listener. It returns nil, nil when "tls" is not a
// transport.
func (g *Gateway) openTLS() error {
	cfg := g.cfg
	if !slices.Contains(cfg.SIP.Transports, "tls") {
		return nil
	}
	files, err := sip.LoadTLSFiles(cfg.tlsFiles(g.log.With("component", "tls")))
	if err != nil {
		return fmt.Errorf("sip.tls: %w", err)
	}
	certFile, made := files.CertFile(), files.MadeDevCertificate()
	l, err := net.Listen("tcp", cfg.tlsListen())
	if err != nil {
		return fmt.Errorf("sip.tls.listen: %w", err)
	}
	g.tlsFiles, g.sipTLS = files, l
	if made != nil {
		host, _, _ := net.SplitHostPort(cfg.tlsListen())
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		fmt.Fprintf(g.out, "\nSIP over TLS: made a self-signed development certificate (not for production: set sip.tls.cert_file and key_file)\n"+
			"  file     %s\n  SHA-256  %s\nTrust it in the recording clients, for example (SRTP media over sips:):\n\n"+
			"  go run ./examples/siprec-client -srs \"sips:%s\" -tls-ca %s -user USER -password PASSWORD -duration 5s\n",
			certFile, sip.Fingerprint(made), net.JoinHostPort(host, g.tlsPort()), certFile)
	}
	g.log.Info("SIP over TLS", "listen", l.Addr().String(), "certificate", certFile, "sha256", sip.Fingerprint(files.Certificate()),
		"mutual_tls", cfg.SIP.TLS.ClientCAFile != "")
	return nil
}

// watchTLS reloads the certificate files when they change, until ctx
// ends: calls in progress keep their connections.
func (g *Gateway) watchTLS(ctx context.Context) {
	if g.tlsFiles != nil {
		go g.tlsFiles.Watch(ctx, g.cfg.SIP.TLS.ReloadInterval)
	}
}

// reloadTLS reloads the certificate files (at SIGHUP: onHangup).
func (g *Gateway) reloadTLS() {
	if g.tlsFiles == nil {
		return
	}
	if err := g.tlsFiles.Reload(); err == nil {
		g.log.Info("SIGHUP: TLS certificate files reloaded", "sha256", sip.Fingerprint(g.tlsFiles.Certificate()))
	}
}

// tlsPort returns the port SIP over TLS is served on ("" without TLS).
func (g *Gateway) tlsPort() string {
	if g.sipTLS == nil {
		return ""
	}
	return strconv.Itoa(g.sipTLS.Addr().(*net.TCPAddr).Port)
}
