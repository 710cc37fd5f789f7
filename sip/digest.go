package sip

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/voicegw/voicegw/rbac/secret"
)

// Algorithm is a digest algorithm (RFC 7616 §3.2, RFC 8760).
type Algorithm string

// The algorithms a DigestServer offers and checks. The -sess variants are
// not supported.
const (
	MD5       Algorithm = "MD5"
	SHA256    Algorithm = "SHA-256"
	SHA512256 Algorithm = "SHA-512-256"
)

// ErrUnknownAlgorithm is returned by ParseAlgorithm.
var ErrUnknownAlgorithm = errors.New("sip: unknown digest algorithm")

// ParseAlgorithm returns the Algorithm named by s, case-insensitively
// ("md5", "SHA-256", "sha-512-256").
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range []Algorithm{MD5, SHA256, SHA512256} {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w %q (want MD5, SHA-256 or SHA-512-256)", ErrUnknownAlgorithm, s)
}

func (a Algorithm) newHash() hash.Hash {
	switch a {
	case SHA256:
		return sha256.New()
	case SHA512256:
		return sha512.New512_256()
	default:
		return md5.New()
	}
}

func (a Algorithm) size() int {
	if a == MD5 {
		return md5.Size
	}
	return sha256.Size
}

// HA1 returns hex(H(username ":" realm ":" password)), the value a
// credential store may keep instead of the password (RFC 7616 §3.4.2).
func (a Algorithm) HA1(username, realm string, password secret.String) secret.String {
	return secret.String(hashHex(a.newHash(), username, ":", realm, ":", password.Reveal()))
}

func hashHex(h hash.Hash, parts ...string) string {
	h.Reset()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Errors of digest verification; match them with errors.Is. The Guard maps
// each to one SIP answer (documented on Guard).
var (
	// ErrMissingParam: a parameter the computation needs is absent
	// (username, realm, nonce, uri, response; cnonce and nc with qop).
	ErrMissingParam = errors.New("sip: digest answer lacks a parameter")
	// ErrUnsupported: an algorithm or qop the server did not offer, or userhash.
	ErrUnsupported = errors.New("sip: digest answer uses something not offered")
	// ErrRealmMismatch: the answer is for another realm.
	ErrRealmMismatch = errors.New("sip: digest realm does not match")
	// ErrBadNonce: the nonce was not issued by this server for this realm.
	ErrBadNonce = errors.New("sip: digest nonce not issued here")
	// ErrStaleNonce: the nonce has expired but the credentials were right;
	// the client should retry with a fresh nonce (stale=true).
	ErrStaleNonce = errors.New("sip: digest nonce expired")
	// ErrBadCredentials: wrong password or unknown user. The two are
	// deliberately the same error, so nothing can tell them apart.
	ErrBadCredentials = errors.New("sip: digest credentials rejected")
	// ErrReplay: a nonce count that is not higher than one already accepted
	// for the same nonce.
	ErrReplay = errors.New("sip: digest nonce count replayed")
	// ErrUnknownUser is what a CredentialSource returns for a user it does
	// not know. The verifier turns it into ErrBadCredentials.
	ErrUnknownUser = errors.New("sip: unknown user")
	// ErrInvalidConfig: a DigestConfig or GuardConfig that cannot work (an
	// unknown or repeated algorithm, no Tenants). The message names the field.
	ErrInvalidConfig = errors.New("sip: invalid configuration")
)

// Credential is what a CredentialSource knows of one user in one realm:
// the plaintext password, or HA1 values per algorithm, or both (HA1 wins).
type Credential struct {
	// Password is the plaintext password; empty when only HA1 is stored.
	Password secret.String
	// HA1 maps an algorithm to hex(H(username:realm:password)) for it (see
	// Algorithm.HA1). A store that keeps HA1 only must keep it for every
	// algorithm the server offers; an answer with another algorithm fails.
	HA1 map[Algorithm]secret.String
}

// CredentialSource looks up users' credentials; a tenant store can back it.
type CredentialSource interface {
	// Credential returns the credential of username in realm, or an error
	// wrapping ErrUnknownUser. Other errors mean the store failed.
	Credential(ctx context.Context, realm, username string) (Credential, error)
}

// CredentialFunc adapts a function to CredentialSource.
type CredentialFunc func(ctx context.Context, realm, username string) (Credential, error)

// Credential calls f.
func (f CredentialFunc) Credential(ctx context.Context, realm, username string) (Credential, error) {
	return f(ctx, realm, username)
}

// Users is a CredentialSource of plaintext passwords by username, the same
// in every realm (seed 002's one "SIP Username" and "SIP Password" per
// account, or a small static list).
type Users map[string]secret.String

// Credential implements CredentialSource.
func (u Users) Credential(_ context.Context, _, username string) (Credential, error) {
	p, ok := u[username]
	if !ok {
		return Credential{}, fmt.Errorf("%w %q", ErrUnknownUser, username)
	}
	return Credential{Password: p}, nil
}

// DigestAnswer is a client's answer to a challenge, as a ResponseChecker
// sees it.
type DigestAnswer struct {
	// Method is the SIP method of the request (the A2 method).
	Method string
	// Algorithm is the answer's algorithm (MD5 when the header had none).
	Algorithm Algorithm
	// Auth is the parsed header.
	Auth Authorization
}

// A ResponseChecker decides whether the response of a digest answer is
// right: nil when it is, an error wrapping ErrBadCredentials when it is not,
// any other error when it cannot tell (a store or webhook failure). The
// DigestServer has already checked the nonce, realm and algorithm.
type ResponseChecker interface {
	CheckResponse(ctx context.Context, a DigestAnswer) error
}

// CheckCredentials returns the ResponseChecker that computes the expected
// response from src and compares it in constant time. Every check does the
// same hashing whatever the user: one HA1 hash (an unknown user's is
// computed from a stand-in password, with the answer's algorithm; a stored
// HA1 is used but a stand-in is still hashed), then HA2 and the response.
// An unknown user fails with the same error as a wrong password.
func CheckCredentials(src CredentialSource) ResponseChecker { return localChecker{src: src} }

type localChecker struct {
	src CredentialSource
	// newHash makes the hash of an algorithm; nil is Algorithm.newHash.
	// Tests count hash computations through it.
	newHash func(Algorithm) hash.Hash
}

// dummyPassword stands in for the password of an unknown user (and of a
// user known by a stored HA1), so every check hashes an HA1 of the usual
// size: username ":" realm ":" a password.
const dummyPassword = "voicegw-dummy-password"

func (c localChecker) CheckResponse(ctx context.Context, a DigestAnswer) error {
	return c.check(ctx, a, &digestScratch{})
}

// check is CheckResponse with working memory from s (the DigestServer's,
// reused: nothing is allocated here on the usual path).
func (c localChecker) check(ctx context.Context, a DigestAnswer, s *digestScratch) error {
	known := true
	cred, err := c.src.Credential(ctx, a.Auth.Realm, a.Auth.Username)
	switch {
	case errors.Is(err, ErrUnknownUser):
		known = false
	case err != nil:
		return fmt.Errorf("sip: credential lookup: %w", err)
	}
	var h hash.Hash
	if c.newHash != nil {
		h = c.newHash(a.Algorithm)
	} else {
		h = s.hash(a.Algorithm)
	}
	size := a.Algorithm.size()
	stored, haveHA1 := cred.HA1[a.Algorithm]
	haveHA1 = haveHA1 && len(stored) == 2*size
	password := cred.Password.Reveal()
	if haveHA1 || password == "" {
		if !haveHA1 {
			known = false // unknown user, or nothing usable stored for this algorithm
		}
		password = dummyPassword
	}
	// exactly one HA1 hash on every path
	ha1 := sumHex(h, s, s.hexA[:0], a.Auth.Username, ":", a.Auth.Realm, ":", password)
	if haveHA1 {
		ha1 = s.hexA[:0]
		for _, c := range []byte(stored.Reveal()) {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			ha1 = append(ha1, c)
		}
	}
	want := expectedResponse(h, s, a, ha1)
	got, ok := decodeHex(s.got[:0], a.Auth.Response)
	match := subtle.ConstantTimeCompare(want, got) == 1 && ok && len(got) == size
	if !match || !known {
		return ErrBadCredentials
	}
	return nil
}

// sumHex appends to dst the hex of H(parts...) computed with h (reset
// first), the parts written at once from s.buf when they fit.
func sumHex(h hash.Hash, s *digestScratch, dst []byte, parts ...string) []byte {
	h.Reset()
	writeParts(h, s, parts...)
	sum := h.Sum(s.sum[:0])
	return hex.AppendEncode(dst, sum)
}

// writeParts writes the parts to h, through s.buf when they fit in it.
func writeParts(h hash.Hash, s *digestScratch, parts ...string) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n <= len(s.buf) {
		b := s.buf[:0]
		for _, p := range parts {
			b = append(b, p...)
		}
		h.Write(b)
		return
	}
	for _, p := range parts {
		h.Write([]byte(p))
	}
}

// decodeHex appends the bytes of the hex string v to dst; ok is false when v
// is not hex of at most cap(dst) bytes.
func decodeHex(dst []byte, v string) ([]byte, bool) {
	if len(v)%2 != 0 || len(v)/2 > cap(dst)-len(dst) {
		return dst, false
	}
	for i := 0; i < len(v); i += 2 {
		hi, ok1 := fromHexChar(v[i])
		lo, ok2 := fromHexChar(v[i+1])
		if !ok1 || !ok2 {
			return dst, false
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst, true
}

func fromHexChar(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// expectedResponse computes the response of RFC 7616 §3.4.1 (qop=auth) or
// RFC 2069 (no qop), with A2 = method ":" digest-uri as written, into
// s.want.
func expectedResponse(h hash.Hash, s *digestScratch, a DigestAnswer, ha1 []byte) []byte {
	ha2 := sumHex(h, s, s.hexB[:0], a.Method, ":", a.Auth.URI)
	h.Reset()
	b := append(s.buf[:0], ha1...)
	b = append(b, ':')
	if len(b)+len(a.Auth.Nonce)+len(a.Auth.CNonce)+len(a.Auth.QOP)+len(ha2)+16 > len(s.buf) {
		// a long nonce or cnonce: write the parts one by one
		h.Write(b)
		h.Write([]byte(a.Auth.Nonce))
		h.Write([]byte{':'})
		if a.Auth.QOP != "" {
			var nc [9]byte
			hex.Encode(nc[:8], binary.BigEndian.AppendUint32(nil, a.Auth.NC))
			nc[8] = ':'
			h.Write(nc[:])
			h.Write([]byte(a.Auth.CNonce + ":" + a.Auth.QOP + ":"))
		}
		h.Write(ha2)
		return h.Sum(s.want[:0])
	}
	b = append(b, a.Auth.Nonce...)
	b = append(b, ':')
	if a.Auth.QOP != "" {
		var nc [4]byte
		binary.BigEndian.PutUint32(nc[:], a.Auth.NC)
		b = hex.AppendEncode(b, nc[:])
		b = append(b, ':')
		b = append(b, a.Auth.CNonce...)
		b = append(b, ':')
		b = append(b, a.Auth.QOP...)
		b = append(b, ':')
	}
	b = append(b, ha2...)
	h.Write(b)
	return h.Sum(s.want[:0])
}

// DigestConfig configures a DigestServer. The zero value works.
type DigestConfig struct {
	// Algorithms are offered one challenge each, in this order. Clients
	// such as sipp answer the first challenge only (and only MD5), so put
	// MD5 first for them. Default: SHA-512-256, SHA-256, MD5 (strongest first).
	Algorithms []Algorithm
	// NonceKey is the HMAC-SHA256 key of the nonces. Servers that share it
	// accept each other's nonces. Default: 32 random bytes, new each time
	// the server is created (nonces issued before a restart then get a
	// fresh challenge).
	NonceKey secret.String
	// NonceLifetime is how long a nonce is good for; after it, a right
	// answer gets stale=true. Default: 60 s. The memory kept for nonce
	// counts grows with the authentication rate times twice this lifetime.
	NonceLifetime time.Duration
	// AllowRFC2069 accepts answers in the RFC 2069 form (no qop, so no
	// cnonce and no nonce count) from clients too old for qop=auth. Such an
	// answer is the same bytes every time it is computed for the same
	// request, so anyone who sees it can send it again while its nonce
	// lives: with this option the server remembers every qop-less answer
	// it accepted (keyed by nonce and response, for two nonce lifetimes,
	// within MaxTrackedNonces) and refuses the same answer a second time
	// with ErrReplay. Default false: qop=auth is required and a qop-less
	// answer is refused with ErrUnsupported (the Guard answers it with a
	// fresh challenge). Challenges always offer qop="auth".
	AllowRFC2069 bool
	// MaxTrackedNonces bounds the nonces whose counts are remembered (and,
	// with AllowRFC2069, separately, the qop-less answers). When it is
	// reached the older half is forgotten and nonces issued before then
	// are treated as expired (stale=true), so replays stay impossible.
	// Default 1<<20 (about 64 MB at most per table: a count, when it was
	// accepted and a fingerprint of its request per nonce).
	MaxTrackedNonces int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DigestServer issues digest challenges and verifies answers (RFC 3261
// §22.4, RFC 7616, RFC 8760). Nonces are stateless: a nonce carries its
// issue time and a random salt, with an HMAC over them, the realm and the
// source address it was issued to (ChallengesFor, VerifyFrom), so any
// server holding the key can check it without storing it. A nonce answered
// from another address than the one it was sent to is ErrBadNonce: a client
// cannot take a nonce at its own address and answer it under a spoofed
// source (over UDP) to have failures counted against that source. The only
// state is the highest nonce count accepted per nonce, kept for at most two
// nonce lifetimes, which rejects replayed counts (and, with AllowRFC2069,
// the qop-less answers accepted, which rejects their replays). It is safe
// for concurrent use.
type DigestServer struct {
	algs      []Algorithm
	key       []byte
	lifetime  time.Duration
	allow2069 bool
	now       func() time.Time
	nc        ncTable
	// rfc2069 remembers the qop-less answers accepted (AllowRFC2069): key
	// SHA-256(nonce MAC, response)[:16], count 1.
	rfc2069 ncTable
	// scratch holds *digestScratch: the nonce HMAC and the checker's hashes
	// and buffers, reused so that verifying allocates nothing of its own.
	scratch sync.Pool
}

// digestScratch is the working memory of one nonce or verification.
type digestScratch struct {
	mac    hash.Hash // HMAC-SHA256 with the server's key
	hashes [3]hash.Hash
	buf    [512]byte
	sum    [sha256.Size]byte
	want   [sha256.Size]byte
	got    [sha256.Size]byte
	hexA   [2 * sha256.Size]byte
	hexB   [2 * sha256.Size]byte
}

// hash returns the scratch's hash of a, reset.
func (s *digestScratch) hash(a Algorithm) hash.Hash {
	i := 0
	switch a {
	case SHA256:
		i = 1
	case SHA512256:
		i = 2
	}
	if s.hashes[i] == nil {
		s.hashes[i] = a.newHash()
	}
	h := s.hashes[i]
	h.Reset()
	return h
}

func (d *DigestServer) getScratch() *digestScratch {
	if s, ok := d.scratch.Get().(*digestScratch); ok {
		return s
	}
	return &digestScratch{mac: hmac.New(sha256.New, d.key)}
}

// DefaultAlgorithms is the offer when DigestConfig.Algorithms is empty.
func DefaultAlgorithms() []Algorithm { return []Algorithm{SHA512256, SHA256, MD5} }

// NewDigestServer returns a DigestServer for cfg. It fails with
// ErrInvalidConfig for an unknown (also ErrUnknownAlgorithm) or repeated
// algorithm.
func NewDigestServer(cfg DigestConfig) (*DigestServer, error) {
	d := &DigestServer{
		algs:      cfg.Algorithms,
		lifetime:  cfg.NonceLifetime,
		allow2069: cfg.AllowRFC2069,
		now:       cfg.Now,
	}
	if len(d.algs) == 0 {
		d.algs = DefaultAlgorithms()
	}
	seen := map[Algorithm]bool{}
	for _, a := range d.algs {
		if _, err := ParseAlgorithm(string(a)); err != nil || seen[a] {
			if seen[a] {
				return nil, fmt.Errorf("%w: DigestConfig.Algorithms offers %q twice", ErrInvalidConfig, a)
			}
			return nil, fmt.Errorf("%w: DigestConfig.Algorithms: %w", ErrInvalidConfig, err)
		}
		seen[a] = true
	}
	d.algs = append([]Algorithm(nil), d.algs...)
	if d.lifetime <= 0 {
		d.lifetime = 60 * time.Second
	}
	if d.now == nil {
		d.now = time.Now
	}
	if cfg.NonceKey != "" {
		d.key = []byte(cfg.NonceKey.Reveal())
	} else {
		d.key = make([]byte, 32)
		_, _ = rand.Read(d.key)
	}
	maxNonces := cfg.MaxTrackedNonces
	if maxNonces <= 0 {
		maxNonces = 1 << 20
	}
	d.nc = ncTable{lifetime: d.lifetime, max: maxNonces}
	d.rfc2069 = ncTable{lifetime: d.lifetime, max: maxNonces}
	return d, nil
}

// Algorithms returns the offered algorithms in order.
func (d *DigestServer) Algorithms() []Algorithm { return append([]Algorithm(nil), d.algs...) }

// nonce layout: 8 bytes issue time (Unix ns), 8 random bytes, 16 bytes MAC.
const (
	nonceRawLen = 32
	nonceMACLen = 16
)

var nonceEncoding = base64.RawURLEncoding

// NewNonce returns a fresh nonce for realm, bound to no source address (see
// NewNonceFor).
func (d *DigestServer) NewNonce(realm string) string { return d.NewNonceFor(realm, netip.Addr{}) }

// NewNonceFor returns a fresh nonce for realm, good only in answers from
// source (an IPv4-mapped address counts as its IPv4 one, zones are
// ignored). The zero netip.Addr binds it to no source: it is then good only
// in answers verified without a source (Verify).
func (d *DigestServer) NewNonceFor(realm string, source netip.Addr) string {
	var b [nonceEncodedLen]byte
	return string(d.appendNonce(b[:0], realm, source))
}

// nonceEncodedLen is the length of a nonce as sent (unpadded base64url).
const nonceEncodedLen = (nonceRawLen*8 + 5) / 6

// appendNonce appends a fresh nonce for realm and source to b.
func (d *DigestServer) appendNonce(b []byte, realm string, source netip.Addr) []byte {
	s := d.getScratch()
	defer d.scratch.Put(s)
	raw := s.buf[:nonceRawLen]
	binary.BigEndian.PutUint64(raw[:8], uint64(d.now().UnixNano()))
	_, _ = rand.Read(raw[8:16])
	copy(raw[16:], d.mac(s, realm, source, raw[:16]))
	return nonceEncoding.AppendEncode(b, raw)
}

// mac is HMAC-SHA256(key, body || source || realm), truncated, where source
// is one byte (0 none, 4 or 6) and the 16 bytes of the address, so the
// fields cannot run into each other. It is s.sum's first nonceMACLen bytes.
func (d *DigestServer) mac(s *digestScratch, realm string, source netip.Addr, body []byte) []byte {
	in := s.buf[nonceRawLen:nonceRawLen]
	in = append(in, body...)
	if source.IsValid() {
		source = source.Unmap()
		kind := byte(6)
		if source.Is4() {
			kind = 4
		}
		a16 := source.As16()
		in = append(append(in, kind), a16[:]...)
	} else {
		var none [17]byte
		in = append(in, none[:]...)
	}
	m := s.mac
	m.Reset()
	if len(in)+len(realm) <= cap(in) {
		m.Write(append(in, realm...))
	} else {
		m.Write(in)
		m.Write([]byte(realm))
	}
	return m.Sum(s.sum[:0])[:nonceMACLen]
}

// checkNonce returns the nonce's MAC (the key of its count) and issue time.
func (d *DigestServer) checkNonce(s *digestScratch, realm string, source netip.Addr, nonce string) (key [nonceMACLen]byte, issued int64, err error) {
	if nonceEncoding.EncodedLen(nonceRawLen) != len(nonce) {
		return key, 0, ErrBadNonce
	}
	var raw [nonceRawLen]byte
	enc := append(s.buf[nonceRawLen:nonceRawLen], nonce...)
	if n, err := nonceEncoding.Decode(raw[:], enc); err != nil || n != nonceRawLen {
		return key, 0, ErrBadNonce
	}
	if !hmac.Equal(raw[16:], d.mac(s, realm, source, raw[:16])) {
		return key, 0, ErrBadNonce
	}
	copy(key[:], raw[16:])
	return key, int64(binary.BigEndian.Uint64(raw[:8])), nil
}

// Challenges returns one challenge per offered algorithm, in order, all
// with the same fresh nonce and qop="auth"; stale marks them stale=true.
// The nonce is bound to no source address (see ChallengesFor).
func (d *DigestServer) Challenges(realm string, stale bool) []Challenge {
	return d.ChallengesFor(realm, netip.Addr{}, stale)
}

// ChallengesFor is Challenges with a nonce bound to source, the address the
// challenge is sent to: only VerifyFrom with the same source accepts it.
func (d *DigestServer) ChallengesFor(realm string, source netip.Addr, stale bool) []Challenge {
	nonce := d.NewNonceFor(realm, source)
	out := make([]Challenge, len(d.algs))
	for i, a := range d.algs {
		out[i] = Challenge{Realm: realm, Nonce: nonce, Stale: stale, Algorithm: string(a), QOP: []string{"auth"}}
	}
	return out
}

// clockSkew is how far in the future a nonce's issue time may be (servers
// sharing a key have slightly different clocks).
const clockSkew = 5 * time.Second

// Verify checks a digest answer to a challenge of realm for a request with
// method, deciding the response with check. It returns nil when the answer
// is right, otherwise an error matching one of ErrMissingParam,
// ErrUnsupported, ErrRealmMismatch, ErrBadNonce, ErrBadCredentials,
// ErrStaleNonce or ErrReplay, or the checker's own failure. The order is:
// the answer's form, realm, algorithm, the nonce's MAC, the response, the
// nonce's age, then the nonce count (recorded only for a right answer).
// The digest-uri is used as written; checking it against the request is
// the caller's job (the Guard does it). Only nonces bound to no source
// (NewNonce, Challenges) pass; see VerifyFrom.
func (d *DigestServer) Verify(ctx context.Context, method, realm string, auth Authorization, check ResponseChecker) error {
	return d.VerifyFrom(ctx, method, realm, netip.Addr{}, auth, check)
}

// VerifyFrom is Verify for an answer received from source: a nonce issued
// to another address (or to none) fails with ErrBadNonce before the
// response is checked, so it says nothing about the credentials and is no
// failure of source's.
func (d *DigestServer) VerifyFrom(ctx context.Context, method, realm string, source netip.Addr, auth Authorization, check ResponseChecker) error {
	_, err := d.verify(ctx, method, realm, source, auth, check, nil, 0)
	return err
}

// verify is VerifyFrom for a request whose fingerprint is fp (see
// Guard.fingerprint; 0 for none): an answer whose nonce count was
// accepted before, with the same fingerprint, within retransmissionWindow,
// is a retransmission of that request: accepted again (retrans true), not
// refused as a replay. A nil check is CheckCredentials(creds), without
// making one.
func (d *DigestServer) verify(ctx context.Context, method, realm string, source netip.Addr, auth Authorization, check ResponseChecker, creds CredentialSource, fp uint64) (retrans bool, err error) {
	ans := DigestAnswer{Method: method, Auth: auth}
	if err := d.checkForm(auth); err != nil {
		return false, err
	}
	if auth.Realm != realm {
		return false, fmt.Errorf("%w: answer for %q, expected %q", ErrRealmMismatch, auth.Realm, realm)
	}
	alg, err := d.algorithm(auth.Algorithm)
	if err != nil {
		return false, err
	}
	ans.Algorithm = alg
	s := d.getScratch()
	defer d.scratch.Put(s)
	key, issued, err := d.checkNonce(s, realm, source, auth.Nonce)
	if err != nil {
		return false, err
	}
	switch lc, ok := check.(localChecker); {
	case check == nil:
		err = localChecker{src: creds}.check(ctx, ans, s)
	case ok:
		err = lc.check(ctx, ans, s)
	default:
		err = check.CheckResponse(ctx, ans)
	}
	if err != nil {
		return false, err
	}
	now := d.now()
	age := now.Sub(time.Unix(0, issued))
	if age < -clockSkew {
		return false, fmt.Errorf("%w: issued %s in the future", ErrBadNonce, -age)
	}
	if age > d.lifetime {
		return false, fmt.Errorf("%w: %s old, lifetime %s", ErrStaleNonce, age.Round(time.Millisecond), d.lifetime)
	}
	if auth.QOP == "" {
		// an RFC 2069 answer (AllowRFC2069): good once
		retrans, err := d.rfc2069.accept(now, answerKey(key, auth.Response), issued, 1, fp)
		if errors.Is(err, ErrReplay) {
			return false, fmt.Errorf("%w: the same qop-less (RFC 2069) answer was accepted before", ErrReplay)
		}
		return retrans, err
	}
	return d.nc.accept(now, key, issued, auth.NC, fp)
}

func (d *DigestServer) checkForm(a Authorization) error {
	var missing []string
	for _, p := range []struct{ name, v string }{
		{"username", a.Username}, {"realm", a.Realm}, {"nonce", a.Nonce}, {"uri", a.URI}, {"response", a.Response},
	} {
		if p.v == "" {
			missing = append(missing, p.name)
		}
	}
	if a.QOP != "" {
		if a.CNonce == "" {
			missing = append(missing, "cnonce")
		}
		if a.NC == 0 {
			missing = append(missing, "nc")
		}
	}
	if missing != nil {
		return fmt.Errorf("%w: %s", ErrMissingParam, strings.Join(missing, ", "))
	}
	switch {
	case a.QOP == "" && !d.allow2069:
		return fmt.Errorf("%w: answer without qop (RFC 2069 form) refused; qop=auth is required", ErrUnsupported)
	case a.QOP != "" && !strings.EqualFold(a.QOP, "auth"):
		return fmt.Errorf("%w: qop %q", ErrUnsupported, a.QOP)
	}
	for _, p := range a.Params {
		if strings.EqualFold(p.Name, "userhash") && strings.EqualFold(p.Value, "true") {
			return fmt.Errorf("%w: userhash", ErrUnsupported)
		}
	}
	return nil
}

func (d *DigestServer) algorithm(s string) (Algorithm, error) {
	if s == "" {
		s = string(MD5)
	}
	for _, a := range d.algs {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: algorithm %q", ErrUnsupported, s)
}

// answerKey identifies a qop-less answer: its nonce (by MAC) and response,
// case-insensitively (hex digits).
func answerKey(nonce [nonceMACLen]byte, response string) [nonceMACLen]byte {
	var buf [nonceMACLen + 128]byte
	b := append(buf[:0], nonce[:]...)
	for i := 0; i < len(response) && i < 128; i++ {
		c := response[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	sum := sha256.Sum256(b)
	var out [nonceMACLen]byte
	copy(out[:], sum[:])
	return out
}

// retransmissionWindow is how long after accepting a request its
// retransmissions are accepted too: 64·T1 (RFC 3261 Timer F and Timer B),
// how long a client sends a request again for want of an answer.
const retransmissionWindow = 32 * time.Second

// ncEntry is what an ncTable keeps per nonce: the highest count accepted,
// when (Unix seconds), and the fingerprint of the request that carried it
// (0: none), by which a retransmission of that request is told from a
// replay.
type ncEntry struct {
	nc uint32
	at uint32
	fp uint64
}

// ncTable remembers the highest nonce count accepted per nonce. Entries live
// in two generations rotated every nonce lifetime, so an entry is kept at
// least as long as its nonce is valid and at most about twice that.
type ncTable struct {
	mu        sync.Mutex
	lifetime  time.Duration
	max       int
	cur, prev map[[nonceMACLen]byte]ncEntry
	rotated   time.Time
	// curNewest/prevNewest: newest issue time recorded in each generation;
	// floor: nonces issued at or before it were forgotten early.
	curNewest, prevNewest, floor int64
}

// accept records nc for the nonce key (issued at issued), or refuses it
// with ErrReplay when it is not higher than the count already accepted. A
// count equal to it is accepted once more, as a retransmission (retrans
// true, nothing recorded), when fp is not 0 and is the fingerprint of the
// request that count was accepted with, within retransmissionWindow.
func (t *ncTable) accept(now time.Time, key [nonceMACLen]byte, issued int64, nc uint32, fp uint64) (retrans bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == nil {
		t.cur, t.rotated = make(map[[nonceMACLen]byte]ncEntry), now
	}
	switch since := now.Sub(t.rotated); {
	case since >= 2*t.lifetime:
		t.prev, t.cur, t.prevNewest, t.curNewest = nil, make(map[[nonceMACLen]byte]ncEntry), 0, 0
		t.rotated = now
	case since >= t.lifetime:
		t.prev, t.cur, t.prevNewest, t.curNewest = t.cur, make(map[[nonceMACLen]byte]ncEntry), t.curNewest, 0
		t.rotated = now
	}
	if t.floor != 0 && issued <= t.floor {
		return false, fmt.Errorf("%w: forgotten to bound memory", ErrStaleNonce)
	}
	last, ok := t.cur[key]
	if !ok {
		last = t.prev[key]
	}
	if nc == last.nc && fp != 0 && fp == last.fp && now.Unix()-int64(last.at) <= int64(retransmissionWindow/time.Second) {
		return true, nil
	}
	if nc <= last.nc {
		return false, fmt.Errorf("%w: nc %08x after %08x", ErrReplay, nc, last.nc)
	}
	if len(t.cur) >= t.max/2 {
		// forget the older generation early; everything it may have held
		// becomes stale so none of it can be replayed
		t.floor = max(t.floor, t.prevNewest)
		t.prev, t.cur, t.prevNewest, t.curNewest = t.cur, make(map[[nonceMACLen]byte]ncEntry), t.curNewest, 0
		t.rotated = now
	}
	t.cur[key] = ncEntry{nc: nc, at: uint32(now.Unix()), fp: fp}
	t.curNewest = max(t.curNewest, issued)
	return false, nil
}
