package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
)

// platformSMTP is the owner of the platform's SMTP settings.
const platformSMTP = ""

// SMTPTestRequest is the body of POST /smtp/test: settings to test before
// saving them (a masked password is taken from the stored settings when the
// server and username are unchanged), or none to test the stored settings;
// To, when set, also sends a test message there (delivery).
type SMTPTestRequest struct {
	Settings *tenancy.SMTPSettings `json:"settings,omitempty"`
	To       string                `json:"to,omitempty"`
}

// SMTPTestResult is the answer of POST /smtp/test: what the test reached
// (connection, TLS, authentication, delivery) and, when it failed, why (Code:
// dial, tls, insecure, auth, send, protocol, failed) in words that hold no
// password.
type SMTPTestResult struct {
	OK            bool   `json:"ok"`
	TLS           bool   `json:"tls"`
	AuthMechanism string `json:"auth_mechanism,omitempty"`
	Sent          bool   `json:"sent"`
	Code          string `json:"code,omitempty"`
	Error         string `json:"error,omitempty"`
}

var smtpErrorCodes = []struct {
	err  error
	code string
}{
	{tenancy.ErrSMTPDial, "dial"},
	{tenancy.ErrSMTPTLS, "tls"},
	{tenancy.ErrSMTPInsecure, "insecure"},
	{tenancy.ErrSMTPAuth, "auth"},
	{tenancy.ErrSMTPSend, "send"},
	{tenancy.ErrSMTPProtocol, "protocol"},
}

// storedSMTP returns the platform's settings, or the zero settings at
// revision 0 when none were saved.
func (rc *reqCtx) storedSMTP() (*SMTPConfig, bool) {
	c, err := rc.h.cfg.Store.SMTP(rc.ctx, platformSMTP)
	if errors.Is(err, ErrNotFound) {
		return &SMTPConfig{}, true
	}
	if err != nil {
		rc.fromError(err, nil)
		return nil, false
	}
	return c, true
}

func (h *Handler) getSMTP(rc *reqCtx) {
	if !rc.authorize(rc.reachable(rbac.Target{}), rbac.Target{}, "SMTP settings") {
		return
	}
	if c, ok := rc.storedSMTP(); ok {
		rc.respond(http.StatusOK, c.Revision, c)
	}
}

func (h *Handler) putSMTP(rc *reqCtx) {
	if !rc.authorize(rc.reachable(rbac.Target{}), rbac.Target{}, "SMTP settings") {
		return
	}
	cur, ok := rc.storedSMTP()
	if !ok {
		return
	}
	sent, ok := rc.precondition(cur.Revision)
	if !ok {
		return
	}
	body, ok := rc.readBody(false)
	if !ok {
		return
	}
	var next SMTPConfig
	if !rc.decodeStrict(body, &next) {
		return
	}
	next.Revision = cur.Revision
	saved, err := h.cfg.Store.PutSMTP(rc.ctx, platformSMTP, &next)
	if errors.Is(err, ErrConflict) {
		rc.conflict(sent, err)
		return
	}
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	var before any
	if cur.Revision > 0 {
		before = cur
	}
	rc.record(Change{Resource: ResourceSMTP, Op: OpUpdate, ID: "platform", Revision: saved.Revision}, "smtp.update", before, saved)
	rc.respond(http.StatusOK, saved.Revision, saved)
}

func (h *Handler) testSMTP(rc *reqCtx) {
	if !rc.authorize(rc.reachable(rbac.Target{}), rbac.Target{}, "SMTP settings") {
		return
	}
	body, ok := rc.readBody(true)
	if !ok {
		return
	}
	var req SMTPTestRequest
	if body != nil && !rc.decodeStrict(body, &req) {
		return
	}
	cur, ok := rc.storedSMTP()
	if !ok {
		return
	}
	var s tenancy.SMTPSettings
	switch {
	case req.Settings != nil:
		s = *req.Settings
		if err := keepSMTPPassword(&cur.SMTPSettings, &s); err != nil {
			rc.fromError(err, stripper("smtp.", ""))
			return
		}
	case cur.Revision == 0:
		rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "no SMTP settings are saved",
			FieldProblem{Field: "settings", Detail: "send the settings to test, or save them first"}), nil)
		return
	default:
		s = cur.SMTPSettings
	}
	if err := s.Validate(); err != nil {
		rc.fromError(err, func(f string) string { return "settings." + f })
		return
	}
	var opts tenancy.SMTPTestOptions
	if h.cfg.SMTPTestOptions != nil {
		opts = *h.cfg.SMTPTestOptions
	}
	opts.To = req.To
	ctx, cancel := context.WithTimeout(rc.ctx, 60*time.Second)
	defer cancel()
	res, err := s.Test(ctx, &opts)
	out := SMTPTestResult{OK: err == nil, TLS: res.TLS, AuthMechanism: res.AuthMechanism, Sent: res.Sent}
	if err != nil {
		out.Code, out.Error = "failed", err.Error()
		for _, c := range smtpErrorCodes {
			if errors.Is(err, c.err) {
				out.Code = c.code
				break
			}
		}
	}
	rc.respond(http.StatusOK, 0, out)
}

// keepSMTPPassword gives submitted the stored password when it is submitted
// masked or empty, only while the server and username are unchanged: a
// stored password is never sent to a server it was not entered for.
func keepSMTPPassword(stored, submitted *tenancy.SMTPSettings) error {
	kept := stored.Password.Keep(submitted.Password)
	if kept.Equal(submitted.Password) || submitted.Username == "" {
		return nil
	}
	if submitted.Host != stored.Host || submitted.EffectivePort() != stored.EffectivePort() || submitted.Username != stored.Username || submitted.Secure != stored.Secure {
		return &tenancy.FieldError{Entity: "smtp", Field: "password", Reason: "retype the password: the server or username changed", Err: tenancy.ErrInvalid}
	}
	submitted.Password = kept
	return nil
}

// Audit.

func (h *Handler) listAudit(rc *reqCtx) {
	q := rc.r.URL.Query()
	aq := AuditQuery{Resource: q.Get("resource")}
	var target rbac.Target
	if q.Get("account_sid") != "" || q.Get("service_provider") != "" || rc.p.Scope != rbac.ScopeAdmin {
		o, ok := rc.resolveOwner(0, q.Get("service_provider"), q.Get("account_sid"), true)
		if !ok {
			return
		}
		target, aq.Account, aq.ServiceProvider = o.target, o.sid, o.sp
	}
	if !rc.authorize(rc.reachable(target), target, "owner") {
		return
	}
	var ok bool
	if aq.Since, ok = rc.timeParam("since"); !ok {
		return
	}
	if aq.Until, ok = rc.timeParam("until"); !ok {
		return
	}
	size := h.cfg.DefaultPageSize
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > h.cfg.MaxPageSize {
			rc.badRequest("invalid query parameter", FieldProblem{Field: "page_size", Value: s, Detail: "want a number from 1 to " + strconv.Itoa(h.cfg.MaxPageSize)})
			return
		}
		size = n
	}
	if tok := q.Get("page_token"); tok != "" {
		b, err := b64.DecodeString(tok)
		id, err2 := strconv.ParseInt(string(b), 10, 64)
		if err != nil || err2 != nil || id <= 0 {
			rc.badRequest("invalid query parameter", FieldProblem{Field: "page_token", Detail: "not a token returned as next_page_token"})
			return
		}
		aq.BeforeID = id
	}
	aq.Limit = size + 1
	recs, err := h.cfg.Store.Audit(rc.ctx, aq)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	out := List[*AuditRecord]{Items: recs}
	if len(recs) > size {
		out.Items = recs[:size]
		out.NextPageToken = b64.EncodeToString([]byte(strconv.FormatInt(recs[size-1].ID, 10)))
	}
	if out.Items == nil {
		out.Items = []*AuditRecord{}
	}
	rc.respond(http.StatusOK, 0, out)
}
