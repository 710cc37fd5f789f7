package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"gopkg.in/yaml.v3"
)

// defaultsYAML is the built-in configuration; a -config file is laid over it
// (keys it leaves out keep these values).
//
//go:embed defaults.yaml
var defaultsYAML []byte

// Config is the gateway's configuration: the built-in defaults with the
// -config file laid over them. Keys are snake_case in YAML and JSON (a JSON
// file is read as YAML, of which JSON is a subset). gateway.example.yaml
// documents every key.
type Config struct {
	// DataDir holds the SQLite databases, the recording directory, the
	// upload spool and the demo account's bucket.
	DataDir  string          `yaml:"data_dir"`
	Log      LogConfig       `yaml:"log"`
	SIP      SIPConfig       `yaml:"sip"`
	RTP      RTPConfig       `yaml:"rtp"`
	HTTP     HTTPConfig      `yaml:"http"`
	Record   RecordingGlobal `yaml:"recording"`
	Shutdown ShutdownConfig  `yaml:"shutdown"`
	Limiter  LimiterConfig   `yaml:"limiter"`
	Metrics  MetricsConfig   `yaml:"metrics"` // metrics.go
	Tracing  TracingConfig   `yaml:"tracing"` // ops.go
	Egress   EgressConfig    `yaml:"egress"`  // egress.go
	// Playback configures the playback links of the Insights API
	// (playback.go).
	Playback PlaybackConfig `yaml:"playback"`
	// Demo creates a demo account on a start that finds no account at all
	// (neither configured nor stored) and prints its credentials once.
	Demo bool `yaml:"demo"`
	// APIKeyPepper keys the hashes of stored API keys (rbac); default: a
	// random pepper kept in DATA_DIR/secrets/api-key-pepper.
	APIKeyPepper secret.String `yaml:"api_key_pepper"`
	// Database, a postgres:// URL, keeps the state shared by several
	// gateways in PostgreSQL (srsstate): accounts, API keys, members,
	// the admin store, licensed-session leases and session documents.
	// Parts the URL leaves out (all of them for "postgres://") come from
	// the PG* environment variables. Default "": SQLite under data_dir.
	Database secret.String `yaml:"database"`
	// DatabaseKeyFile is the key sealing the database's secrets, the same
	// file on every gateway of the database. Default:
	// DATA_DIR/secrets/database-sealing-key (made by the first gateway).
	DatabaseKeyFile string `yaml:"database_key_file"`
	// Admin configures the admin API (/admin/v1): its bootstrap keys.
	Admin AdminConfig `yaml:"admin"`
	// Accounts are declarations applied at every start (tenancy's
	// Store.Bootstrap): created when missing, the keys a declaration gives
	// brought to its values, the others kept as stored (changed through
	// the admin API); accounts stored and not declared are left alone.
	Accounts []AccountConfig `yaml:"accounts"`
}

// AdminConfig configures the admin API.
type AdminConfig struct {
	// APIKeys are Admin-scope keys with a known secret (service type
	// "admin" by default: every privilege), kept as listed at every start.
	APIKeys []srsstate.DeclaredKey `yaml:"api_keys"`
}

// LogConfig configures the log.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// SIPConfig configures the SIP side.
type SIPConfig struct {
	// Listen is the address of UDP and TCP, host:port.
	Listen string `yaml:"listen"`
	// Transports are "udp", "tcp" and/or "tls" (SIP over TLS on tls.listen).
	Transports []string `yaml:"transports"`
	// TLS configures SIP over TLS (tls.go).
	TLS TLSConfig `yaml:"tls"`
	// SRTP configures SRTP keyed by SDES (tls.go).
	SRTP SRTPConfig `yaml:"srtp"`
	// MaxUDPMessageSize raises sipgo's limit on UDP messages (SIPREC INVITEs
	// with metadata are 3 KB and more, over the 1300 bytes RFC 3261 §18.1.1
	// advises for UDP).
	MaxUDPMessageSize int `yaml:"max_udp_message_size"`
	// DefaultAccount names the account serving requests whose Request-URI
	// host is no account's realm (for example an IP address). Empty: such
	// requests get 403.
	DefaultAccount string `yaml:"default_account"`
	// MediaAddress is written on the c= line of answers; default rtp.address.
	MediaAddress string `yaml:"media_address"`
	// Allowlist is the transport allowlist (sip.ListenerConfig.Allow,
	// sip.PacketConnConfig.Allow): a source outside it has its TCP
	// connections closed at accept and its datagrams dropped unanswered,
	// before a byte is parsed. Each account's own allowlist is still
	// checked. Empty: every address.
	Allowlist []string `yaml:"allowlist"`
	// TCP bounds SIP over TCP (sip.ListenerConfig).
	TCP     TCPConfig    `yaml:"tcp"`
	Digest  DigestConfig `yaml:"digest"`
	Lockout struct {
		MaxFailures int           `yaml:"max_failures"`
		Window      time.Duration `yaml:"window"`
		Block       time.Duration `yaml:"block"`
	} `yaml:"lockout"`
	// AckTimeout and MediaTimeout are the SIPREC server's (siprec.Config).
	AckTimeout   time.Duration `yaml:"ack_timeout"`
	MediaTimeout time.Duration `yaml:"media_timeout"`

	allowlist  sip.Allowlist   // Allowlist, parsed at validation
	algorithms []sip.Algorithm // Digest.Algorithms, parsed at validation
}

// DigestConfig configures digest authentication.
type DigestConfig struct {
	// Algorithms are offered in this order; sipp answers only the first
	// challenge and only MD5, so MD5 comes first by default.
	Algorithms    []string      `yaml:"algorithms"`
	NonceLifetime time.Duration `yaml:"nonce_lifetime"`
	// AllowRFC2069 accepts digest answers without qop from clients too old
	// for qop=auth, each answer once (sip.DigestConfig.AllowRFC2069).
	AllowRFC2069 bool `yaml:"allow_rfc2069"`
}

// TCPConfig bounds SIP over TCP (sip.ListenerConfig): what one peer, or
// many, can hold of the gateway before they are authenticated.
type TCPConfig struct {
	// MaxConns caps the connections open at once; 0: 4096 or half the
	// open-file limit, whichever is smaller; negative: no cap.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerSource caps the connections of one source address (IPv6:
	// one /64); negative: no cap.
	MaxConnsPerSource int `yaml:"max_conns_per_source"`
	// NewConnRate limits how fast one source address (IPv6: one /64)
	// opens connections, a second, sustained, after a burst of
	// NewConnBurst: faster ones are closed at accept, before a TLS
	// handshake or a read (sip.ListenerConfig.NewConnRate; counted in
	// voicegw_sip_connections_refused_total{reason="over_rate"}). The TCP
	// and the TLS listener count apart. Negative: no limit.
	NewConnRate float64 `yaml:"new_conn_rate"`
	// NewConnBurst is how many connections a source may open at once.
	NewConnBurst int `yaml:"new_conn_burst"`
	// MessageTimeout closes a connection that delivers no complete SIP
	// message in this long (from accept, or from a message's first byte).
	MessageTimeout time.Duration `yaml:"message_timeout"`
	// IdleTimeout closes a connection quiet for this long, unless a
	// session in progress came over it.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxMessageSize is the largest SIP message over TCP; a larger request
	// gets 513 Message Too Large.
	MaxMessageSize int `yaml:"max_message_size"`
}

// RTPConfig configures the RTP port pool.
type RTPConfig struct {
	Address string `yaml:"address"`
	// Ports is the range "MIN-MAX"; each stream takes an even port and the
	// odd one after it.
	Ports string `yaml:"ports"`
	// Poller receives every stream's RTP on a few shared workers
	// (media.Poller: epoll and recvmmsg on Linux) instead of a goroutine
	// per stream; default true. It has no effect on other systems.
	Poller bool `yaml:"poller"`
	// PollerWorkers is the number of workers; default 0: one per core
	// (GOMAXPROCS).
	PollerWorkers int `yaml:"poller_workers"`
	// Latching says whom a stream's RTP is accepted from (media.Latching):
	// strict (the offer's c= address and m= port), relaxed (also any port
	// of the INVITE's source address, for clients behind NAT) or any
	// (trusted networks only).
	Latching string `yaml:"latching"`
	// ReserveRTCP binds each stream's RTCP port (the odd one after its
	// RTP port) so no other program takes it; default true. The gateway
	// never reads RTCP: false saves one file descriptor per stream
	// (media.PortPoolConfig.NoRTCPSocket), which a gateway with thousands
	// of calls under a limit of open files needs (4,000 calls: 8,000
	// descriptors fewer).
	ReserveRTCP bool `yaml:"reserve_rtcp"`

	minPort, maxPort int            // Ports, parsed at validation
	latching         media.Latching // Latching, parsed at validation
}

// HTTPConfig configures the HTTP API.
type HTTPConfig struct {
	Listen string `yaml:"listen"`
	// PProf serves Go's profiler at /debug/pprof/ (for capacity work; do
	// not expose it beyond the host).
	PProf bool `yaml:"pprof"`
	// FailedKeys throttles wrong or missing API keys per source address
	// (rbac.FailureLimiter): Burst failures in a row, then one per Every;
	// past it 429 Too Many Requests.
	FailedKeys struct {
		Burst int           `yaml:"burst"`
		Every time.Duration `yaml:"every"`
	} `yaml:"failed_keys"`
	// MaxConns caps the HTTP connections open at once, and
	// MaxConnsPerSource those of one source address (an IPv4 address or
	// an IPv6 /64); one more is closed at accept (sip/connlimit). Behind a
	// reverse proxy every connection comes from the proxy: raise
	// MaxConnsPerSource to MaxConns there. 0: no cap of that kind.
	MaxConns          int `yaml:"max_conns"`
	MaxConnsPerSource int `yaml:"max_conns_per_source"`
}

// RecordingGlobal holds the recording settings shared by every account.
type RecordingGlobal struct {
	// MP3Bitrate in kbit/s (recording.MP3Config.Bitrate); 0, the default:
	// 32 for mono files, 48 for stereo ones.
	MP3Bitrate int `yaml:"mp3_bitrate"`
	// MP3Mono records MP3 calls in one channel, both parties mixed
	// (recording.MP3Config.Mono). Default true: LAME's CPU per call about
	// halves (one core records 1,000 MP3 calls in mono at 32 kbit/s, about
	// 800 in stereo at 48: BENCHMARKS.md) and the mix at 32 kbit/s scores
	// better than each party in stereo at 48. false: stereo, a party per
	// channel, for tools that need the parties apart (or record WAV, which
	// this does not affect).
	MP3Mono bool `yaml:"mp3_mono"`
	// FlushInterval bounds the audio a crash can lose.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// LAMEPath is where libmp3lame is loaded from; default the dynamic
	// linker's search for libmp3lame.so.0.
	LAMEPath string `yaml:"lame_path"`
	// RetryInterval is how often, while the gateway runs, finishing work
	// that failed (a session document, a recording the spool did not take,
	// for example on a full disk) is tried again (srs.Config.RetryInterval).
	RetryInterval time.Duration `yaml:"retry_interval"`
}

// ShutdownConfig bounds a graceful shutdown.
type ShutdownConfig struct {
	// Timeout is how long a shutdown waits for recordings to be finalized
	// and handed to the spool, and for the spool to upload them.
	Timeout time.Duration `yaml:"timeout"`
}

// LimiterConfig configures the licensed-sessions limiter (SQLite leases).
type LimiterConfig struct {
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// AccountConfig declares one account (gateway.example.yaml says what each
// key means and which settings only the admin API sets): srsstate's
// declaration of an account in a file.
type AccountConfig = srsstate.AccountConfig

// ConfigError lists every problem of a configuration, each naming its key.
type ConfigError struct {
	// File is the configuration file ("" for the built-in defaults).
	File     string
	Problems []Problem
}

// Problem is one bad key.
type Problem struct {
	// Key is the key's path, for example accounts[1].recording.bucket.s3.region.
	Key string
	// Message says what is wrong; it never holds a secret.
	Message string
}

func (p Problem) String() string { return p.Key + ": " + p.Message }

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("configuration")
	if e.File != "" {
		b.WriteString(" ")
		b.WriteString(e.File)
	}
	b.WriteString(":")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// LoadConfig returns the built-in defaults with the file at path (YAML or
// JSON) laid over them, validated; path "" gives the defaults. Every
// problem is reported at once in a *ConfigError.
func LoadConfig(path string) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	return parseConfig(path, data)
}

func parseConfig(name string, data []byte) (*Config, error) {
	var c Config
	if err := yaml.Unmarshal(defaultsYAML, &c); err != nil {
		return nil, fmt.Errorf("built-in defaults: %w", err)
	}
	if len(bytes.TrimSpace(data)) > 0 {
		doc, err := srsstate.DecodeYAML(data, &c)
		if err != nil {
			return nil, &ConfigError{File: name, Problems: problemsOf(srsstate.YAMLErrors(err))}
		}
		for i, set := range doc.Given("accounts") { // the keys the file gives: each start brings them to its values
			if i < len(c.Accounts) {
				c.Accounts[i].Given = set
			}
		}
	}
	c.absPaths()
	if probs := c.validate(); len(probs) > 0 {
		return nil, &ConfigError{File: name, Problems: probs}
	}
	return &c, nil
}

// absPaths makes the relative directories of local buckets absolute (from
// the current directory), as package storage wants them.
func (c *Config) absPaths() {
	if c.DatabaseKeyFile != "" && !filepath.IsAbs(c.DatabaseKeyFile) {
		if abs, err := filepath.Abs(c.DatabaseKeyFile); err == nil {
			c.DatabaseKeyFile = abs
		}
	}
	for i := range c.Accounts {
		if f := c.Accounts[i].Recording.Bucket.File; f != nil && f.Dir != "" && !filepath.IsAbs(f.Dir) {
			if abs, err := filepath.Abs(f.Dir); err == nil {
				f.Dir = abs
			}
		}
	}
}

// validate checks every value and returns one Problem per bad key.
func (c *Config) validate() []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir", "missing")
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	probs = append(probs, c.Tracing.problems()...)
	probs = append(probs, c.Egress.parse()...)
	if c.Metrics.MaxAccounts < 0 {
		add("metrics.max_accounts", "%d: want 0 or more", c.Metrics.MaxAccounts)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "%q: want text or json", c.Log.Format)
	}

	if err := checkListen(c.SIP.Listen); err != "" {
		add("sip.listen", "%s", err)
	}
	if len(c.SIP.Transports) == 0 {
		add("sip.transports", "missing: give udp, tcp, tls or several")
	}
	seenTr := map[string]bool{}
	for i, t := range c.SIP.Transports {
		switch t {
		case "udp", "tcp", "tls":
			if seenTr[t] {
				add(fmt.Sprintf("sip.transports[%d]", i), "%q given twice", t)
			}
			seenTr[t] = true
		default:
			add(fmt.Sprintf("sip.transports[%d]", i), "%q: want udp, tcp or tls", t)
		}
	}
	c.checkTLS(seenTr["tls"], add)
	if c.SIP.MaxUDPMessageSize < 1300 || c.SIP.MaxUDPMessageSize > 65507 {
		add("sip.max_udp_message_size", "%d: want 1300 to 65507 bytes", c.SIP.MaxUDPMessageSize)
	}
	if c.SIP.MediaAddress != "" {
		if a, err := netip.ParseAddr(c.SIP.MediaAddress); err != nil || a.IsUnspecified() {
			add("sip.media_address", "%q: want a specific IP address", c.SIP.MediaAddress)
		}
	}
	var aerr error
	if c.SIP.algorithms, aerr = sip.ParseAlgorithms(c.SIP.Digest.Algorithms); len(c.SIP.Digest.Algorithms) == 0 {
		add("sip.digest.algorithms", "missing: give MD5, SHA-256 and/or SHA-512-256")
	}
	for _, e := range sip.AlgorithmErrors(aerr) {
		add(fmt.Sprintf("sip.digest.algorithms[%d]", e.Index), "%q: %s", e.Name, e.Reason)
	}
	if c.SIP.allowlist, aerr = sip.ParseAllowlistEntries(c.SIP.Allowlist); aerr != nil {
		add("sip.allowlist", "%v", aerr)
	}
	if t := c.SIP.TCP; t.MaxConns > 1<<20 {
		add("sip.tcp.max_conns", "%d: want at most 1048576 (0: half the open-file limit, negative: no cap)", t.MaxConns)
	}
	if t := c.SIP.TCP; t.MaxConnsPerSource == 0 || t.MaxConnsPerSource > 1<<20 {
		add("sip.tcp.max_conns_per_source", "%d: want 1 to 1048576 (negative: no cap)", t.MaxConnsPerSource)
	}
	if t := c.SIP.TCP; !(t.NewConnRate < 0 || (t.NewConnRate > 0 && t.NewConnRate <= 1e6)) {
		add("sip.tcp.new_conn_rate", "%v: want more than 0 and at most 1000000 connections a second (negative: no limit)", t.NewConnRate)
	}
	if t := c.SIP.TCP; t.NewConnBurst < 1 || t.NewConnBurst > 1<<20 {
		add("sip.tcp.new_conn_burst", "%d: want 1 to 1048576", t.NewConnBurst)
	}
	if t := c.SIP.TCP; t.MessageTimeout < 100*time.Millisecond || t.MessageTimeout > 10*time.Minute {
		add("sip.tcp.message_timeout", "%s: want 100ms to 10m", t.MessageTimeout)
	}
	if t := c.SIP.TCP; t.IdleTimeout < t.MessageTimeout {
		add("sip.tcp.idle_timeout", "%s: want at least sip.tcp.message_timeout (%s)", t.IdleTimeout, t.MessageTimeout)
	}
	if t := c.SIP.TCP; t.MaxMessageSize < 1300 || t.MaxMessageSize > 1<<20 {
		add("sip.tcp.max_message_size", "%d: want 1300 to 1048576 bytes", t.MaxMessageSize)
	}
	if c.SIP.Digest.NonceLifetime < 10*time.Second {
		add("sip.digest.nonce_lifetime", "%s: want at least 10s", c.SIP.Digest.NonceLifetime)
	}
	if c.SIP.Lockout.Window < 0 || c.SIP.Lockout.Block < 0 {
		add("sip.lockout", "window and block must not be negative")
	}
	if c.SIP.AckTimeout < time.Second {
		add("sip.ack_timeout", "%s: want at least 1s", c.SIP.AckTimeout)
	}
	if c.SIP.MediaTimeout < 0 {
		add("sip.media_timeout", "%s: must not be negative (0 disables it)", c.SIP.MediaTimeout)
	}

	if a, err := netip.ParseAddr(c.RTP.Address); err != nil {
		add("rtp.address", "%q: want an IP address", c.RTP.Address)
	} else if a.Is6() && !a.Is4In6() {
		add("rtp.address", "%q: IPv6 RTP is not supported by this gateway yet", c.RTP.Address)
	}
	if a, err := netip.ParseAddr(c.RTP.Address); err == nil && a.IsUnspecified() && c.SIP.MediaAddress == "" {
		add("sip.media_address", "missing: rtp.address %s listens on every address, so the address to put in SDP answers must be given", c.RTP.Address)
	}
	if lo, hi, err := media.ParsePortRange(c.RTP.Ports); err != nil {
		add("rtp.ports", "%s", strings.TrimPrefix(err.Error(), media.ErrPortRange.Error()+" "))
	} else if lo < 1024 {
		add("rtp.ports", "%q: ports must lie within 1024-65535", c.RTP.Ports)
	} else if hi-lo < 3 {
		add("rtp.ports", "%q: the range must hold at least two RTP/RTCP pairs", c.RTP.Ports)
	} else {
		c.RTP.minPort, c.RTP.maxPort = lo, hi
	}
	if c.RTP.latching, aerr = media.ParseLatching(c.RTP.Latching); aerr != nil {
		add("rtp.latching", "%q: want strict, relaxed or any", c.RTP.Latching)
	}
	if c.RTP.PollerWorkers < 0 || c.RTP.PollerWorkers > 1024 {
		add("rtp.poller_workers", "%d: want 1 to 1024, or 0 for one per core", c.RTP.PollerWorkers)
	}

	c.playbackProblems(add)
	if err := checkListen(c.HTTP.Listen); err != "" {
		add("http.listen", "%s", err)
	}
	if err := (recording.MP3Config{Bitrate: c.Record.MP3Bitrate, Mono: c.Record.MP3Mono}).Validate(8000); err != nil {
		add("recording.mp3_bitrate", "%d: want an MPEG-2.5 bitrate (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144 or 160 kbit/s), or 0 for the default", c.Record.MP3Bitrate)
	}
	if c.Record.FlushInterval < 10*time.Millisecond || c.Record.FlushInterval > time.Minute {
		add("recording.flush_interval", "%s: want 10ms to 1m", c.Record.FlushInterval)
	}
	if c.Record.RetryInterval < time.Second && c.Record.RetryInterval >= 0 {
		add("recording.retry_interval", "%s: want at least 1s (negative: only at the next start)", c.Record.RetryInterval)
	}
	if h := c.HTTP; h.MaxConns < 0 || h.MaxConnsPerSource < 0 || (h.MaxConns > 0 && h.MaxConnsPerSource > h.MaxConns) {
		add("http.max_conns_per_source", "%d (max_conns %d): want 0 or more, and at most max_conns", h.MaxConnsPerSource, h.MaxConns)
	}
	if k := c.HTTP.FailedKeys; k.Burst < 1 || k.Every <= 0 {
		add("http.failed_keys", "burst %d, every %s: want a burst of at least 1 and a positive every", k.Burst, k.Every)
	}
	if c.Shutdown.Timeout < time.Second {
		add("shutdown.timeout", "%s: want at least 1s", c.Shutdown.Timeout)
	}
	if c.Limiter.LeaseTTL < 10*time.Second {
		add("limiter.lease_ttl", "%s: want at least 10s", c.Limiter.LeaseTTL)
	}
	if p := c.APIKeyPepper.Reveal(); p != "" && len(p) < 16 {
		add("api_key_pepper", "at least 16 characters")
	}

	probs = append(probs, c.databaseProblems()...) // state.go
	probs = append(probs, fieldProblems(srsstate.Validate(c.declaration(), nil))...)
	// A default account may also be one stored earlier or the demo: that is
	// checked at start against the store (srsstate.State.DefaultAccount).
	return probs
}

// fieldProblems turns the field errors of the accounts' declaration into
// Problems named by the file's keys (srsstate.FileErrors).
func fieldProblems(err error) []Problem { return problemsOf(srsstate.FileErrors(err)) }

// problemsOf returns srsstate's problems of the file as Problems.
func problemsOf(errs []*srsstate.YAMLError) []Problem {
	probs := make([]Problem, len(errs))
	for i, e := range errs {
		probs[i] = Problem{Key: e.Path, Message: e.Reason}
	}
	return probs
}

// declaration returns the accounts and API keys of the file as srsstate
// declarations.
func (c *Config) declaration() srsstate.Declaration {
	d := srsstate.Declaration{AdminKeys: c.Admin.APIKeys, Accounts: make([]srsstate.DeclaredAccount, len(c.Accounts))}
	for i := range c.Accounts {
		d.Accounts[i] = c.Accounts[i].Declared(fmt.Sprintf("accounts[%d]", i))
	}
	return d
}

// checkListen returns why s is not a host:port to listen on
// (sip.CheckListenAddress), naming s, or "".
func checkListen(s string) string {
	var le *sip.ListenAddressError
	if errors.As(sip.CheckListenAddress(s), &le) {
		return fmt.Sprintf("%q: %s", le.Address, le.Reason)
	}
	return ""
}
