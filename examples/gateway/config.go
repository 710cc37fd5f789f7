package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
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
	// Demo creates a demo account on a start that finds no account at all
	// (neither configured nor stored) and prints its credentials once.
	Demo bool `yaml:"demo"`
	// APIKeyPepper keys the hashes of stored API keys (rbac); default: a
	// random pepper kept in DATA_DIR/secrets/api-key-pepper.
	APIKeyPepper tenancy.Secret `yaml:"api_key_pepper"`
	// Accounts are created or brought up to date at every start; accounts
	// stored earlier and not listed are left alone.
	Accounts []AccountConfig `yaml:"accounts"`
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
	MediaAddress string       `yaml:"media_address"`
	Digest       DigestConfig `yaml:"digest"`
	Lockout      struct {
		MaxFailures int           `yaml:"max_failures"`
		Window      time.Duration `yaml:"window"`
		Block       time.Duration `yaml:"block"`
	} `yaml:"lockout"`
	// AckTimeout and MediaTimeout are the SIPREC server's (siprec.Config).
	AckTimeout   time.Duration `yaml:"ack_timeout"`
	MediaTimeout time.Duration `yaml:"media_timeout"`
}

// DigestConfig configures digest authentication.
type DigestConfig struct {
	// Algorithms are offered in this order; sipp answers only the first
	// challenge and only MD5, so MD5 comes first by default.
	Algorithms    []string      `yaml:"algorithms"`
	NonceLifetime time.Duration `yaml:"nonce_lifetime"`
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
}

// HTTPConfig configures the HTTP API.
type HTTPConfig struct {
	Listen string `yaml:"listen"`
	// PProf serves Go's profiler at /debug/pprof/ (for capacity work; do
	// not expose it beyond the host).
	PProf bool `yaml:"pprof"`
}

// RecordingGlobal holds the recording settings shared by every account.
type RecordingGlobal struct {
	// MP3Bitrate in kbit/s (recording.MP3Config.Bitrate).
	MP3Bitrate int `yaml:"mp3_bitrate"`
	// FlushInterval bounds the audio a crash can lose.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// LAMEPath is where libmp3lame is loaded from; default the dynamic
	// linker's search for libmp3lame.so.0.
	LAMEPath string `yaml:"lame_path"`
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

// AccountConfig declares one account.
type AccountConfig struct {
	Name             string `yaml:"name"`
	SIPRealm         string `yaml:"sip_realm"`
	LicensedSessions int    `yaml:"licensed_sessions"`
	SIP              struct {
		Users     []SIPUserConfig `yaml:"users"`
		Allowlist []string        `yaml:"allowlist"`
		// RequireTLS and RequireSRTP: the account's SIPREC only over TLS,
		// its media only as SRTP (tenancy.SIPAccess).
		RequireTLS  bool `yaml:"require_tls"`
		RequireSRTP bool `yaml:"require_srtp"`
	} `yaml:"sip"`
	Recording    RecordingConfig     `yaml:"recording"`
	Applications []ApplicationConfig `yaml:"applications"`
	// SIPRECApplication names the application of SIPREC calls; default the
	// first application, or an application "siprec" made for it.
	SIPRECApplication string `yaml:"siprec_application"`
	// SessionWebhook is POSTed a signed event when a session ends.
	SessionWebhook string `yaml:"session_webhook"`
	// WebhookSecret signs webhooks; default generated and kept in the store.
	WebhookSecret tenancy.Secret `yaml:"webhook_secret"`
	APIKeys       []APIKeyConfig `yaml:"api_keys"`
}

// SIPUserConfig is one SIP user.
type SIPUserConfig struct {
	Username string         `yaml:"username"`
	Password tenancy.Secret `yaml:"password"`
}

// RecordingConfig is an account's recording configuration.
type RecordingConfig struct {
	Enabled        bool         `yaml:"enabled"`
	Format         string       `yaml:"format"`
	RecordAllCalls bool         `yaml:"record_all_calls"`
	Bucket         BucketConfig `yaml:"bucket"`
}

// BucketConfig is a bucket given by vendor fields (storage's configuration)
// or by a gocloud.dev URL.
type BucketConfig struct {
	URL          string                     `yaml:"url"`
	Vendor       bucketconfig.Vendor        `yaml:"vendor"`
	S3           *bucketconfig.S3           `yaml:"s3"`
	S3Compatible *bucketconfig.S3Compatible `yaml:"s3_compatible"`
	GCS          *bucketconfig.GCS          `yaml:"gcs"`
	Azure        *bucketconfig.Azure        `yaml:"azure"`
	File         *bucketconfig.File         `yaml:"file"`
	Memory       *bucketconfig.Memory       `yaml:"memory"`
}

func (b BucketConfig) vendorConfig() bucketconfig.Config {
	return bucketconfig.Config{Vendor: b.Vendor, S3: b.S3, S3Compatible: b.S3Compatible, GCS: b.GCS,
		Azure: b.Azure, File: b.File, Memory: b.Memory}
}

// ApplicationConfig declares one application of an account.
type ApplicationConfig struct {
	Name           string `yaml:"name"`
	RecordAllCalls bool   `yaml:"record_all_calls"`
}

// APIKeyConfig declares an API key with a known secret (bootstrapping).
type APIKeyConfig struct {
	Name        string         `yaml:"name"`
	Secret      tenancy.Secret `yaml:"secret"`
	ServiceType string         `yaml:"service_type"`
}

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
		if err := decodeStrict(data, &c); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				ce.File = name
			}
			return nil, err
		}
	}
	c.absPaths()
	if probs := c.validate(); len(probs) > 0 {
		return nil, &ConfigError{File: name, Problems: probs}
	}
	return &c, nil
}

var (
	reUnknownKey = regexp.MustCompile(`^line (\d+): field (\S+) not found in type`)
	reBadValue   = regexp.MustCompile(`^line (\d+): cannot unmarshal (\S+) ` + "`" + `(.*)` + "`" + ` into (.+)$`)
	reLine       = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// decodeStrict decodes data over c, refusing unknown keys, and turns yaml's
// errors into Problems naming the key's path.
func decodeStrict(data []byte, c *Config) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return &ConfigError{Problems: []Problem{{Key: "(file)", Message: strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return &ConfigError{Problems: []Problem{{Key: "(file)", Message: strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	paths := keyPaths(&root)
	var probs []Problem
	for _, msg := range te.Errors {
		if m := reUnknownKey.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			probs = append(probs, Problem{Key: paths.key(line, m[2]), Message: fmt.Sprintf("unknown key (line %d)", line)})
			continue
		}
		if m := reBadValue.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			key := paths.value(line)
			val := m[3]
			if isSecretKey(key) {
				val = "(secret)"
			}
			probs = append(probs, Problem{Key: key, Message: fmt.Sprintf("%s is not a valid %s (line %d)", strconv.Quote(val), describeType(m[4]), line)})
			continue
		}
		if m := reLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			key := paths.value(line)
			text := m[2]
			if isSecretKey(key) {
				text = "invalid value"
			}
			probs = append(probs, Problem{Key: key, Message: fmt.Sprintf("%s (line %d)", text, line)})
			continue
		}
		probs = append(probs, Problem{Key: "(file)", Message: msg})
	}
	return &ConfigError{Problems: probs}
}

// describeType turns a Go type in a yaml error into words.
func describeType(t string) string {
	switch {
	case t == "time.Duration":
		return "duration (like 30s or 5m)"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "whole number"
	case t == "bool":
		return "boolean (true or false)"
	case strings.HasPrefix(t, "[]"):
		return "list"
	case strings.HasPrefix(t, "main."), strings.HasPrefix(t, "map["), strings.Contains(t, "Config"):
		return "mapping"
	}
	return "string"
}

// isSecretKey reports whether a key holds a secret, whose value must not
// appear in messages.
func isSecretKey(key string) bool {
	for _, s := range []string{"password", "secret", "pepper", "connection_string", "service_key"} {
		if strings.Contains(key, s) {
			return true
		}
	}
	return false
}

// nodePaths maps lines of a YAML document to key paths.
type nodePaths struct {
	keys   map[string]string // "line\x00key" → path of that key
	values map[int]string    // line → path of the value (scalar) starting there
}

func keyPaths(root *yaml.Node) nodePaths {
	p := nodePaths{keys: map[string]string{}, values: map[int]string{}}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				kp := k.Value
				if path != "" {
					kp = path + "." + k.Value
				}
				p.keys[strconv.Itoa(k.Line)+"\x00"+k.Value] = kp
				if _, ok := p.values[v.Line]; !ok || v.Kind == yaml.ScalarNode {
					p.values[v.Line] = kp
				}
				walk(v, kp)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				ip := fmt.Sprintf("%s[%d]", path, i)
				if _, ok := p.values[c.Line]; !ok || c.Kind == yaml.ScalarNode {
					p.values[c.Line] = ip
				}
				walk(c, ip)
			}
		case yaml.AliasNode:
			// Not followed: an alias may refer to a node that holds it
			// (endless) or repeat one many times over (a few lines
			// expanding to billions of nodes). Its anchor, which comes
			// first in the file, was walked already and maps its lines.
		}
	}
	walk(root, "")
	return p
}

func (p nodePaths) key(line int, key string) string {
	if k, ok := p.keys[strconv.Itoa(line)+"\x00"+key]; ok {
		return k
	}
	return key
}

func (p nodePaths) value(line int) string {
	if k, ok := p.values[line]; ok {
		return k
	}
	return fmt.Sprintf("(line %d)", line)
}

// absPaths makes the relative directories of local buckets absolute (from
// the current directory), as package storage wants them.
func (c *Config) absPaths() {
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
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "%q: want text or json", c.Log.Format)
	}

	if err := checkListen(c.SIP.Listen); err != "" {
		add("sip.listen", "%q: %s", c.SIP.Listen, err)
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
	if len(c.SIP.Digest.Algorithms) == 0 {
		add("sip.digest.algorithms", "missing: give MD5, SHA-256 and/or SHA-512-256")
	}
	seenAlg := map[sip.Algorithm]bool{}
	for i, a := range c.SIP.Digest.Algorithms {
		alg, err := sip.ParseAlgorithm(a)
		switch {
		case err != nil:
			add(fmt.Sprintf("sip.digest.algorithms[%d]", i), "%q: want MD5, SHA-256 or SHA-512-256", a)
		case seenAlg[alg]:
			add(fmt.Sprintf("sip.digest.algorithms[%d]", i), "%q given twice", a)
		}
		seenAlg[alg] = true
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
	if _, _, err := parsePortRange(c.RTP.Ports); err != "" {
		add("rtp.ports", "%q: %s", c.RTP.Ports, err)
	}
	if c.RTP.PollerWorkers < 0 || c.RTP.PollerWorkers > 1024 {
		add("rtp.poller_workers", "%d: want 1 to 1024, or 0 for one per core", c.RTP.PollerWorkers)
	}

	if err := checkListen(c.HTTP.Listen); err != "" {
		add("http.listen", "%q: %s", c.HTTP.Listen, err)
	}
	switch {
	case c.Record.MP3Bitrate < 8 || c.Record.MP3Bitrate > 160:
		add("recording.mp3_bitrate", "%d: want 8 to 160 kbit/s (8 kHz MP3)", c.Record.MP3Bitrate)
	}
	if c.Record.FlushInterval < 10*time.Millisecond || c.Record.FlushInterval > time.Minute {
		add("recording.flush_interval", "%s: want 10ms to 1m", c.Record.FlushInterval)
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

	names := map[string]int{}
	realms := map[string]int{}
	for i := range c.Accounts {
		probs = append(probs, c.Accounts[i].validate(fmt.Sprintf("accounts[%d]", i))...)
		a := &c.Accounts[i]
		if n := strings.TrimSpace(a.Name); n != "" {
			if j, dup := names[n]; dup {
				add(fmt.Sprintf("accounts[%d].name", i), "%q: also the name of accounts[%d]", n, j)
			} else {
				names[n] = i
			}
		}
		if r := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(a.SIPRealm)), "."); r != "" {
			if j, dup := realms[r]; dup {
				add(fmt.Sprintf("accounts[%d].sip_realm", i), "%q: also the realm of accounts[%d]", r, j)
			} else {
				realms[r] = i
			}
		}
	}
	// A default account may also be one stored earlier or the demo: that is
	// checked at start against the store (see applyConfig).
	return probs
}

// validate checks one account; prefix is its key, like accounts[1].
func (a *AccountConfig) validate(prefix string) []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{Key: prefix + "." + key, Message: fmt.Sprintf(format, args...)})
	}
	acct, _ := a.tenancyAccount()
	acct.Normalize()
	for _, fe := range tenancy.FieldErrors(acct.Validate()) {
		if strings.HasPrefix(fe.Field, "recording.bucket") {
			continue // checked below, with storage's own errors (missing vs invalid)
		}
		key := fe.Field
		msg := fe.Reason
		if fe.Value != "" && !isSecretKey(key) {
			msg = strconv.Quote(fe.Value) + ": " + msg
		}
		if fe.Reason == "required" {
			msg = "missing"
		}
		add(key, "%s", msg)
	}
	rec := &a.Recording
	b := rec.Bucket
	vc := b.vendorConfig()
	switch {
	case b.URL != "" && !vc.IsZero():
		add("recording.bucket", "give either url or vendor fields, not both")
	case b.URL != "":
		probe := tenancy.Account{Name: "x", Recording: tenancy.RecordingConfig{BucketURL: b.URL}}
		for _, fe := range tenancy.FieldErrors(probe.Validate()) {
			add("recording.bucket.url", "%s", fe.Reason)
		}
	case vc.IsZero():
		if rec.Enabled {
			add("recording.bucket", "missing: recording is enabled (give vendor fields or url)")
		}
	default:
		for _, fe := range bucketconfig.FieldErrors(vc.Validate()) {
			msg := fe.Reason
			if errors.Is(fe, bucketconfig.ErrMissingField) {
				msg = "missing (" + fe.Reason + ")"
			} else if fe.Value != "" {
				msg = strconv.Quote(fe.Value) + ": " + fe.Reason
			}
			add("recording.bucket."+fe.Field, "%s", msg)
		}
	}
	apps := map[string]int{}
	for i, app := range a.Applications {
		n := strings.TrimSpace(app.Name)
		switch {
		case n == "":
			add(fmt.Sprintf("applications[%d].name", i), "missing")
		case len(n) > 128:
			add(fmt.Sprintf("applications[%d].name", i), "longer than 128 bytes")
		default:
			if j, dup := apps[n]; dup {
				add(fmt.Sprintf("applications[%d].name", i), "%q: also the name of applications[%d]", n, j)
			}
			apps[n] = i
		}
	}
	if s := strings.TrimSpace(a.SIPRECApplication); s != "" {
		if _, ok := apps[s]; !ok {
			add("siprec_application", "%q: no application of that name in this account", s)
		}
	}
	keys := map[string]int{}
	types := rbac.DefaultServiceTypes()
	for i, k := range a.APIKeys {
		p := fmt.Sprintf("api_keys[%d]", i)
		n := strings.TrimSpace(k.Name)
		if n == "" {
			add(p+".name", "missing")
		} else if j, dup := keys[n]; dup {
			add(p+".name", "%q: also the name of api_keys[%d]", n, j)
		} else {
			keys[n] = i
		}
		if k.Secret.IsZero() {
			add(p+".secret", "missing")
		} else if fes := rbac.FieldErrors(rbac.CheckSecretStrength(k.Secret.Reveal())); len(fes) > 0 {
			add(p+".secret", "%s", fes[0].Reason) // rbac's rule, the one Bootstrap applies
		}
		if k.ServiceType != "" {
			if _, ok := types[k.ServiceType]; !ok {
				list := make([]string, 0, len(types))
				for t := range types {
					list = append(list, t)
				}
				sort.Strings(list)
				add(p+".service_type", "%q: want one of %s", k.ServiceType, strings.Join(list, ", "))
			}
		}
	}
	return probs
}

// tenancyAccount returns the account a declares, without SID, applications
// selected, or generated secrets.
func (a *AccountConfig) tenancyAccount() (*tenancy.Account, error) {
	acct := &tenancy.Account{
		Name:             a.Name,
		SIPRealm:         a.SIPRealm,
		LicensedSessions: a.LicensedSessions,
		SessionWebhook:   a.SessionWebhook,
		WebhookSecret:    a.WebhookSecret,
		Recording: tenancy.RecordingConfig{
			Enabled:        a.Recording.Enabled,
			Format:         tenancy.AudioFormat(strings.ToLower(a.Recording.Format)),
			RecordAllCalls: a.Recording.RecordAllCalls,
			BucketURL:      a.Recording.Bucket.URL,
			Bucket:         a.Recording.Bucket.vendorConfig(),
		},
		SIP: tenancy.SIPAccess{Allowlist: append([]string(nil), a.SIP.Allowlist...), RequireTLS: a.SIP.RequireTLS, RequireSRTP: a.SIP.RequireSRTP},
	}
	for _, u := range a.SIP.Users {
		acct.SIP.Users = append(acct.SIP.Users, tenancy.SIPUser{Username: u.Username, Password: u.Password})
	}
	return acct, nil
}

// checkListen returns why s is not a host:port to listen on, or "".
func checkListen(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "want host:port"
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
		return "the host must be an IP address (or localhost)"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "the port must be 0 to 65535"
	}
	return ""
}

// parsePortRange parses "MIN-MAX".
func parsePortRange(s string) (lo, hi int, problem string) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return 0, 0, "want MIN-MAX, like 20000-39999"
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, "want MIN-MAX, like 20000-39999"
	case lo < 1024 || hi > 65535:
		return 0, 0, "ports must lie within 1024-65535"
	case hi-lo < 3:
		return 0, 0, "the range must hold at least two RTP/RTCP pairs"
	}
	return lo, hi, ""
}
