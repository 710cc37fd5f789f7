package tenancy

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/voicegw/voicegw/rbac/secret"
)

// Limits of SIP access fields.
const (
	// MaxSIPUsers bounds the SIP users of one account.
	MaxSIPUsers = 1000
	// MaxAllowlistEntries bounds the allowlist entries of one account.
	MaxAllowlistEntries = 10000
	// MinSIPPasswordLen is the shortest SIP password accepted. Digest
	// authentication (RFC 3261 §22) lets anyone who saw one exchange test
	// guesses offline, so short passwords are refused.
	MinSIPPasswordLen = 8
	maxSIPUsernameLen = 64
	maxSIPPasswordLen = 256
	maxAllowlistEntry = 100
)

// Errors of SIP access; match them with errors.Is.
var (
	// ErrNotStoredForm is returned by SIPAccess.UnmarshalStored for data
	// that is not the durable encoding (for example the JSON show-back
	// form).
	ErrNotStoredForm = errors.New("tenancy: not a stored SIP access configuration (its passwords may be masked)")
	// ErrPasswordNeeded: a SIP user's password is needed again because the
	// account's digest realm changed, and only digests of the old realm are
	// stored (see DigestHA1). Wrapped, with ErrInvalid, by a FieldError on
	// the user's password naming the user.
	ErrPasswordNeeded = errors.New("tenancy: the SIP password is needed again (the digest realm changed)")
	// ErrClearPassword: SIPAccess.MarshalStored was given a user whose
	// password has not been turned into digests (HashPasswords): stores
	// never keep SIP passwords in clear.
	ErrClearPassword = errors.New("tenancy: SIP password not hashed: stores keep only its digests")
)

// SIPAccess is how an account's SIP peers are let in (seed 002 "SIP": IP
// whitelist, SIP username and password): the source addresses allowed, and
// the users whose digest credentials (RFC 3261 §22, RFC 7616) are accepted.
// A SIP server (package sip's Guard, wired by the gateway) checks the
// allowlist first (403 outside it), then the digest.
//
// Passwords are held in [secret.String]: redacted when printed, masked in JSON.
// Stores never keep them: Store.CreateAccount and UpdateAccount turn each
// password into its digests for the account's realm (SIPUser.HA1, the
// ha1 column of Kamailio's subscriber table), which is what a digest server
// needs, and MarshalStored refuses a password left in clear.
//
// SIPAccess and SIPUser carry YAML tags (the JSON names; HA1 left out) so
// that a configuration file declares them as they are.
type SIPAccess struct {
	// Users are the SIP users of the account; usernames are unique.
	// Empty: nobody authenticates by digest.
	Users []SIPUser `json:"users,omitempty" yaml:"users"`
	// Allowlist lists the source addresses allowed to send SIP requests
	// for the account, one entry per element, in the forms of package
	// sip's allowlist: a single IPv4 or IPv6 address (203.0.113.7), an
	// IPv4 wildcard (203.0.113.*), a CIDR prefix (203.0.113.0/24), or a
	// range (203.0.113.10-203.0.113.20). Empty allows every address.
	//
	// This package checks only the shape of each entry (the characters an
	// entry can hold); package tenancy cannot import package sip, so the
	// SIP server parses the list with sip.ParseAllowlistEntries and must
	// refuse every request of an account whose list does not parse (never
	// treat it as empty).
	Allowlist []string `json:"allowlist,omitempty" yaml:"allowlist"`
	// RequireTLS refuses the account's SIPREC sessions whose SIP does not
	// come over TLS (SIPS): a recording server answers such an INVITE 488
	// with a Warning saying so. Default false.
	RequireTLS bool `json:"require_tls,omitempty" yaml:"require_tls"`
	// RequireSRTP refuses the account's SIPREC offers that record a stream
	// in clear (RTP/AVP rather than RTP/SAVP with SDES keys): 488 with a
	// Warning naming the line. SDES keys travel in the SDP, so SRTP needs
	// TLS too (a recording server refuses keys over clear signalling).
	// Default false.
	RequireSRTP bool `json:"require_srtp,omitempty" yaml:"require_srtp"`
}

// SIPUser is one set of SIP digest credentials of an account.
type SIPUser struct {
	// Username is the digest username: 1 to 64 characters of the SIP URI
	// user part (RFC 3261 §25.1: letters, digits and -_.!~*'()&=+$,;?/),
	// unique in the account.
	Username string `json:"username" yaml:"username"`
	// Password is the digest password, given to create the user or change
	// its password: 8 to 256 characters, no control characters. It is
	// never stored: the Store keeps HA1 instead, so a user read back has an
	// empty Password, and an update that submits it empty keeps the stored
	// digests (while the account's digest realm stays the same).
	Password secret.String `json:"password" yaml:"password"`
	// HA1 holds the digests of the password that the stores keep, set by
	// Store.CreateAccount and Store.UpdateAccount; a value submitted is
	// ignored. Not part of the JSON form.
	HA1 DigestHA1 `json:"-" yaml:"-"`
}

// Digest algorithms of DigestHA1, named as in the WWW-Authenticate header
// (RFC 7616 §3.3, RFC 8760) and as package sip names its Algorithm values.
const (
	DigestMD5       = "MD5"
	DigestSHA256    = "SHA-256"
	DigestSHA512256 = "SHA-512-256"
)

// DigestHA1 is what a digest server needs of a SIP password (RFC 7616
// §3.4.2), for each algorithm a server may offer: hex(H(username ":"
// realm ":" password)), in one realm. It is what Kamailio's subscriber
// table keeps in its ha1 column. Whoever holds it can answer challenges of
// that realm (keep it as secret as the password: the stores seal it too),
// but it does not reveal the password, so a password reused elsewhere is
// not exposed, and it is useless for any other realm. The same password in
// another realm (the account's digest realm changed) needs the password
// again. Kamailio's ha1b (the username with "@domain") is not kept: the
// SIP guard looks users up by username alone.
type DigestHA1 struct {
	// Realm is the digest realm the values are for (Account.DigestRealm).
	Realm string
	// MD5, SHA256 and SHA512256 are the lowercase hex HA1 values.
	MD5, SHA256, SHA512256 secret.String
}

// NewDigestHA1 returns the digests of username's password in realm.
func NewDigestHA1(username, realm string, password secret.String) DigestHA1 {
	h := func(hh hash.Hash) secret.String {
		hh.Write([]byte(username + ":" + realm + ":" + password.Reveal()))
		return secret.String(hex.EncodeToString(hh.Sum(nil)))
	}
	return DigestHA1{Realm: realm, MD5: h(md5.New()), SHA256: h(sha256.New()), SHA512256: h(sha512.New512_256())}
}

// IsZero reports whether no digest is held.
func (h DigestHA1) IsZero() bool { return h.MD5 == "" && h.SHA256 == "" && h.SHA512256 == "" }

// For returns the digest for an algorithm (DigestMD5, DigestSHA256,
// DigestSHA512256; case-insensitively), and false for any other.
func (h DigestHA1) For(algorithm string) (secret.String, bool) {
	switch {
	case strings.EqualFold(algorithm, DigestMD5):
		return h.MD5, h.MD5 != ""
	case strings.EqualFold(algorithm, DigestSHA256):
		return h.SHA256, h.SHA256 != ""
	case strings.EqualFold(algorithm, DigestSHA512256):
		return h.SHA512256, h.SHA512256 != ""
	}
	return "", false
}

// Equal compares two digests in constant time (per value).
func (h DigestHA1) Equal(o DigestHA1) bool {
	eq := subtle.ConstantTimeCompare([]byte(h.MD5), []byte(o.MD5)) &
		subtle.ConstantTimeCompare([]byte(h.SHA256), []byte(o.SHA256)) &
		subtle.ConstantTimeCompare([]byte(h.SHA512256), []byte(o.SHA512256))
	return eq == 1 && h.Realm == o.Realm
}

// valid reports whether every value is a hex digest of the right length.
func (h DigestHA1) valid() bool {
	ok := func(s secret.String, n int) bool {
		v := s.Reveal()
		if len(v) != n {
			return false
		}
		_, err := hex.DecodeString(v)
		return err == nil && strings.ToLower(v) == v
	}
	return ok(h.MD5, 2*md5.Size) && ok(h.SHA256, 2*sha256.Size) && ok(h.SHA512256, 2*sha512.Size256)
}

// HashPasswords replaces the password of every user that has one by its
// digests in realm (NewDigestHA1). Store.CreateAccount and UpdateAccount
// call it; a driver calls it only to migrate passwords it stored in clear
// before.
func (s *SIPAccess) HashPasswords(realm string) {
	for i := range s.Users {
		u := &s.Users[i]
		if u.Password != "" {
			u.HA1 = NewDigestHA1(u.Username, realm, u.Password)
			u.Password = ""
		}
	}
}

// IsZero reports whether s configures nothing (no users, no allowlist, no
// requirement).
func (s SIPAccess) IsZero() bool {
	return len(s.Users) == 0 && len(s.Allowlist) == 0 && !s.RequireTLS && !s.RequireSRTP
}

// User returns the user named username, compared exactly.
func (s *SIPAccess) User(username string) (SIPUser, bool) {
	for _, u := range s.Users {
		if u.Username == username {
			return u, true
		}
	}
	return SIPUser{}, false
}

func (s *SIPAccess) clone() SIPAccess {
	return SIPAccess{Users: slices.Clone(s.Users), Allowlist: slices.Clone(s.Allowlist), RequireTLS: s.RequireTLS, RequireSRTP: s.RequireSRTP}
}

func (s *SIPAccess) normalize() {
	for i := range s.Users {
		s.Users[i].Username = strings.TrimSpace(s.Users[i].Username)
	}
	for i := range s.Allowlist {
		s.Allowlist[i] = strings.TrimSpace(s.Allowlist[i])
	}
	if len(s.Users) == 0 {
		s.Users = nil
	}
	if len(s.Allowlist) == 0 {
		s.Allowlist = nil
	}
}

// equal compares s and o, passwords and digests included (in constant
// time each).
func (s *SIPAccess) equal(o *SIPAccess) bool {
	if !slices.Equal(s.Allowlist, o.Allowlist) || len(s.Users) != len(o.Users) || s.RequireTLS != o.RequireTLS || s.RequireSRTP != o.RequireSRTP {
		return false
	}
	for i := range s.Users {
		a, b := &s.Users[i], &o.Users[i]
		if a.Username != b.Username || !a.Password.Equal(b.Password) || !a.HA1.Equal(b.HA1) {
			return false
		}
	}
	return true
}

// keepSecrets gives every user submitted without a password the stored
// digests of the same username; a user submitted with a password gets no
// digests (they are computed from it), and neither does a new username
// without one (validation then asks for a password). Submitted digests are
// never taken.
func (s *SIPAccess) keepSecrets(stored *SIPAccess) {
	for i := range s.Users {
		u := &s.Users[i]
		u.HA1 = DigestHA1{}
		if old, ok := stored.User(u.Username); ok && u.Password == "" {
			u.HA1 = old.HA1
		}
	}
}

// unchangedPasswords drops the password of every user whose digests in
// realm equal the stored ones of the same username (the same password
// submitted again), so that it counts as no change.
func (s *SIPAccess) unchangedPasswords(stored *SIPAccess, realm string) {
	for i := range s.Users {
		u := &s.Users[i]
		if u.Password == "" {
			continue
		}
		if old, ok := stored.User(u.Username); ok && old.HA1.Realm == realm && NewDigestHA1(u.Username, realm, u.Password).Equal(old.HA1) {
			u.Password, u.HA1 = "", old.HA1
		}
	}
}

func (s *SIPAccess) validate(realm string) []error {
	const e = "account"
	var errs []error
	if len(s.Users) > MaxSIPUsers {
		errs = append(errs, invalid(e, "sip.users", strconv.Itoa(len(s.Users)), "more than "+strconv.Itoa(MaxSIPUsers)+" users"))
	}
	seen := make(map[string]bool, len(s.Users))
	for i, u := range s.Users {
		p := fmt.Sprintf("sip.users[%d]", i)
		if reason := checkSIPUsername(u.Username); reason != "" {
			errs = append(errs, invalid(e, p+".username", u.Username, reason))
		} else if seen[u.Username] {
			errs = append(errs, invalid(e, p+".username", u.Username, "given twice"))
		}
		seen[u.Username] = true
		pw := u.Password.Reveal()
		switch {
		case pw == "" && !u.HA1.IsZero() && u.HA1.Realm != realm:
			errs = append(errs, &FieldError{Entity: e, Field: p + ".password",
				Reason: fmt.Sprintf("user %q: the digest realm changes from %q to %q, and only the digests of %q are stored: give the password again",
					u.Username, u.HA1.Realm, realm, u.HA1.Realm),
				Err: errors.Join(ErrInvalid, ErrPasswordNeeded)})
		case pw == "" && !u.HA1.IsZero():
			if !u.HA1.valid() {
				errs = append(errs, invalid(e, p+".password", "", "the stored digests are damaged: give the password again"))
			}
		case pw == "":
			errs = append(errs, invalid(e, p+".password", "", "required"))
		case !utf8.ValidString(pw) || hasControl(pw):
			errs = append(errs, invalid(e, p+".password", "", "not valid UTF-8 or has a control character"))
		case utf8.RuneCountInString(pw) < MinSIPPasswordLen:
			errs = append(errs, invalid(e, p+".password", "", "at least "+strconv.Itoa(MinSIPPasswordLen)+" characters"))
		case len(pw) > maxSIPPasswordLen:
			errs = append(errs, invalid(e, p+".password", "", "at most "+strconv.Itoa(maxSIPPasswordLen)+" bytes"))
		}
	}
	if len(s.Allowlist) > MaxAllowlistEntries {
		errs = append(errs, invalid(e, "sip.allowlist", strconv.Itoa(len(s.Allowlist)), "more than "+strconv.Itoa(MaxAllowlistEntries)+" entries"))
	}
	for i, a := range s.Allowlist {
		if reason := checkAllowlistShape(a); reason != "" {
			errs = append(errs, invalid(e, fmt.Sprintf("sip.allowlist[%d]", i), a, reason))
		}
	}
	return errs
}

// checkSIPUsername returns why u cannot be a digest username, or "".
func checkSIPUsername(u string) string {
	switch {
	case u == "":
		return "required"
	case len(u) > maxSIPUsernameLen:
		return "longer than " + strconv.Itoa(maxSIPUsernameLen) + " characters"
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0:
		default:
			return "character " + strconv.QuoteRune(rune(c)) + " not allowed in a SIP username (RFC 3261 user part)"
		}
	}
	return ""
}

// checkAllowlistShape returns why entry cannot be an allowlist entry in any
// of package sip's forms, judging by its characters only, or "".
func checkAllowlistShape(entry string) string {
	switch {
	case entry == "":
		return "empty entry"
	case len(entry) > maxAllowlistEntry:
		return "longer than " + strconv.Itoa(maxAllowlistEntry) + " characters"
	}
	for i := 0; i < len(entry); i++ {
		c := entry[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		case c == '.', c == ':', c == '*', c == '/', c == '-':
		default:
			return "character " + strconv.QuoteRune(rune(c)) + " cannot appear in an address, wildcard, prefix or range"
		}
	}
	return ""
}

// The durable encodings of SIPAccess: format 1 (before HA1) held the
// passwords in clear; format 2 holds the digests only.
const (
	storedSIPFormatClear = 1
	storedSIPFormat      = 2
)

type storedSIPUser struct {
	Username string `json:"username"`
	// Password is format 1's clear password (read for migration only).
	Password  string `json:"password,omitempty"`
	Realm     string `json:"realm,omitempty"`
	MD5       string `json:"ha1_md5,omitempty"`
	SHA256    string `json:"ha1_sha256,omitempty"`
	SHA512256 string `json:"ha1_sha512_256,omitempty"`
}

type storedSIPAccess struct {
	Format    *int            `json:"stored_format"`
	Users     []storedSIPUser `json:"users,omitempty"`
	Allowlist []string        `json:"allowlist,omitempty"`
	// RequireTLS and RequireSRTP: absent in data written before them
	// (false).
	RequireTLS  bool `json:"require_tls,omitempty"`
	RequireSRTP bool `json:"require_srtp,omitempty"`
}

// MarshalStored returns the durable encoding of s: JSON with each user's
// digests (DigestHA1) and a "stored_format" marker; never a password. A
// user holding a password (not passed through HashPasswords) or no digests
// is refused (ErrClearPassword). It is meant only for account stores, which
// should seal it too (the digests are password-equivalent in their realm);
// never send it to a client or a log. UnmarshalStored reads it back.
func (s SIPAccess) MarshalStored() ([]byte, error) {
	f := storedSIPFormat
	st := storedSIPAccess{Format: &f, Allowlist: s.Allowlist, RequireTLS: s.RequireTLS, RequireSRTP: s.RequireSRTP}
	for _, u := range s.Users {
		if u.Password != "" || u.HA1.IsZero() {
			return nil, fmt.Errorf("%w: user %q", ErrClearPassword, u.Username)
		}
		st.Users = append(st.Users, storedSIPUser{Username: u.Username, Realm: u.HA1.Realm,
			MD5: u.HA1.MD5.Reveal(), SHA256: u.HA1.SHA256.Reveal(), SHA512256: u.HA1.SHA512256.Reveal()})
	}
	return json.Marshal(st)
}

// UnmarshalStored reads the durable encoding written by MarshalStored into s.
// Data without the stored marker fails with ErrNotStoredForm, so a masked
// show-back form is never taken for real credentials. The first format,
// which held passwords in clear, is read with the passwords in
// SIPUser.Password, for a store to migrate them (HashPasswords) at once.
func (s *SIPAccess) UnmarshalStored(data []byte) error {
	var st storedSIPAccess
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("tenancy: stored SIP access: %w", err)
	}
	if st.Format == nil {
		return ErrNotStoredForm
	}
	if *st.Format != storedSIPFormat && *st.Format != storedSIPFormatClear {
		return fmt.Errorf("tenancy: stored SIP access format %d, this program reads %d", *st.Format, storedSIPFormat)
	}
	out := SIPAccess{Allowlist: st.Allowlist, RequireTLS: st.RequireTLS, RequireSRTP: st.RequireSRTP}
	for _, u := range st.Users {
		su := SIPUser{Username: u.Username}
		if *st.Format == storedSIPFormatClear {
			su.Password = secret.String(u.Password)
			if su.Password == "" {
				return fmt.Errorf("tenancy: stored SIP user %q has no password", u.Username)
			}
		} else {
			su.HA1 = DigestHA1{Realm: u.Realm, MD5: secret.String(u.MD5), SHA256: secret.String(u.SHA256), SHA512256: secret.String(u.SHA512256)}
			if su.HA1.IsZero() {
				return fmt.Errorf("tenancy: stored SIP user %q has no digests", u.Username)
			}
		}
		out.Users = append(out.Users, su)
	}
	out.normalize()
	*s = out
	return nil
}
