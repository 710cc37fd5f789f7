package media

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/bits"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
	"github.com/voicegw/voicegw/rbac/secret"
)

// CryptoSuite names the SRTP transform of an a=crypto line (RFC 4568 §6.2,
// RFC 7714 §12), as SDP spells it. Names compare case-insensitively (RFC
// 5234 §2.3); a Crypto keeps the spelling it was parsed with.
type CryptoSuite string

// The crypto-suites this package protects RTP with. Each was checked against
// libsrtp2, the reference implementation, in both directions.
const (
	// SuiteAESCM128HMACSHA1_80 is AES_CM_128_HMAC_SHA1_80 (RFC 4568 §6.2.1):
	// AES-128 in counter mode, an 80-bit HMAC-SHA1 tag; 30 bytes of key and
	// salt. The suite every SDES implementation has.
	SuiteAESCM128HMACSHA1_80 CryptoSuite = "AES_CM_128_HMAC_SHA1_80"
	// SuiteAESCM128HMACSHA1_32 is AES_CM_128_HMAC_SHA1_32 (RFC 4568 §6.2.2):
	// the same with a 32-bit tag, 6 bytes less per packet.
	SuiteAESCM128HMACSHA1_32 CryptoSuite = "AES_CM_128_HMAC_SHA1_32"
	// SuiteAEADAES128GCM is AEAD_AES_128_GCM (RFC 7714 §12): AES-128-GCM
	// with a 128-bit tag; 28 bytes of key and salt.
	SuiteAEADAES128GCM CryptoSuite = "AEAD_AES_128_GCM"
	// SuiteAEADAES256GCM is AEAD_AES_256_GCM (RFC 7714 §12): AES-256-GCM
	// with a 128-bit tag; 44 bytes of key and salt.
	SuiteAEADAES256GCM CryptoSuite = "AEAD_AES_256_GCM"
)

// maxLifetime is the most packets one master key may protect (RFC 3711
// §9.2), and the default lifetime of every supported suite.
const maxLifetime = 1 << 48

// suiteInfo is what the SRTP transform of a suite needs.
type suiteInfo struct {
	name    CryptoSuite // canonical spelling
	profile srtp.ProtectionProfile
	keyLen  int // master key bytes
	saltLen int // master salt bytes
	tagLen  int // bytes appended to each packet (authentication tag)
}

func (s CryptoSuite) info() (suiteInfo, bool) {
	switch {
	case strings.EqualFold(string(s), string(SuiteAESCM128HMACSHA1_80)):
		return suiteInfo{SuiteAESCM128HMACSHA1_80, srtp.ProtectionProfileAes128CmHmacSha1_80, 16, 14, 10}, true
	case strings.EqualFold(string(s), string(SuiteAESCM128HMACSHA1_32)):
		return suiteInfo{SuiteAESCM128HMACSHA1_32, srtp.ProtectionProfileAes128CmHmacSha1_32, 16, 14, 4}, true
	case strings.EqualFold(string(s), string(SuiteAEADAES128GCM)):
		return suiteInfo{SuiteAEADAES128GCM, srtp.ProtectionProfileAeadAes128Gcm, 16, 12, 16}, true
	case strings.EqualFold(string(s), string(SuiteAEADAES256GCM)):
		return suiteInfo{SuiteAEADAES256GCM, srtp.ProtectionProfileAeadAes256Gcm, 32, 12, 16}, true
	}
	return suiteInfo{}, false
}

// Supported reports whether this package can protect RTP with s.
func (s CryptoSuite) Supported() bool {
	_, ok := s.info()
	return ok
}

// KeyLen returns the length in bytes of the master key and master salt of
// s together (the decoded inline: value), or 0 for an unsupported suite.
func (s CryptoSuite) KeyLen() int {
	i, _ := s.info()
	return i.keyLen + i.saltLen
}

// SupportedCryptoSuites returns every suite this package supports:
// AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM and
// AEAD_AES_256_GCM.
func SupportedCryptoSuites() []CryptoSuite {
	return []CryptoSuite{SuiteAESCM128HMACSHA1_80, SuiteAESCM128HMACSHA1_32, SuiteAEADAES128GCM, SuiteAEADAES256GCM}
}

// CryptoKey is one key-params of an a=crypto line (RFC 4568 §9.1):
// "inline:" key||salt ["|" lifetime] ["|" MKI ":" length].
type CryptoKey struct {
	// Key is the master key followed by the master salt (RFC 3711 §8.2), as
	// the inline: key-params carry it once base64-decoded. Every printed
	// form is redacted (fmt, slog, JSON, text); Reveal returns the bytes.
	// Never log it, and send it only over signalling protected by TLS (see
	// the package documentation): keys reach the wire only through
	// Crypto.Marshal and SessionDescription.Marshal.
	Key secret.Bytes
	// Lifetime is the number of packets the key may protect (RFC 4568
	// §6.1); 0 when the line gives none, which means 2^48, the maximum of
	// RFC 3711 §9.2. Marshal writes a power of two as "2^n".
	Lifetime uint64
	// MKI is the master key identifier value carried by every packet, and
	// MKILength its length in bytes (1 to 128); MKILength 0 means no MKI.
	MKI       uint64
	MKILength int
}

// Crypto is one a=crypto attribute (RFC 4568 §9.1): a tag, a crypto-suite,
// the key-params and optional session parameters, such as
//
//	1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4
//
// ParseCrypto reads the attribute value; Marshal writes it. The Media of an
// RTP/SAVP line holds its a=crypto lines in Media.Crypto. Printing a Crypto
// (String, fmt, slog) never shows the key.
type Crypto struct {
	// Tag identifies the line within its m= line; the answer echoes the tag
	// of the offered line it accepts (RFC 4568 §5.1.2). 0 to 999999999.
	Tag int
	// Suite is the crypto-suite, as written.
	Suite CryptoSuite
	// Keys holds the key-params, at least one. This package uses lines with
	// exactly one.
	Keys []CryptoKey
	// SessionParams holds the session parameters as written (RFC 4568 §6.3),
	// such as "WSH=128"; nil when there are none.
	SessionParams []string
}

// NewCrypto returns an a=crypto line with the given tag and suite and a
// fresh random master key and salt (crypto/rand), no lifetime and no MKI:
// what an offerer writes for each suite it offers, and an answerer for the
// line it accepts. Errors wrap ErrUnsupportedCrypto (a suite this package
// does not support) or ErrInvalidConfig (a tag out of range).
func NewCrypto(tag int, suite CryptoSuite) (Crypto, error) {
	if tag < 0 || tag > maxTag {
		return Crypto{}, fmt.Errorf("%w: a=crypto tag %d is not between 0 and %d", ErrInvalidConfig, tag, maxTag)
	}
	info, ok := suite.info()
	if !ok {
		return Crypto{}, fmt.Errorf("%w: crypto-suite %q (supported: %s)", ErrUnsupportedCrypto, suite, suiteList())
	}
	key := make([]byte, info.keyLen+info.saltLen)
	_, _ = rand.Read(key) // never fails (crypto/rand, Go 1.24)
	return Crypto{Tag: tag, Suite: suite, Keys: []CryptoKey{{Key: key}}}, nil
}

// OfferCrypto returns one a=crypto line per suite, tagged 1, 2, ... in
// order, each with its own fresh key (NewCrypto): the lines of an RTP/SAVP
// offer, most preferred first. With no suites it offers
// AES_CM_128_HMAC_SHA1_80 then AES_CM_128_HMAC_SHA1_32, the two every SDES
// implementation has. Errors wrap ErrUnsupportedCrypto.
func OfferCrypto(suites ...CryptoSuite) ([]Crypto, error) {
	if len(suites) == 0 {
		suites = []CryptoSuite{SuiteAESCM128HMACSHA1_80, SuiteAESCM128HMACSHA1_32}
	}
	out := make([]Crypto, 0, len(suites))
	for i, s := range suites {
		c, err := NewCrypto(i+1, s)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

const (
	maxTag       = 999999999 // tag = 1*9DIGIT
	maxMKILength = 128       // mki-length = 1*3DIGIT, 1..128
	minWindow    = 64        // RFC 3711 §3.3.2 and RFC 4568 §6.3.7
)

func suiteList() string {
	var names []string
	for _, s := range SupportedCryptoSuites() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// ParseCrypto parses the value of an a=crypto attribute (what follows
// "a=crypto:") per the grammar of RFC 4568 §9.1. It checks syntax only: a
// line with a suite or parameters this package cannot use parses, and
// Validate says why it cannot be used. Errors wrap ErrMalformedSDP and name
// the bad part, never the key.
func ParseCrypto(value string) (Crypto, error) {
	fields := strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(fields) < 3 {
		return Crypto{}, fmt.Errorf("%w: a=crypto needs a tag, a crypto-suite and key-params, got %d fields", ErrMalformedSDP, len(fields))
	}
	var c Crypto
	tag, ok := parseDigits(fields[0], 9)
	if !ok {
		return Crypto{}, fmt.Errorf("%w: a=crypto tag %q is not 1 to 9 digits", ErrMalformedSDP, clip(fields[0]))
	}
	c.Tag = int(tag)
	if !isSuiteToken(fields[1]) {
		return Crypto{}, fmt.Errorf("%w: a=crypto:%d crypto-suite %q is not a token of letters, digits and _", ErrMalformedSDP, c.Tag, clip(fields[1]))
	}
	c.Suite = CryptoSuite(fields[1])
	for i, kp := range strings.Split(fields[2], ";") {
		k, err := parseKeyParam(kp)
		if err != nil {
			return Crypto{}, fmt.Errorf("%w: a=crypto:%d key-params %d: %s", ErrMalformedSDP, c.Tag, i+1, err)
		}
		c.Keys = append(c.Keys, k)
	}
	for i, p := range fields[3:] {
		if !isVisible(p) {
			return Crypto{}, fmt.Errorf("%w: a=crypto:%d session parameter %d is not visible ASCII", ErrMalformedSDP, c.Tag, i+1)
		}
		c.SessionParams = append(c.SessionParams, p)
	}
	return c, nil
}

// parseKeyParam reads "inline:" key-salt ["|" lifetime] ["|" mki]. Its
// error messages never contain the key.
func parseKeyParam(kp string) (CryptoKey, error) {
	method, info, ok := strings.Cut(kp, ":")
	if !ok {
		return CryptoKey{}, fmt.Errorf("no key method (want inline:)")
	}
	if !strings.EqualFold(method, "inline") {
		return CryptoKey{}, fmt.Errorf("key method %q is not supported (only inline)", clip(method))
	}
	parts := strings.Split(info, "|")
	if len(parts) > 3 {
		return CryptoKey{}, fmt.Errorf("%d |-separated parts after the key, at most 2 (lifetime, MKI)", len(parts)-1)
	}
	var k CryptoKey
	key, err := decodeKey(parts[0])
	if err != nil {
		return CryptoKey{}, err
	}
	k.Key = key
	for i, p := range parts[1:] {
		if v, l, isMKI := strings.Cut(p, ":"); isMKI {
			if i != len(parts)-2 {
				return CryptoKey{}, fmt.Errorf("the MKI must come last")
			}
			mki, ok1 := parseDigits(v, 20)
			n, ok2 := parseDigits(l, 3)
			switch {
			case !ok1 || !ok2:
				return CryptoKey{}, fmt.Errorf("MKI %q is not value:length in digits", clip(p))
			case n < 1 || n > maxMKILength:
				return CryptoKey{}, fmt.Errorf("MKI length %d is not between 1 and %d bytes", n, maxMKILength)
			case n < 8 && mki>>(8*n) != 0:
				return CryptoKey{}, fmt.Errorf("MKI value %d does not fit in %d bytes", mki, n)
			}
			k.MKI, k.MKILength = mki, int(n)
			continue
		}
		if i != 0 {
			return CryptoKey{}, fmt.Errorf("a second lifetime %q", clip(p))
		}
		lt, err := parseLifetime(p)
		if err != nil {
			return CryptoKey{}, err
		}
		k.Lifetime = lt
	}
	return k, nil
}

// decodeKey decodes base64 key||salt, padded or not (RFC 4648 §4). The
// error names the length only.
func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("empty inline key")
	}
	enc := base64.StdEncoding.Strict()
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = base64.RawStdEncoding.Strict()
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("the inline key (%d characters) is not base64", len(s))
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("empty inline key")
	}
	return b, nil
}

// parseLifetime reads lifetime = ["2^"] 1*DIGIT (RFC 4568 §9.1).
func parseLifetime(p string) (uint64, error) {
	if exp, ok := strings.CutPrefix(p, "2^"); ok {
		n, ok := parseDigits(exp, 2)
		if !ok || n > 63 {
			return 0, fmt.Errorf("lifetime %q is not 2^0 to 2^63", clip(p))
		}
		return 1 << n, nil
	}
	n, ok := parseDigits(p, 20)
	if !ok || n == 0 {
		return 0, fmt.Errorf("lifetime %q is not a positive number of packets", clip(p))
	}
	return n, nil
}

// parseDigits reads 1 to max decimal digits that fit in a uint64.
func parseDigits(s string, max int) (uint64, bool) {
	if s == "" || len(s) > max {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func isSuiteToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// isVisible reports 1*VCHAR (RFC 5234).
func isVisible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}

// clip bounds peer input quoted in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Marshal returns the attribute value of c (what follows "a=crypto:"),
// key included: write it only into SDP sent over TLS. Errors wrap
// ErrMalformedSDP and name the field that cannot be written.
func (c Crypto) Marshal() (string, error) {
	if c.Tag < 0 || c.Tag > maxTag {
		return "", fmt.Errorf("%w: a=crypto tag %d is not between 0 and %d", ErrMalformedSDP, c.Tag, maxTag)
	}
	if !isSuiteToken(string(c.Suite)) {
		return "", fmt.Errorf("%w: a=crypto:%d crypto-suite %q", ErrMalformedSDP, c.Tag, clip(string(c.Suite)))
	}
	if len(c.Keys) == 0 {
		return "", fmt.Errorf("%w: a=crypto:%d has no key", ErrMalformedSDP, c.Tag)
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(c.Tag))
	b.WriteByte(' ')
	b.WriteString(string(c.Suite))
	b.WriteByte(' ')
	for i, k := range c.Keys {
		if i > 0 {
			b.WriteByte(';')
		}
		if err := k.check(); err != nil {
			return "", fmt.Errorf("%w: a=crypto:%d key-params %d: %s", ErrMalformedSDP, c.Tag, i+1, err)
		}
		k.write(&b, true)
	}
	for i, p := range c.SessionParams {
		if !isVisible(p) {
			return "", fmt.Errorf("%w: a=crypto:%d session parameter %d is not visible ASCII", ErrMalformedSDP, c.Tag, i+1)
		}
		b.WriteByte(' ')
		b.WriteString(p)
	}
	return b.String(), nil
}

func (k CryptoKey) check() error {
	switch {
	case len(k.Key) == 0:
		return fmt.Errorf("empty key")
	case k.MKILength < 0 || k.MKILength > maxMKILength:
		return fmt.Errorf("MKI length %d is not between 1 and %d bytes", k.MKILength, maxMKILength)
	case k.MKILength == 0 && k.MKI != 0:
		return fmt.Errorf("MKI value %d without a length", k.MKI)
	case k.MKILength > 0 && k.MKILength < 8 && k.MKI>>(8*k.MKILength) != 0:
		return fmt.Errorf("MKI value %d does not fit in %d bytes", k.MKI, k.MKILength)
	}
	return nil
}

// write appends the key-param, with the key or redacted.
func (k CryptoKey) write(b *strings.Builder, reveal bool) {
	b.WriteString("inline:")
	if reveal {
		b.WriteString(base64.StdEncoding.EncodeToString(k.Key))
	} else {
		b.WriteString(secret.Redacted)
	}
	if k.Lifetime != 0 {
		b.WriteByte('|')
		if bits.OnesCount64(k.Lifetime) == 1 {
			b.WriteString("2^")
			b.WriteString(strconv.Itoa(bits.TrailingZeros64(k.Lifetime)))
		} else {
			b.WriteString(strconv.FormatUint(k.Lifetime, 10))
		}
	}
	if k.MKILength != 0 {
		b.WriteByte('|')
		b.WriteString(strconv.FormatUint(k.MKI, 10))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(k.MKILength))
	}
}

// String returns the attribute value with every key redacted, for logs and
// errors.
func (c Crypto) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(c.Tag))
	b.WriteByte(' ')
	b.WriteString(string(c.Suite))
	b.WriteByte(' ')
	for i, k := range c.Keys {
		if i > 0 {
			b.WriteByte(';')
		}
		k.write(&b, false)
	}
	for _, p := range c.SessionParams {
		b.WriteByte(' ')
		if name, _, eq := strings.Cut(p, "="); eq && (!knownSessionParam(name) || strings.EqualFold(name, "FEC_KEY")) {
			p = name + "=" + secret.Redacted // FEC_KEY carries a key; an unknown value may
		}
		b.WriteString(p)
	}
	return b.String()
}

// GoString implements fmt.GoStringer with the redacted form, so %#v of a
// description holding c shows no key either.
func (c Crypto) GoString() string { return "media.Crypto(" + strconv.Quote(c.String()) + ")" }

// Format implements fmt.Formatter: every verb prints the redacted form
// (String; %#v GoString).
func (c Crypto) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q':
		fmt.Fprintf(f, "%q", c.String())
	case verb == 'v' && f.Flag('#'):
		_, _ = f.Write([]byte(c.GoString()))
	default:
		_, _ = f.Write([]byte(c.String()))
	}
}

// LogValue implements slog.LogValuer with the redacted form.
func (c Crypto) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalText implements encoding.TextMarshaler with the redacted form, so
// JSON of a description holding c shows no key. The wire form is Marshal.
func (c Crypto) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// String returns the key-param with the key redacted.
func (k CryptoKey) String() string {
	var b strings.Builder
	k.write(&b, false)
	return b.String()
}

// Validate reports whether this package can protect RTP with c, and why not:
// the error wraps ErrUnsupportedCrypto and names the value (the suite, the
// key length, the lifetime, the MKI, the session parameter; never the key).
//
// Supported: the suites of SupportedCryptoSuites, exactly one key of the
// suite's length, any lifetime up to 2^48 (enforced: a key is not used for
// more packets), an MKI of 1 to 128 bytes, and the session parameters
// WSH (replay window hint, RFC 4568 §6.3.7) and FEC_ORDER=FEC_SRTP (the
// default order). Refused: other suites, several keys (MKI key
// switching), and the session parameters KDR, UNENCRYPTED_SRTP,
// UNENCRYPTED_SRTCP, UNAUTHENTICATED_SRTP, FEC_KEY and unknown ones.
func (c Crypto) Validate() error {
	info, ok := c.Suite.info()
	if !ok {
		return fmt.Errorf("%w: a=crypto:%d crypto-suite %q (supported: %s)", ErrUnsupportedCrypto, c.Tag, clip(string(c.Suite)), suiteList())
	}
	if len(c.Keys) != 1 {
		return fmt.Errorf("%w: a=crypto:%d has %d master keys; one is supported (no MKI key switching)", ErrUnsupportedCrypto, c.Tag, len(c.Keys))
	}
	k := c.Keys[0]
	if err := k.check(); err != nil {
		return fmt.Errorf("%w: a=crypto:%d: %s", ErrUnsupportedCrypto, c.Tag, err)
	}
	if want := info.keyLen + info.saltLen; len(k.Key) != want {
		return fmt.Errorf("%w: a=crypto:%d %s needs %d bytes of master key and salt, the inline key has %d", ErrUnsupportedCrypto, c.Tag, info.name, want, len(k.Key))
	}
	if k.Lifetime > maxLifetime {
		return fmt.Errorf("%w: a=crypto:%d lifetime %d is over 2^48 packets (RFC 3711 §9.2)", ErrUnsupportedCrypto, c.Tag, k.Lifetime)
	}
	_, err := c.windowHint()
	return err
}

// windowHint checks the session parameters and returns the WSH value, 0
// when there is none.
func (c Crypto) windowHint() (int, error) {
	wsh := 0
	for _, p := range c.SessionParams {
		name, v, _ := strings.Cut(p, "=")
		switch {
		case strings.EqualFold(name, "WSH"):
			n, ok := parseDigits(v, 10)
			if !ok || n < minWindow {
				return 0, fmt.Errorf("%w: a=crypto:%d session parameter WSH=%s: the window size hint must be a number of at least %d", ErrUnsupportedCrypto, c.Tag, clip(v), minWindow)
			}
			wsh = int(min(n, maxWindow))
		case strings.EqualFold(name, "FEC_ORDER") && strings.EqualFold(v, "FEC_SRTP"):
			// the default order: FEC is applied before SRTP
		case strings.EqualFold(name, "FEC_KEY"):
			return 0, fmt.Errorf("%w: a=crypto:%d session parameter FEC_KEY is not supported", ErrUnsupportedCrypto, c.Tag)
		case knownSessionParam(name):
			return 0, fmt.Errorf("%w: a=crypto:%d session parameter %q is not supported", ErrUnsupportedCrypto, c.Tag, clip(p))
		default: // an unknown parameter is named, its value not shown
			return 0, fmt.Errorf("%w: a=crypto:%d unknown session parameter %q", ErrUnsupportedCrypto, c.Tag, clip(name))
		}
	}
	return wsh, nil
}

// knownSessionParam reports the RFC 4568 §6.3 parameters whose value is
// not secret (not FEC_KEY, which carries a key).
func knownSessionParam(name string) bool {
	for _, k := range []string{"KDR", "UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTP", "FEC_ORDER", "WSH"} {
		if strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}

// mkiBytes returns the MKI as it appears in packets: the value big-endian
// in MKILength bytes.
func (k CryptoKey) mkiBytes() []byte {
	b := make([]byte, k.MKILength)
	v := k.MKI
	for i := len(b) - 1; i >= 0 && v != 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}
