package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// SMTP settings (seed 002 "SMTP") with "Test Settings": the API's test
// connects, secures, authenticates and optionally sends a message.

type smtpView struct {
	Settings tenancy.SMTPSettings
	Revision int64
	Port     string
	To       string
	CanEdit  bool
	Test     *admin.SMTPTestResult
}

func (c *Console) smtp(q *req) {
	s, err := c.adminClient().SMTP(q.ctx)
	if err != nil {
		q.apiFailed("message", "SMTP", "smtp", messageView{Heading: "SMTP"}, err)
		return
	}
	c.renderSMTP(q, http.StatusOK, smtpView{Settings: s.SMTPSettings, Revision: s.Revision}, nil)
}

func (c *Console) renderSMTP(q *req, status int, v smtpView, p *problemView) {
	v.CanEdit = q.may(rbac.EntityOrganization, rbac.ActionUpdate)
	if v.Port == "" && v.Settings.Port != 0 {
		v.Port = strconv.Itoa(v.Settings.Port)
	}
	q.page(status, "smtp", "SMTP", "smtp", v, p)
}

// smtpFromForm reads the form; an empty password keeps the stored one.
func smtpFromForm(f url.Values, stored tenancy.SMTPSettings) (tenancy.SMTPSettings, string) {
	port := strings.TrimSpace(f.Get("port"))
	n, _ := strconv.Atoi(port)
	s := tenancy.SMTPSettings{
		Host: strings.TrimSpace(f.Get("host")), Port: n, Secure: f.Get("secure") != "", SkipCertificateCheck: f.Get("skip_certificate_check") != "",
		Username: strings.TrimSpace(f.Get("username")), Password: secret.String(f.Get("password")),
		MailFrom: strings.TrimSpace(f.Get("mail_from")), NotificationBCC: strings.TrimSpace(f.Get("notification_bcc")),
		SupportEmail: strings.TrimSpace(f.Get("support_email")),
	}
	if s.Password == "" {
		s.Password = stored.Password // the masked value: the API keeps the stored password
	}
	return s, port
}

func (c *Console) saveSMTP(q *req) {
	cl := c.adminClient()
	cur, err := cl.SMTP(q.ctx)
	if err != nil {
		q.apiFailed("message", "SMTP", "smtp", messageView{Heading: "SMTP"}, err)
		return
	}
	s, port := smtpFromForm(q.r.PostForm, cur.SMTPSettings)
	rev, _ := strconv.ParseInt(q.r.PostForm.Get("revision"), 10, 64)
	if _, err := cl.SetSMTP(q.ctx, s, rev); err != nil {
		c.renderSMTP(q, http.StatusOK, smtpView{Settings: s, Revision: cur.Revision, Port: port}, problemOf(err))
		return
	}
	q.done(c.prefix+"smtp", &flash{OK: true, Text: "SMTP settings saved."})
}

func (c *Console) testSMTP(q *req) {
	cl := c.adminClient()
	cur, err := cl.SMTP(q.ctx)
	if err != nil {
		q.apiFailed("message", "SMTP", "smtp", messageView{Heading: "SMTP"}, err)
		return
	}
	s, port := smtpFromForm(q.r.PostForm, cur.SMTPSettings)
	to := strings.TrimSpace(q.r.PostForm.Get("to"))
	res, err := cl.TestSMTP(q.ctx, admin.SMTPTestRequest{Settings: &s, To: to})
	v := smtpView{Settings: s, Revision: cur.Revision, Port: port, To: to, Test: res}
	if err != nil {
		c.renderSMTP(q, http.StatusOK, v, problemOf(err))
		return
	}
	c.renderSMTP(q, http.StatusOK, v, nil)
}
