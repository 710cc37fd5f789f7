package sip_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/emiago/sipgo"

	"github.com/voicegw/voicegw/sip"
)

// SIP over TLS behind the Listener's defences, with certificate files that
// reload without a restart: the Listener wraps the TCP listener (allowlist
// and caps at accept), does the handshake (bounded), then frames the
// decrypted SIP. A development certificate is made when there is none.
func ExampleTLSFiles() {
	dir, _ := os.MkdirTemp("", "sips")
	defer os.RemoveAll(dir)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := os.Stat(certFile); err != nil {
		cert, err := sip.WriteSelfSigned(certFile, keyFile, []string{"localhost", "127.0.0.1"}, 0)
		if err != nil {
			fmt.Println(err)
			return
		}
		_ = sip.Fingerprint(cert) // print it for the operators of the peers
	}
	files, err := sip.LoadTLSFiles(sip.TLSFilesConfig{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go files.Watch(ctx, 10*time.Second) // or call files.Reload on SIGHUP

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	l := sip.NewListener(tcp, sip.ListenerConfig{TLS: files.ServerConfig(), HandshakeTimeout: 5 * time.Second})
	defer l.Close()
	ua, _ := sipgo.NewUA()
	defer ua.Close()
	srv, _ := sipgo.NewServer(ua)
	go func() { _ = srv.ServeTLS(l) }()
	fmt.Println(files.Certificate().Subject.CommonName)
	// Output: localhost
}

// A program's first start without certificate files: a development
// certificate in its data directory, made once, its fingerprint printed
// for the operators of the peers; later starts find it.
func ExampleDevCertificate() {
	dir, _ := os.MkdirTemp("", "sips")
	defer os.RemoveAll(dir)
	for range 2 {
		certFile, _, made, err := sip.DevCertificate(filepath.Join(dir, "tls"), "127.0.0.1:5061")
		if err != nil {
			fmt.Println(err)
			return
		}
		if made != nil {
			_ = sip.Fingerprint(made) // print it
		}
		fmt.Println(filepath.Base(certFile), "made:", made != nil)
	}
	// Output:
	// cert.pem made: true
	// cert.pem made: false
}

// Serve SIP over TLS with the operator's certificate files, or, when none
// are configured, a development certificate made on the first start.
func ExampleLoadTLSFiles_devCertificate() {
	dir, _ := os.MkdirTemp("", "sips")
	defer os.RemoveAll(dir)
	for range 2 {
		files, err := sip.LoadTLSFiles(sip.TLSFilesConfig{CertFile: "", KeyFile: "", // none configured
			DevCertDir: filepath.Join(dir, "tls"), DevListen: "127.0.0.1:5061"})
		if err != nil {
			fmt.Println(err)
			return
		}
		if made := files.MadeDevCertificate(); made != nil {
			_ = sip.Fingerprint(made) // show it, for clients to trust
		}
		fmt.Println(filepath.Base(files.CertFile()), "made:", files.MadeDevCertificate() != nil)
	}
	// Output:
	// cert.pem made: true
	// cert.pem made: false
}

// Check a configuration's certificate files before starting: every
// problem at once, each naming its field, so a program reports them under
// its own keys.
func ExampleTLSFilesConfig_Check() {
	dir, _ := os.MkdirTemp("", "tls-check-")
	defer os.RemoveAll(dir)
	err := sip.TLSFilesConfig{CertFile: filepath.Join(dir, "cert.pem"), ClientCAFile: filepath.Join(dir, "ca.pem")}.Check()
	keys := map[string]string{"CertFile": "tls.cert_file", "KeyFile": "tls.key_file", "ClientCAFile": "tls.client_ca_file"}
	for _, e := range sip.TLSFileErrors(err) {
		if e.File != "" {
			fmt.Printf("%s: %s: %s\n", keys[e.Field], filepath.Base(e.File), e.Reason)
		} else {
			fmt.Printf("%s: %s\n", keys[e.Field], e.Reason)
		}
	}
	// Output:
	// tls.key_file: missing: give the certificate and key files together
	// tls.cert_file: cert.pem: no such file or directory
	// tls.client_ca_file: ca.pem: no such file or directory
}
