package tenancy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
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

// ErrNotStoredForm is returned by SIPAccess.UnmarshalStored for data that
// is not the durable encoding (for example the JSON show-back form, whose
// passwords are masked).
var ErrNotStoredForm = errors.New("tenancy: not a stored SIP access configuration (its passwords may be masked)")

// SIPAccess is how an account's SIP peers are let in (seed 002 "SIP": IP
// whitelist, SIP username and password): the source addresses allowed, and
// the users whose digest credentials (RFC 3261 §22, RFC 7616) are accepted.
// A SIP server (package sip's Guard, wired by the gateway) checks the
// allowlist first (403 outside it), then the digest.
//
// Passwords are held in Secret: redacted when printed, masked in JSON.
// Stores keep them through MarshalStored, which writes them in plain form,
// since a digest server needs the password (or an HA1 derived from it).
type SIPAccess struct {
	// Users are the SIP users of the account; usernames are unique.
	// Empty: nobody authenticates by digest.
	Users []SIPUser `json:"users,omitempty"`
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
	Allowlist []string `json:"allowlist,omitempty"`
}

// SIPUser is one set of SIP digest credentials of an account.
type SIPUser struct {
	// Username is the digest username: 1 to 64 characters of the SIP URI
	// user part (RFC 3261 §25.1: letters, digits and -_.!~*'()&=+$,;?/),
	// unique in the account.
	Username string `json:"username"`
	// Password is the digest password: 8 to 256 characters, no control
	// characters. Masked when marshalled; an update that submits it masked
	// or empty keeps the stored password of the same username.
	Password Secret `json:"password"`
}

// IsZero reports whether s configures nothing (no users, no allowlist).
func (s SIPAccess) IsZero() bool { return len(s.Users) == 0 && len(s.Allowlist) == 0 }

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
	return SIPAccess{Users: slices.Clone(s.Users), Allowlist: slices.Clone(s.Allowlist)}
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

// equal compares s and o, passwords included (in constant time each).
func (s *SIPAccess) equal(o *SIPAccess) bool {
	if !slices.Equal(s.Allowlist, o.Allowlist) || len(s.Users) != len(o.Users) {
		return false
	}
	for i := range s.Users {
		if s.Users[i].Username != o.Users[i].Username || !s.Users[i].Password.Equal(o.Users[i].Password) {
			return false
		}
	}
	return true
}

// keepSecrets gives every user submitted with a masked or empty password the
// stored password of the same username (Secret.Keep). A new username gets
// no stored password; validation then asks for one.
func (s *SIPAccess) keepSecrets(stored *SIPAccess) {
	for i := range s.Users {
		if old, ok := stored.User(s.Users[i].Username); ok {
			s.Users[i].Password = old.Password.Keep(s.Users[i].Password)
		}
	}
}

func (s *SIPAccess) validate() []error {
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

// storedSIPFormat versions the durable encoding of SIPAccess.
const storedSIPFormat = 1

type storedSIPUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type storedSIPAccess struct {
	Format    *int            `json:"stored_format"`
	Users     []storedSIPUser `json:"users,omitempty"`
	Allowlist []string        `json:"allowlist,omitempty"`
}

// MarshalStored returns the durable encoding of s: JSON with the passwords
// in plain form and a "stored_format" marker. It is meant only for account
// stores; never send it to a client or a log. UnmarshalStored reads it back.
func (s SIPAccess) MarshalStored() ([]byte, error) {
	f := storedSIPFormat
	st := storedSIPAccess{Format: &f, Allowlist: s.Allowlist}
	for _, u := range s.Users {
		st.Users = append(st.Users, storedSIPUser{Username: u.Username, Password: u.Password.Reveal()})
	}
	return json.Marshal(st)
}

// UnmarshalStored reads the durable encoding written by MarshalStored into s.
// Data without the stored marker fails with ErrNotStoredForm, so a masked
// show-back form is never taken for real passwords.
func (s *SIPAccess) UnmarshalStored(data []byte) error {
	var st storedSIPAccess
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("tenancy: stored SIP access: %w", err)
	}
	if st.Format == nil {
		return ErrNotStoredForm
	}
	if *st.Format != storedSIPFormat {
		return fmt.Errorf("tenancy: stored SIP access format %d, this program reads %d", *st.Format, storedSIPFormat)
	}
	out := SIPAccess{Allowlist: st.Allowlist}
	for _, u := range st.Users {
		out.Users = append(out.Users, SIPUser{Username: u.Username, Password: Secret(u.Password)})
	}
	out.normalize()
	*s = out
	return nil
}
