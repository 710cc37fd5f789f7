package tenancy

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

var b64 = base64.RawURLEncoding

func itoa(n int) string { return strconv.Itoa(n) }

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// checkName checks a display name: non-empty, valid UTF-8, no control
// characters, at most maxNameLen bytes.
func checkName(entity, field, v string) *FieldError {
	switch {
	case v == "":
		return invalid(entity, field, v, "required")
	case !utf8.ValidString(v):
		return invalid(entity, field, v, "not valid UTF-8")
	case len(v) > maxNameLen:
		return invalid(entity, field, v[:maxNameLen]+"…", "longer than 128 bytes")
	case hasControl(v):
		return invalid(entity, field, v, "contains a control character")
	}
	return nil
}

// checkDomain returns why d is not a valid DNS domain name for a SIP realm
// (RFC 1035 §2.3.1 as relaxed by RFC 1123 §2.1: letters, digits and hyphens,
// labels of 1 to 63 characters not starting or ending with a hyphen, at least
// two labels, a top-level label that is not all digits), or "".
func checkDomain(d string) string {
	if len(d) > 253 {
		return "longer than 253 characters"
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "not a domain name (needs at least two labels, like sip.example.com)"
	}
	for i, l := range labels {
		if l == "" {
			return "empty label"
		}
		if len(l) > 63 {
			return "label longer than 63 characters"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "label starts or ends with a hyphen"
		}
		digits := true
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
				digits = false
			case '0' <= c && c <= '9':
			case c == '-':
				digits = false
			default:
				return "character " + strconv.QuoteRune(rune(c)) + " not allowed in a domain name"
			}
		}
		if i == len(labels)-1 && digits {
			return "not a domain name (all-numeric top-level label; an IP address is not a realm)"
		}
	}
	return ""
}

// checkWebhookURL returns why u is not an absolute http(s) URL, or "".
func checkWebhookURL(u string) string {
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return "not a URL"
	case p.Scheme != "http" && p.Scheme != "https":
		return "scheme must be http or https"
	case p.Host == "" || p.Hostname() == "":
		return "no host"
	case p.Fragment != "":
		return "must not have a fragment"
	}
	return ""
}
