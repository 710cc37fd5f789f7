// Package redact keeps the secrets a URL may carry out of logs and errors:
// webhook URLs often hold a password (https://user:pass@host) or a token in
// the query (https://host/hook?token=…).
package redact

import (
	"errors"
	"net/url"
	"strings"
)

// URL returns raw with its user information dropped, its query replaced by
// "REDACTED" and its fragment dropped. A value that does not parse as a URL
// is not echoed at all. One that parses as an opaque URL — no "//" after
// the scheme, as in "https:user:pass@host" or "user:token@collector:4318",
// where url.Parse takes what precedes the first colon for the scheme and
// keeps the rest, credentials included, as it is — or that has an '@'
// url.Parse did not read as the end of user information ("http:/u:p@host",
// a password beginning with '/'), is shown without everything up to and
// including its last '@' and from its first '?' or '#' on.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.Opaque != "" || (u.User == nil && strings.Contains(beforeQuery(raw), "@")) {
		// an '@' that url.Parse did not take for the end of user
		// information ("http:/user:pass@host", "///u:p@host", a password
		// starting with '/'): it may be one all the same
		return Opaque(raw)
	}
	u.User = nil
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery = "REDACTED"
		u.ForceQuery = false
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// Error returns err with every mention of raw replaced by URL(raw), keeping
// err matchable: net/http wraps failures in a *url.Error quoting the URL
// (with only its password masked), and the result still unwraps to the
// original cause, minus that *url.Error whose fields would hold the URL.
func Error(err error, raw string) error {
	if err == nil {
		return err
	}
	msg := err.Error()
	quoted := []string{raw}
	var ue *url.Error
	if errors.As(err, &ue) {
		quoted = append(quoted, ue.URL)
	}
	changed := false
	for _, q := range quoted {
		if q != "" && strings.Contains(msg, q) {
			msg = strings.ReplaceAll(msg, q, URL(q))
			changed = true
		}
	}
	if !changed {
		return err
	}
	cause := err
	if ue != nil && ue == err {
		cause = ue.Err
	}
	return &redacted{msg: msg, err: cause}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// beforeQuery is raw up to its first '?' or '#'.
func beforeQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}

// Opaque returns raw, a value that may hold credentials without being a
// URL with an authority, without everything up to and including its last
// '@' and from its first '?' or '#' on: "user:token@collector:4318/x?k=v"
// gives "collector:4318/x".
func Opaque(raw string) string {
	if i := strings.LastIndexByte(raw, '@'); i >= 0 {
		raw = raw[i+1:]
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	return raw
}
