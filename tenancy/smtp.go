package tenancy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/voicegw/voicegw/rbac/secret"
)

// Errors of SMTPSettings.Test; match them with errors.Is.
var (
	// ErrSMTPDial: the server could not be reached.
	ErrSMTPDial = errors.New("tenancy: SMTP server unreachable")
	// ErrSMTPTLS: the TLS handshake failed (certificate not trusted,
	// protocol mismatch).
	ErrSMTPTLS = errors.New("tenancy: SMTP TLS failed")
	// ErrSMTPInsecure: credentials are configured but the connection is
	// not encrypted (no Secure connection and no STARTTLS offered); the
	// password is never sent in clear.
	ErrSMTPInsecure = errors.New("tenancy: SMTP connection not encrypted")
	// ErrSMTPAuth: the server refused the credentials, or offers no
	// mechanism this package speaks (PLAIN, LOGIN).
	ErrSMTPAuth = errors.New("tenancy: SMTP authentication failed")
	// ErrSMTPSend: the server refused the test message.
	ErrSMTPSend = errors.New("tenancy: SMTP test message refused")
	// ErrSMTPProtocol: the server said something unexpected.
	ErrSMTPProtocol = errors.New("tenancy: SMTP protocol error")
)

// SMTPSettings are the outgoing mail settings of the platform (seed 002
// "SMTP"): invitations, password resets, MFA codes, billing alerts and
// notifications are sent with them.
type SMTPSettings struct {
	// Host is the outgoing mail server's host name or IP address. Required.
	Host string `json:"host"`
	// Port is the server's port. 0 means 465 when Secure, 587 otherwise.
	Port int `json:"port"`
	// Secure connects with TLS from the first byte (SMTPS, RFC 8314 §3.3),
	// usually port 465. Otherwise the connection is upgraded with STARTTLS
	// (RFC 3207) when the server offers it, usually port 587.
	Secure bool `json:"secure"`
	// SkipCertificateCheck disables verification of the server's TLS
	// certificate ("Disable TLS Certificate Validation"). Default false.
	SkipCertificateCheck bool `json:"skip_certificate_check"`
	// Username authenticates with the server (AUTH PLAIN or LOGIN, RFC 4954);
	// "" for a server that needs no authentication.
	Username string `json:"username,omitempty"`
	// Password goes with Username; masked when marshalled.
	Password secret.String `json:"password,omitempty"`
	// MailFrom is the sender address: "noreply@example.com" or
	// "Example <noreply@example.com>" (RFC 5322 mailbox). Required.
	MailFrom string `json:"mail_from"`
	// NotificationBCC optionally receives a copy of every notification.
	NotificationBCC string `json:"notification_bcc,omitempty"`
	// SupportEmail is shown in messages for support requests. Optional.
	SupportEmail string `json:"support_email,omitempty"`
}

// EffectivePort returns Port, or its default (465 with Secure, 587 without).
func (s *SMTPSettings) EffectivePort() int {
	switch {
	case s.Port != 0:
		return s.Port
	case s.Secure:
		return 465
	}
	return 587
}

// Validate checks the settings and returns one FieldError per field at fault.
func (s *SMTPSettings) Validate() error {
	const e = "smtp"
	var errs []error
	switch h := s.Host; {
	case h == "":
		errs = append(errs, invalid(e, "host", h, "required"))
	case net.ParseIP(h) == nil && checkHostname(h) != "":
		errs = append(errs, invalid(e, "host", h, checkHostname(h)))
	}
	if s.Port < 0 || s.Port > 65535 {
		errs = append(errs, invalid(e, "port", strconv.Itoa(s.Port), "must be between 1 and 65535 (0 for the default)"))
	}
	switch {
	case s.Username == "" && !s.Password.IsZero():
		errs = append(errs, invalid(e, "username", "", "required with a password"))
	case s.Username != "" && s.Password.IsZero():
		errs = append(errs, invalid(e, "password", "", "required with a username"))
	case hasControl(s.Username) || len(s.Username) > 256:
		errs = append(errs, invalid(e, "username", s.Username, "at most 256 bytes, no control characters"))
	}
	if s.MailFrom == "" {
		errs = append(errs, invalid(e, "mail_from", "", "required"))
	} else if reason := checkMailbox(s.MailFrom); reason != "" {
		errs = append(errs, invalid(e, "mail_from", s.MailFrom, reason))
	}
	for _, f := range []struct{ name, v string }{{"notification_bcc", s.NotificationBCC}, {"support_email", s.SupportEmail}} {
		if f.v != "" {
			if reason := checkMailbox(f.v); reason != "" {
				errs = append(errs, invalid(e, f.name, f.v, reason))
			}
		}
	}
	return joinErrs(errs)
}

// checkMailbox returns why v is not one RFC 5322 mailbox with a domain, or "".
func checkMailbox(v string) string {
	a, err := mail.ParseAddress(v)
	if err != nil {
		return "not an email address (want name@example.com or \"Name <name@example.com>\")"
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return "not an email address (no domain)"
	}
	return ""
}

// checkHostname accepts a DNS host name, single labels included (an SMTP
// host may be "localhost" or "mail").
func checkHostname(h string) string {
	if len(h) > 253 {
		return "longer than 253 characters"
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "not a host name or IP address"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return "not a host name or IP address"
			}
		}
	}
	return ""
}

// SMTPTestOptions tunes SMTPSettings.Test. The zero value (or nil) works.
type SMTPTestOptions struct {
	// To, when set, makes Test also send a short test message to this
	// address (checking "email delivery configuration"); otherwise Test
	// stops after authenticating.
	To string
	// Timeout bounds the whole test when ctx has no earlier deadline.
	// Default: 15 seconds.
	Timeout time.Duration
	// RootCAs verifies the server's certificate. Default: the system roots.
	RootCAs *x509.CertPool
	// HelloName is the name sent in EHLO. Default: "localhost".
	HelloName string
	// Logger receives one debug record per step. Default: discard.
	Logger *slog.Logger
}

// SMTPTestResult says what Test found out.
type SMTPTestResult struct {
	// TLS is true when the session was encrypted (Secure or STARTTLS).
	TLS bool
	// AuthMechanism is the SASL mechanism used ("PLAIN", "LOGIN"), or ""
	// without credentials.
	AuthMechanism string
	// Sent is true when a test message was accepted (SMTPTestOptions.To).
	Sent bool
}

// Test dials the server, says EHLO, secures the connection (TLS from the
// start with Secure, STARTTLS otherwise when offered), authenticates with the
// username and password, optionally sends a test message, and quits. Errors
// wrap ErrSMTPDial, ErrSMTPTLS, ErrSMTPInsecure, ErrSMTPAuth, ErrSMTPSend or
// ErrSMTPProtocol and never contain the password.
func (s *SMTPSettings) Test(ctx context.Context, opts *SMTPTestOptions) (SMTPTestResult, error) {
	var res SMTPTestResult
	var o SMTPTestOptions
	if opts != nil {
		o = *opts
	}
	if err := s.Validate(); err != nil {
		return res, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.HelloName == "" {
		o.HelloName = "localhost"
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.EffectivePort()))
	tlsConf := &tls.Config{ServerName: s.Host, InsecureSkipVerify: s.SkipCertificateCheck, RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}

	var conn net.Conn
	var err error
	if s.Secure {
		conn, err = (&tls.Dialer{Config: tlsConf}).DialContext(ctx, "tcp", addr)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) || isDialError(err) {
				return res, fmt.Errorf("%w: %s: %w", ErrSMTPDial, addr, err)
			}
			return res, fmt.Errorf("%w: %s: %w", ErrSMTPTLS, addr, err)
		}
		res.TLS = true
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return res, fmt.Errorf("%w: %s: %w", ErrSMTPDial, addr, err)
		}
	}
	defer conn.Close()
	// The SMTP client has no context: bound every exchange by the deadline
	// and close the connection if ctx ends first.
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		return res, fmt.Errorf("%w: %s: greeting: %w", ErrSMTPProtocol, addr, err)
	}
	defer c.Close()
	if err := c.Hello(o.HelloName); err != nil {
		return res, fmt.Errorf("%w: %s: EHLO: %w", ErrSMTPProtocol, addr, err)
	}
	log.DebugContext(ctx, "tenancy: SMTP connected", "addr", addr, "secure", s.Secure)
	if !s.Secure {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConf); err != nil {
				return res, fmt.Errorf("%w: %s: STARTTLS: %w", ErrSMTPTLS, addr, err)
			}
			res.TLS = true
		}
	}
	if s.Username != "" {
		if !res.TLS {
			return res, fmt.Errorf("%w: %s offers no STARTTLS and Secure is off: refusing to send the password in clear", ErrSMTPInsecure, addr)
		}
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return res, fmt.Errorf("%w: %s does not offer AUTH", ErrSMTPAuth, addr)
		}
		var a smtp.Auth
		switch {
		case hasMechanism(mechs, "PLAIN"):
			a, res.AuthMechanism = &plainAuth{user: s.Username, pass: s.Password}, "PLAIN"
		case hasMechanism(mechs, "LOGIN"):
			a, res.AuthMechanism = &loginAuth{user: s.Username, pass: s.Password}, "LOGIN"
		default:
			return res, fmt.Errorf("%w: %s offers AUTH %s; supported: PLAIN, LOGIN", ErrSMTPAuth, addr, mechs)
		}
		if err := c.Auth(a); err != nil {
			return res, fmt.Errorf("%w: %s: AUTH %s as %q: %w", ErrSMTPAuth, addr, res.AuthMechanism, s.Username, err)
		}
		log.DebugContext(ctx, "tenancy: SMTP authenticated", "addr", addr, "mechanism", res.AuthMechanism)
	}
	if o.To != "" {
		if err := s.sendTest(c, o.To); err != nil {
			return res, fmt.Errorf("%w: %s: %w", ErrSMTPSend, addr, err)
		}
		res.Sent = true
	}
	if err := c.Quit(); err != nil {
		return res, fmt.Errorf("%w: %s: QUIT: %w", ErrSMTPProtocol, addr, err)
	}
	return res, nil
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func hasMechanism(list, m string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, m) {
			return true
		}
	}
	return false
}

func (s *SMTPSettings) sendTest(c *smtp.Client, to string) error {
	from, err := mail.ParseAddress(s.MailFrom)
	if err != nil {
		return err
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("test recipient %q: %w", to, err)
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	msg := "From: " + from.String() + "\r\n" +
		"To: " + rcpt.String() + "\r\n" +
		"Subject: voicegw SMTP settings test\r\n" +
		"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + rand.Text() + "@" + domain + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"This message tests the SMTP settings of a voicegw gateway.\r\n"
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return nil
}

// plainAuth is SASL PLAIN (RFC 4616). Test only uses it on an encrypted
// connection.
type plainAuth struct {
	user string
	pass secret.String
}

// Start implements smtp.Auth: the initial response carries the credentials.
func (a *plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass.Reveal()), nil
}

// Next implements smtp.Auth; PLAIN expects no challenge.
func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge after AUTH PLAIN")
	}
	return nil, nil
}

// loginAuth is the LOGIN mechanism (draft-murchison-sasl-login): the server
// prompts "Username:" then "Password:".
type loginAuth struct {
	user string
	pass secret.String
	step int
}

// Start implements smtp.Auth.
func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	a.step = 0
	return "LOGIN", nil, nil
}

// Next implements smtp.Auth: the username, then the password.
func (a *loginAuth) Next(challenge []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	p := strings.ToLower(strings.TrimSpace(string(challenge)))
	switch {
	case strings.HasPrefix(p, "user") || (a.step == 1 && !strings.HasPrefix(p, "pass")):
		return []byte(a.user), nil
	case strings.HasPrefix(p, "pass") || a.step == 2:
		return []byte(a.pass.Reveal()), nil
	}
	return nil, errors.New("unexpected AUTH LOGIN challenge")
}
