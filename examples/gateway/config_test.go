package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/sip"
)

// validAccount is an account section every test starts from.
const validAccount = `
  - name: acme
    sip_realm: acme.example.com
    licensed_sessions: 2
    sip:
      users: [{username: sbc, password: correct-horse-battery}]
      allowlist: [127.0.0.1, 10.0.0.0/8]
    recording:
      enabled: true
      format: wav
      record_all_calls: true
      bucket: {vendor: file, file: {dir: /tmp}}
    applications: [{name: siprec}]
    api_keys: [{name: ci, secret: key-0123456789abcdefghij}]
`

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.Listen != "127.0.0.1:5060" || c.HTTP.Listen != "127.0.0.1:8080" || c.DataDir != "./data" ||
		c.RTP.Address != "127.0.0.1" || !c.Demo || len(c.SIP.Transports) != 2 || c.SIP.MaxUDPMessageSize <= 1300 ||
		!c.RTP.Poller || c.RTP.PollerWorkers != 0 || !c.RTP.ReserveRTCP {
		t.Fatalf("defaults: %+v", c)
	}
	// rtp.reserve_rtcp: false is what the capacity harness runs with.
	if c, err := parseConfig("x.yaml", []byte("rtp: {reserve_rtcp: false}\naccounts:"+validAccount)); err != nil || c.RTP.ReserveRTCP || !c.RTP.Poller {
		t.Fatalf("rtp.reserve_rtcp: false: %v, %+v", err, c.RTP)
	}
	// the edge defences are on by default (SECURITY.md)
	if c.SIP.Digest.AllowRFC2069 || c.RTP.Latching != "strict" || c.SIP.TCP.MaxConnsPerSource != 128 ||
		c.SIP.TCP.NewConnRate != sip.DefaultNewConnRate || c.SIP.TCP.NewConnBurst != sip.DefaultNewConnBurst ||
		c.SIP.TCP.MessageTimeout != 30*time.Second || c.SIP.TCP.MaxMessageSize != 65535 || c.HTTP.FailedKeys.Burst != 10 ||
		c.Record.RetryInterval != time.Minute {
		t.Fatalf("edge defaults: %+v %+v %+v", c.SIP, c.RTP, c.HTTP)
	}
	if c.SIP.Digest.Algorithms[0] != "MD5" {
		t.Fatalf("MD5 must be offered first (sipp answers the first challenge only): %v", c.SIP.Digest.Algorithms)
	}
}

func TestConfigOverlay(t *testing.T) {
	c, err := parseConfig("x.yaml", []byte("sip:\n  listen: 127.0.0.1:5070\naccounts:"+validAccount))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.Listen != "127.0.0.1:5070" || c.SIP.Transports[0] != "udp" || c.HTTP.Listen != "127.0.0.1:8080" {
		t.Fatalf("overlay lost defaults: %+v", c.SIP)
	}
	if len(c.Accounts) != 1 || c.Accounts[0].SIP.Users[0].Password.Reveal() != "correct-horse-battery" {
		t.Fatalf("accounts: %+v", c.Accounts)
	}
}

func TestConfigJSON(t *testing.T) {
	js := `{"http": {"listen": "127.0.0.1:9090"}, "sip": {"digest": {"nonce_lifetime": "2m"}},
	  "accounts": [{"name": "j", "sip_realm": "j.example.com", "recording": {"enabled": true, "format": "mp3",
	  "bucket": {"url": "mem://"}}}]}`
	c, err := parseConfig("x.json", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:9090" || c.SIP.Digest.NonceLifetime != 2*time.Minute || c.Accounts[0].Recording.Bucket.URL != "mem://" {
		t.Fatalf("JSON config: %+v", c)
	}
	_, err = parseConfig("x.json", []byte(`{"http": {"listen": "127.0.0.1:9090", "listne": 1}}`))
	wantProblem(t, err, "http.listne", "unknown key")
}

func TestConfigExampleFileIsValid(t *testing.T) {
	c, err := LoadConfig("gateway.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Accounts) == 0 {
		t.Fatal("the example declares no account")
	}
}

// TestConfigErrors checks that every bad value is refused with a message
// naming its key, and that secrets never appear in the message.
func TestConfigErrors(t *testing.T) {
	acct := func(repl ...string) string {
		s := "accounts:" + validAccount
		for i := 0; i+1 < len(repl); i += 2 {
			if !strings.Contains(s, repl[i]) {
				t.Fatalf("test bug: %q not in the valid account", repl[i])
			}
			s = strings.Replace(s, repl[i], repl[i+1], 1)
		}
		return s
	}
	for _, tc := range []struct {
		name, yaml, key, msg string
	}{
		{"unknown top key", "sip_listen: x", "sip_listen", "unknown key (line 1)"},
		{"unknown nested key", "sip:\n  digest:\n    algoritms: [MD5]", "sip.digest.algoritms", "unknown key (line 3)"},
		{"unknown account key", acct("    licensed_sessions: 2", "    licensed_sessions: 2\n    colour: red"), "accounts[0].colour", "unknown key"},
		{"unknown bucket key", acct("{dir: /tmp}", "{dir: /tmp, bukkit: x}"), "accounts[0].recording.bucket.file.bukkit", "unknown key"},
		{"not a number", acct("licensed_sessions: 2", "licensed_sessions: many"), "accounts[0].licensed_sessions", `"many" is not a valid whole number`},
		{"not a duration", "shutdown:\n  timeout: soon", "shutdown.timeout", `"soon" is not a valid duration`},
		{"not a bool", acct("enabled: true", "enabled: maybe"), "accounts[0].recording.enabled", "not a valid boolean"},
		{"syntax", "sip: [", "(file)", "did not find expected"},
		{"sip listen", "sip:\n  listen: localhost", "sip.listen", "want host:port"},
		{"sip listen host", "sip:\n  listen: example.com:5060", "sip.listen", "IP address"},
		{"transport", "sip:\n  transports: [udp, sctp]", "sip.transports[1]", `"sctp": want udp, tcp or tls`},
		{"no transport", "sip:\n  transports: []", "sip.transports", "missing"},
		{"udp size", "sip:\n  max_udp_message_size: 100", "sip.max_udp_message_size", "1300 to 65507"},
		{"algorithm", "sip:\n  digest:\n    algorithms: [MD5, SHA-1]", "sip.digest.algorithms[1]", `"SHA-1"`},
		{"rfc2069", "sip:\n  digest:\n    allow_rfc2069: often", "sip.digest.allow_rfc2069", "not a valid boolean"},
		{"transport allowlist", "sip:\n  allowlist: [127.0.0.1, intranet]", "sip.allowlist", "intranet"},
		{"tcp max conns", "sip:\n  tcp: {max_conns: 2000000}", "sip.tcp.max_conns", "at most 1048576"},
		{"tcp per source", "sip:\n  tcp: {max_conns_per_source: 0}", "sip.tcp.max_conns_per_source", "1 to 1048576"},
		{"tcp new conn rate", "sip:\n  tcp: {new_conn_rate: 0}", "sip.tcp.new_conn_rate", "0: want more than 0"},
		{"tcp new conn rate nan", "sip:\n  tcp: {new_conn_rate: .nan}", "sip.tcp.new_conn_rate", "NaN: want more than 0"},
		{"tcp new conn rate high", "sip:\n  tcp: {new_conn_rate: 2e6}", "sip.tcp.new_conn_rate", "2e+06: want more than 0 and at most 1000000"},
		{"tcp new conn burst", "sip:\n  tcp: {new_conn_burst: 0}", "sip.tcp.new_conn_burst", "0: want 1 to 1048576"},
		{"tcp message timeout", "sip:\n  tcp: {message_timeout: 0s}", "sip.tcp.message_timeout", "100ms to 10m"},
		{"tcp idle timeout", "sip:\n  tcp: {message_timeout: 1m, idle_timeout: 30s}", "sip.tcp.idle_timeout", "at least sip.tcp.message_timeout"},
		{"tcp message size", "sip:\n  tcp: {max_message_size: 100}", "sip.tcp.max_message_size", "1300 to 1048576"},
		{"rtp latching", "rtp:\n  latching: loose", "rtp.latching", "strict, relaxed or any"},
		{"failed keys", "http:\n  failed_keys: {burst: 0}", "http.failed_keys", "burst of at least 1"},
		{"http connection caps", "http:\n  max_conns: 10\n  max_conns_per_source: 20", "http.max_conns_per_source", "at most max_conns"},
		{"retry interval", "recording:\n  retry_interval: 10ms", "recording.retry_interval", "at least 1s"},
		{"playback expiry", "playback:\n  expiry: 8d", "playback.expiry", ""},
		{"playback expiry long", "playback:\n  expiry: 200h", "playback.expiry", "1s to 168h"},
		{"playback base url", "playback:\n  base_url: gw.example.com", "playback.base_url", "http:// or https://"},
		{"playback secret", "playback:\n  secret: short", "playback.secret", "at least 32"},
		{"media address", "sip:\n  media_address: 0.0.0.0", "sip.media_address", "specific IP"},
		{"rtp address", "rtp:\n  address: here", "rtp.address", "IP address"},
		{"rtp on every address", "rtp:\n  address: 0.0.0.0", "sip.media_address", "missing"},
		{"tls key alone", "sip:\n  transports: [tls]\n  tls: {key_file: /nonexistent/key.pem}", "sip.tls.cert_file", "give the certificate and key files together"},
		{"tls key file", "sip:\n  transports: [tls]\n  tls: {cert_file: /nonexistent/c.pem, key_file: /nonexistent/key.pem}", "sip.tls.key_file", `"/nonexistent/key.pem": no such file`},
		{"tls client ca", "sip:\n  transports: [tls]\n  tls: {client_ca_file: /nonexistent/ca.pem}", "sip.tls.client_ca_file", `"/nonexistent/ca.pem": no such file`},
		{"rtp ports", "rtp:\n  ports: 20000", "rtp.ports", "MIN-MAX"},
		{"rtp ports low", "rtp:\n  ports: 80-90", "rtp.ports", "1024-65535"},
		{"rtp poller workers", "rtp:\n  poller_workers: -1", "rtp.poller_workers", "1 to 1024"},
		{"rtp poller", "rtp:\n  poller: sometimes", "rtp.poller", "not a valid boolean"},
		{"http listen", "http:\n  listen: :80:80", "http.listen", "host:port"},
		{"log level", "log:\n  level: loud", "log.level", "debug, info"},
		{"mp3 bitrate", "recording:\n  mp3_bitrate: 320", "recording.mp3_bitrate", "320: want an MPEG-2.5 bitrate"},
		{"mp3 bitrate not MPEG", "recording:\n  mp3_bitrate: 33", "recording.mp3_bitrate", "33: want an MPEG-2.5 bitrate"},
		{"data dir", "data_dir: ''", "data_dir", "missing"},
		{"egress allow", "egress:\n  allow: [10.0.0.0/8, localhost]", "egress.allow[1]", "want a prefix"},
		{"pepper", "api_key_pepper: short", "api_key_pepper", "at least 16"},
		{"account name", acct("- name: acme", "- name: ''"), "accounts[0].name", "missing"},
		{"duplicate name", "accounts:" + validAccount + strings.Replace(validAccount, "acme.example.com", "b.example.com", 1), "accounts[1].name", "also the name of accounts[0]"},
		{"duplicate realm", "accounts:" + validAccount + strings.Replace(validAccount, "name: acme", "name: b", 1), "accounts[1].sip_realm", "also the realm of accounts[0]"},
		{"realm", acct("acme.example.com", "10.0.0.1"), "accounts[0].sip_realm", "not a domain name"},
		{"licensed sessions", acct("licensed_sessions: 2", "licensed_sessions: -1"), "accounts[0].licensed_sessions", "must not be negative"},
		{"sip username", acct("username: sbc", "username: 'a b'"), "accounts[0].sip.users[0].username", "not allowed"},
		{"sip password", acct("password: correct-horse-battery", "password: short"), "accounts[0].sip.users[0].password", "at least 8"},
		{"allowlist", acct("10.0.0.0/8", "intranet"), "accounts[0].sip.allowlist[1]", "cannot appear"},
		{"format", acct("format: wav", "format: ogg"), "accounts[0].recording.format", `"ogg"`},
		{"bucket missing", acct("      bucket: {vendor: file, file: {dir: /tmp}}\n", ""), "accounts[0].recording.bucket", "missing"},
		{"bucket vendor", acct("vendor: file", "vendor: dropbox"), "accounts[0].recording.bucket.vendor", "dropbox"},
		{"s3 region", acct("{vendor: file, file: {dir: /tmp}}", "{vendor: s3, s3: {bucket: recs, access_key_id: AKIAX, secret_access_key: very-secret-key-value}}"),
			"accounts[0].recording.bucket.s3.region", "missing"},
		{"url and vendor", acct("{vendor: file, file: {dir: /tmp}}", "{url: 'mem://', vendor: memory}"), "accounts[0].recording.bucket.url", "not both"},
		{"bucket url", acct("{vendor: file, file: {dir: /tmp}}", "{url: 'http://bucket'}"), "accounts[0].recording.bucket.url", "scheme"},
		{"application name", acct("[{name: siprec}]", "[{name: ''}]"), "accounts[0].applications[0].name", "missing"},
		{"application twice", acct("[{name: siprec}]", "[{name: a}, {name: a}]"), "accounts[0].applications[1].name", "also the name"},
		{"siprec application", acct("applications: [{name: siprec}]", "applications: [{name: siprec}]\n    siprec_application: other"), "accounts[0].siprec_application", "no application"},
		{"api key secret", acct("secret: key-0123456789abcdefghij", "secret: short-key"), "accounts[0].api_keys[0].secret", "20 to 256"},
		{"api key type", acct("{name: ci, secret:", "{name: ci, service_type: god, secret:"), "accounts[0].api_keys[0].service_type", "want one of"},
		{"webhook", acct("licensed_sessions: 2", "licensed_sessions: 2\n    session_webhook: ftp://x/y"), "accounts[0].session_webhook", "http or https"},
		{"webhook secret", acct("licensed_sessions: 2", "licensed_sessions: 2\n    webhook_secret: tiny"), "accounts[0].webhook_secret", "at least 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("test.yaml", []byte(tc.yaml))
			wantProblem(t, err, tc.key, tc.msg)
			for _, s := range []string{"correct-horse-battery", "very-secret-key-value", "key-0123456789abcdefghij", "short-key", "tiny"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows the secret %q: %v", s, err)
				}
			}
		})
	}
}

// TestConfigReportsAllProblems: one run lists every bad key.
func TestConfigReportsAllProblems(t *testing.T) {
	_, err := parseConfig("t.yaml", []byte("sip:\n  listen: nope\nhttp:\n  listen: nope\nrtp:\n  ports: x"))
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
	if !strings.HasPrefix(err.Error(), "configuration t.yaml:\n  ") {
		t.Fatalf("message: %q", err.Error())
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func wantProblem(t *testing.T, err error, key, msg string) {
	t.Helper()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConfigError", err)
	}
	for _, p := range ce.Problems {
		if p.Key == key && strings.Contains(p.Message, msg) {
			return
		}
	}
	t.Fatalf("no problem %q containing %q in:\n%v", key, msg, err)
}
