package admin

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

// CreatedAccount is the answer to creating an account: the account, with
// its webhook secret in plain form this once (every later read masks it).
type CreatedAccount struct {
	tenancy.Account
	WebhookSecret string `json:"webhook_secret"`
}

// RotatedSecret is the answer to rotating an account's webhook secret: the
// new secret in plain form (shown this once), and until when webhooks are
// also signed with the previous one.
type RotatedSecret struct {
	WebhookSecret              string    `json:"webhook_secret"`
	PreviousWebhookSecretUntil time.Time `json:"previous_webhook_secret_until"`
	Revision                   int64     `json:"revision"`
}

// RecordingSettings is an account's call recording configuration as the
// .../recording resource shows it (secrets masked), with the account's
// revision (its ETag).
type RecordingSettings struct {
	tenancy.RecordingConfig
	Revision int64 `json:"revision"`
}

// SIPSettings is an account's SIP access (users with masked passwords, IP
// allowlist) as the .../sip resource shows it, with the account's revision.
type SIPSettings struct {
	tenancy.SIPAccess
	Revision int64 `json:"revision"`
}

// CallAttachedData is an account's call attached data fields as the
// .../call-attached-data resource shows them, with the account's revision.
type CallAttachedData struct {
	Fields   []tenancy.CADField `json:"fields"`
	Revision int64              `json:"revision"`
}

// accountReadOnly are the account members a PATCH cannot change (ignored).
var accountReadOnly = []string{"sid", "revision", "created_at", "updated_at", "previous_webhook_secret", "previous_webhook_secret_until"}

// accountFieldRules are seed 000's per-field scopes: rbac's (unit, maximum,
// licensed sessions: Admin) and the account's service provider, which only
// an Admin may change (a service provider moving its account elsewhere would
// leave its reach).
func accountFieldRules() rbac.FieldRules {
	r := rbac.AccountFieldRules()
	r[tenancy.FieldServiceProvider] = rbac.ScopeAdmin
	return r
}

func acctTarget(a *tenancy.Account) rbac.Target {
	return rbac.Target{ServiceProvider: a.ServiceProvider, Account: string(a.SID)}
}

// loadAccount reads the account of the path's {sid}; 404 when it is missing
// or outside the caller's reach.
func (rc *reqCtx) loadAccount() (*tenancy.Account, bool) {
	sid, err := tenancy.ParseSID(rc.params["sid"])
	if err != nil {
		rc.notFound("account")
		return nil, false
	}
	a, err := rc.h.cfg.Tenants.Account(rc.ctx, sid)
	if err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			rc.notFound("account")
		} else {
			rc.fromError(err, nil)
		}
		return nil, false
	}
	if !rbac.Reaches(rc.p, acctTarget(a)) {
		rc.notFound("account")
		return nil, false
	}
	return a, true
}

// providerExists reports whether the service provider id exists and is
// within the caller's reach (existence is not revealed otherwise).
func (rc *reqCtx) providerExists(id string) (bool, error) {
	if !rbac.Reaches(rc.p, rbac.Target{ServiceProvider: id}) {
		return false, nil
	}
	_, err := rc.h.cfg.Store.Provider(rc.ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (h *Handler) listAccounts(rc *reqCtx) {
	sp := rc.r.URL.Query().Get("service_provider")
	var candidates []*tenancy.Account
	var target rbac.Target
	var err error
	switch rc.p.Scope {
	case rbac.ScopeAdmin:
		target = rbac.Target{ServiceProvider: sp}
		candidates, err = h.cfg.Tenants.Accounts(rc.ctx, sp)
	case rbac.ScopeServiceProvider:
		if sp != "" && sp != rc.p.ServiceProvider {
			rc.notFound("service provider")
			return
		}
		target = rbac.Target{ServiceProvider: rc.p.ServiceProvider}
		candidates, err = h.cfg.Tenants.Accounts(rc.ctx, rc.p.ServiceProvider)
	default:
		var a *tenancy.Account
		a, err = h.cfg.Tenants.Account(rc.ctx, tenancy.SID(rc.p.Account))
		if errors.Is(err, tenancy.ErrNotFound) {
			err = nil
		}
		target = rbac.Target{ServiceProvider: rc.p.ServiceProvider, Account: rc.p.Account}
		if a != nil {
			target.ServiceProvider = a.ServiceProvider
			if sp == "" || sp == a.ServiceProvider {
				candidates = []*tenancy.Account{a}
			}
		}
	}
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	if !rc.authorize(rc.reachable(target), target, "service provider") {
		return
	}
	var visible []*tenancy.Account
	for _, a := range candidates {
		if rc.allowed(rbac.EntitySubOrganization, rbac.ActionRead, acctTarget(a)) {
			visible = append(visible, a)
		}
	}
	list, ok := page(rc, visible, func(a *tenancy.Account) string { return a.Name + "\x00" + string(a.SID) })
	if ok {
		rc.respond(http.StatusOK, 0, list)
	}
}

// reachable returns t when the caller reaches it, or the caller's own
// target: for lists, whose target the caller chose itself, refusal is 403
// (the caller knows its own tenant exists), not 404.
func (rc *reqCtx) reachable(t rbac.Target) rbac.Target {
	if rbac.Reaches(rc.p, t) {
		return t
	}
	return rbac.Target{ServiceProvider: rc.p.ServiceProvider, Account: rc.p.Account}
}

func (h *Handler) createAccount(rc *reqCtx) {
	body, ok := rc.readBody(false)
	if !ok {
		return
	}
	var a tenancy.Account
	if !rc.decodeStrict(body, &a) {
		return
	}
	a.SID, a.Revision, a.CreatedAt, a.UpdatedAt = "", 0, time.Time{}, time.Time{}
	a.PreviousWebhookSecret, a.PreviousWebhookSecretUntil = "", time.Time{}
	a.ServiceProvider = strings.TrimSpace(a.ServiceProvider)
	if a.ServiceProvider == "" && rc.p.Scope == rbac.ScopeServiceProvider {
		a.ServiceProvider = rc.p.ServiceProvider
	}
	target := rbac.Target{ServiceProvider: a.ServiceProvider}
	if a.ServiceProvider != "" && rc.p.Scope != rbac.ScopeAccount {
		found, err := rc.providerExists(a.ServiceProvider)
		if err != nil {
			rc.fromError(err, nil)
			return
		}
		if !found {
			rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "the request has invalid fields",
				FieldProblem{Field: "service_provider", Value: a.ServiceProvider, Detail: "no such service provider"}), nil)
			return
		}
	}
	if !rc.authorize(rc.reachable(target), target, "service provider") {
		return
	}
	a.Normalize()
	if _, ok := rc.checkAccountChange(nil, &a, rbac.ActionCreate, nil); !ok {
		return
	}
	created, err := h.cfg.Tenants.CreateAccount(rc.ctx, &a)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceAccount, Op: OpCreate, ID: string(created.SID), Account: string(created.SID),
		ServiceProvider: created.ServiceProvider, Realms: nonEmpty(created.SIPRealm), Revision: created.Revision},
		"account.create", nil, created)
	rc.w.Header().Set("Location", BasePath+"/accounts/"+string(created.SID))
	rc.respond(http.StatusCreated, created.Revision, CreatedAccount{Account: *created, WebhookSecret: created.WebhookSecret.Reveal()})
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (h *Handler) getAccount(rc *reqCtx) {
	a, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(a), acctTarget(a), "account") {
		return
	}
	rc.respond(http.StatusOK, a.Revision, a)
}

func (h *Handler) patchAccount(rc *reqCtx) {
	rc.updateAccount(nil, "account.update", http.StatusOK, func(cur *tenancy.Account) (*tenancy.Account, bool) {
		var next tenancy.Account
		if !rc.patchInto(cur, &next, accountReadOnly...) {
			return nil, false
		}
		return &next, true
	}, func(a *tenancy.Account) any { return a })
}

func (h *Handler) deleteAccount(rc *reqCtx) {
	a, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(a), rbac.Target{ServiceProvider: a.ServiceProvider}, "account") {
		return
	}
	if _, ok := rc.precondition(a.Revision); !ok {
		return
	}
	// Its API keys first: a key of a deleted account must not keep working.
	for _, owner := range accountKeyOwners(a) {
		keys, err := h.cfg.Keys.Keys(rc.ctx, owner)
		if err != nil {
			rc.fromError(err, nil)
			return
		}
		for _, k := range keys {
			if err := h.cfg.Keys.Delete(rc.ctx, k.ID); err != nil && !errors.Is(err, rbac.ErrNotFound) {
				rc.fromError(err, nil)
				return
			}
			rc.notify(Change{Resource: ResourceAPIKey, Op: OpDelete, ID: k.ID, Account: string(a.SID), ServiceProvider: a.ServiceProvider})
		}
	}
	if err := h.cfg.Tenants.DeleteAccount(rc.ctx, a.SID); err != nil {
		rc.fromError(err, nil)
		return
	}
	members, err := h.cfg.Members.Members(rc.ctx, string(a.SID))
	if err == nil {
		for _, m := range members {
			if err = h.cfg.Members.DeleteMember(rc.ctx, m.ID); err != nil && !errors.Is(err, rbac.ErrNotFound) {
				break
			}
			err = nil
		}
	}
	if err == nil {
		var roles []*rbac.Role
		if roles, err = h.cfg.Members.Roles(rc.ctx, string(a.SID)); err == nil {
			for _, r := range roles {
				if r.Account == string(a.SID) {
					if err = h.cfg.Members.DeleteRole(rc.ctx, r.ID); err != nil && !errors.Is(err, rbac.ErrNotFound) {
						break
					}
					err = nil
				}
			}
		}
	}
	if err != nil {
		h.log.ErrorContext(rc.ctx, "admin: members or roles of a deleted account left behind", "account", a.SID, "error", err)
	}
	rc.record(Change{Resource: ResourceAccount, Op: OpDelete, ID: string(a.SID), Account: string(a.SID),
		ServiceProvider: a.ServiceProvider, Realms: nonEmpty(a.SIPRealm)}, "account.delete", a, nil)
	rc.noContent()
}

// accountKeyOwners are the owners an account's keys may be stored under:
// without a service provider, and with the account's.
func accountKeyOwners(a *tenancy.Account) []rbac.Owner {
	out := []rbac.Owner{{Scope: rbac.ScopeAccount, Account: string(a.SID)}}
	if a.ServiceProvider != "" {
		out = append(out, rbac.Owner{Scope: rbac.ScopeAccount, ServiceProvider: a.ServiceProvider, Account: string(a.SID)})
	}
	return out
}

func (rc *reqCtx) notify(c Change) {
	if rc.h.cfg.Notifier != nil {
		rc.h.cfg.Notifier.Notify(rc.ctx, c)
	}
}

// checkAccountChange refuses (403, naming each field) the changes from cur
// (nil on create) to next that the caller may not make: seed 000's
// Admin-only fields, the SIP access without the phone privilege, a bucket
// URL or a local directory bucket without Admin scope. It returns the
// changed fields. rename (nil for none) renames the field paths for a
// sub-resource.
func (rc *reqCtx) checkAccountChange(cur, next *tenancy.Account, sipAction rbac.Action, rename func(string) string) ([]string, bool) {
	changed := tenancy.ChangedFields(cur, next)
	var fps []FieldProblem
	add := func(field, detail string) {
		if rename != nil {
			field = rename(field)
		}
		fps = append(fps, FieldProblem{Field: field, Detail: detail})
	}
	for _, fe := range rbac.FieldErrors(rbac.CheckFields(rc.p, accountFieldRules(), changed)) {
		add(fe.Field, fe.Reason)
	}
	if slices.Contains(changed, tenancy.FieldSIP) && !rc.allowed(rbac.EntityPhone, sipAction, acctTarget(next)) {
		add(tenancy.FieldSIP, "the caller's role does not grant "+sipAction.String()+" on phone (SIP users and allowlist)")
	}
	var curRec tenancy.RecordingConfig
	if cur != nil {
		curRec = cur.Recording
	}
	for _, fp := range recordingScopeProblems(rc.p, curRec, next.Recording) {
		add(fp.Field, fp.Detail)
	}
	if len(fps) > 0 {
		rc.problem(newProblem(http.StatusForbidden, CodeForbiddenField, "the caller may not set these fields", fps...), nil)
		return nil, false
	}
	return changed, true
}

// recordingScopeProblems refuses to non-Admin callers the bucket choices
// that reach the gateway host itself: a bucket URL (its credentials come
// from the gateway's environment, so a tenant could write to any bucket the
// gateway can) and a local directory.
func recordingScopeProblems(p *rbac.Principal, cur, next tenancy.RecordingConfig) []FieldProblem {
	if p.Scope == rbac.ScopeAdmin {
		return nil
	}
	var out []FieldProblem
	if next.BucketURL != "" && next.BucketURL != cur.BucketURL {
		out = append(out, FieldProblem{Field: "recording.bucket_url",
			Detail: "only admin scope may set a bucket URL (it uses the gateway's own credentials); give the vendor's fields in recording.bucket"})
	}
	if next.Bucket.Vendor == bucketconfig.VendorFile && (cur.Bucket.Vendor != bucketconfig.VendorFile || !reflect.DeepEqual(cur.Bucket.File, next.Bucket.File)) {
		out = append(out, FieldProblem{Field: "recording.bucket.vendor", Value: string(next.Bucket.Vendor),
			Detail: "only admin scope may store recordings in a directory of the gateway host"})
	}
	return out
}

// updateAccount is every change of an account: read, authorize the route's
// privilege, check If-Match, build the new state with mutate, refuse the
// fields the caller may not change, store, audit, notify, answer view(new)
// with status (204 without a view). rename (nil for none) renames field paths
// in problems for a sub-resource whose body starts below the account.
func (rc *reqCtx) updateAccount(rename func(string) string, action string, status int, mutate func(cur *tenancy.Account) (*tenancy.Account, bool), view func(*tenancy.Account) any) {
	cur, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(cur), acctTarget(cur), "account") {
		return
	}
	sent, ok := rc.precondition(cur.Revision)
	if !ok {
		return
	}
	next, ok := mutate(cur.Clone())
	if !ok {
		return
	}
	next.SID, next.Revision, next.CreatedAt = cur.SID, cur.Revision, cur.CreatedAt
	sipAction := rbac.ActionUpdate
	if rc.rt.Entity == rbac.EntityPhone {
		sipAction = rc.rt.Action
	}
	changed, ok := rc.checkAccountChange(cur, next, sipAction, rename)
	if !ok {
		return
	}
	answer := func(a *tenancy.Account) {
		if view == nil {
			rc.w.Header().Set("ETag", etag(a.Revision))
			rc.noContent()
			return
		}
		rc.respond(status, a.Revision, view(a))
	}
	if len(changed) == 0 {
		answer(cur)
		return
	}
	if slices.Contains(changed, tenancy.FieldServiceProvider) && next.ServiceProvider != "" {
		found, err := rc.providerExists(next.ServiceProvider)
		if err != nil {
			rc.fromError(err, nil)
			return
		}
		if !found {
			rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "the request has invalid fields",
				FieldProblem{Field: "service_provider", Value: next.ServiceProvider, Detail: "no such service provider"}), nil)
			return
		}
	}
	updated, err := rc.h.cfg.Tenants.UpdateAccount(rc.ctx, next)
	if errors.Is(err, tenancy.ErrConflict) {
		rc.conflict(sent, err)
		return
	}
	if err != nil {
		rc.fromError(err, rename)
		return
	}
	rc.record(Change{Resource: ResourceAccount, Op: OpUpdate, ID: string(updated.SID), Account: string(updated.SID),
		ServiceProvider: updated.ServiceProvider, Fields: changed, Realms: nonEmpty(cur.SIPRealm, updated.SIPRealm), Revision: updated.Revision},
		action, cur, updated)
	answer(updated)
}

// stripper returns a rename that cuts prefix from field paths.
func stripper(prefix, repl string) func(string) string {
	return func(f string) string {
		if rest, ok := strings.CutPrefix(f, prefix); ok {
			return repl + rest
		}
		return f
	}
}

func (h *Handler) rotateWebhookSecret(rc *reqCtx) {
	cur, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(cur), acctTarget(cur), "account") {
		return
	}
	if _, ok := rc.precondition(cur.Revision); !ok {
		return
	}
	a, err := h.cfg.Tenants.RotateWebhookSecret(rc.ctx, cur.SID)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceAccount, Op: OpRotate, ID: string(a.SID), Account: string(a.SID), ServiceProvider: a.ServiceProvider,
		Fields: []string{tenancy.FieldWebhookSecret}, Revision: a.Revision}, "account.webhook_secret.rotate", cur, a)
	rc.respond(http.StatusOK, a.Revision, RotatedSecret{WebhookSecret: a.WebhookSecret.Reveal(), PreviousWebhookSecretUntil: a.PreviousWebhookSecretUntil, Revision: a.Revision})
}

func (h *Handler) getRecording(rc *reqCtx) {
	a, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(a), acctTarget(a), "account") {
		return
	}
	rc.respond(http.StatusOK, a.Revision, RecordingSettings{RecordingConfig: a.Recording, Revision: a.Revision})
}

func (h *Handler) patchRecording(rc *reqCtx) {
	rc.updateAccount(stripper("recording.", ""), "account.recording.update", http.StatusOK, func(cur *tenancy.Account) (*tenancy.Account, bool) {
		var next RecordingSettings
		if !rc.patchInto(RecordingSettings{RecordingConfig: cur.Recording, Revision: cur.Revision}, &next, "revision") {
			return nil, false
		}
		cur.Recording = next.RecordingConfig
		return cur, true
	}, func(a *tenancy.Account) any {
		return RecordingSettings{RecordingConfig: a.Recording, Revision: a.Revision}
	})
}

// BucketTestResult is the answer of POST .../recording/test: whether the
// probe (write, read back, delete) passed, and if not, which step failed,
// why (Code: egress_refused, bad_credentials, permission_denied,
// no_such_bucket, wrong_region, unreachable, verify_failed, invalid_config,
// failed) and what to check (Error, which holds no secret). egress_refused:
// the endpoint resolves to an address the egress policy refuses (loopback,
// link-local, ...); nothing was sent to it.
type BucketTestResult struct {
	OK     bool   `json:"ok"`
	Bucket string `json:"bucket,omitempty"`
	Step   string `json:"step,omitempty"`
	Code   string `json:"code,omitempty"`
	Error  string `json:"error,omitempty"`
}

// BucketTestRequest is the optional body of POST .../recording/test: a
// recording configuration to test before saving it (masked secrets are taken
// from the stored configuration). Without a body the stored one is tested.
type BucketTestRequest = tenancy.RecordingConfig

var bucketErrorCodes = []struct {
	err  error
	code string
}{
	{storage.ErrEgressRefused, "egress_refused"},
	{storage.ErrBadCredentials, "bad_credentials"},
	{storage.ErrPermissionDenied, "permission_denied"},
	{storage.ErrNoSuchBucket, "no_such_bucket"},
	{storage.ErrWrongRegion, "wrong_region"},
	{storage.ErrUnreachable, "unreachable"},
	{storage.ErrVerifyFailed, "verify_failed"},
	{storage.ErrInvalidConfig, "invalid_config"},
}

func (h *Handler) testRecording(rc *reqCtx) {
	a, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(a), acctTarget(a), "account") {
		return
	}
	body, ok := rc.readBody(true)
	if !ok {
		return
	}
	rec := a.Recording
	if body != nil {
		var sub tenancy.RecordingConfig
		if !rc.decodeStrict(body, &sub) {
			return
		}
		if fps := recordingScopeProblems(rc.p, a.Recording, sub); len(fps) > 0 {
			for i := range fps {
				fps[i].Field = strings.TrimPrefix(fps[i].Field, "recording.")
			}
			rc.problem(newProblem(http.StatusForbidden, CodeForbiddenField, "the caller may not test these fields", fps...), nil)
			return
		}
		merged, err := a.Recording.Bucket.Merge(sub.Bucket)
		if err != nil {
			var fps []FieldProblem
			for _, fe := range bucketconfig.FieldErrors(err) {
				fps = append(fps, FieldProblem{Field: "bucket." + fe.Field, Detail: fe.Reason, Value: fe.Value})
			}
			rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "the bucket configuration is invalid", fps...), err)
			return
		}
		sub.Bucket = merged
		probe := a.Clone()
		probe.Recording = sub
		probe.Recording.Enabled = true
		probe.Normalize()
		if err := probe.Validate(); err != nil {
			var fps []FieldProblem
			for _, fe := range tenancy.FieldErrors(err) {
				if rest, ok := strings.CutPrefix(fe.Field, "recording."); ok {
					fps = append(fps, FieldProblem{Field: rest, Detail: fe.Reason, Value: fe.Value})
				}
			}
			if len(fps) > 0 {
				rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "the recording configuration is invalid", fps...), err)
				return
			}
		}
		rec = probe.Recording
	}
	if rec.Bucket.IsZero() && rec.BucketURL == "" {
		rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "no bucket to test",
			FieldProblem{Field: "bucket", Detail: "configure a bucket (vendor fields) or a bucket_url first, or send one to test"}), nil)
		return
	}
	ctx, cancel := context.WithTimeout(rc.ctx, 60*time.Second)
	defer cancel()
	res := BucketTestResult{OK: true}
	if rec.BucketURL == "" {
		res.Bucket = string(rec.Bucket.Vendor) + ":" + rec.Bucket.BucketName()
	}
	if err := h.cfg.TestBucket(ctx, rec); err != nil {
		res = BucketTestResult{Bucket: res.Bucket, Code: "failed", Error: err.Error()}
		var oe *storage.OpError
		if errors.As(err, &oe) {
			res.Step = oe.Op
			if oe.Bucket != "" {
				res.Bucket = oe.Bucket
			}
		}
		for _, c := range bucketErrorCodes {
			if errors.Is(err, c.err) {
				res.Code = c.code
				break
			}
		}
	}
	rc.respond(http.StatusOK, 0, res)
}

func (h *Handler) getSIP(rc *reqCtx) {
	a, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(a), acctTarget(a), "account") {
		return
	}
	rc.respond(http.StatusOK, a.Revision, SIPSettings{SIPAccess: a.SIP, Revision: a.Revision})
}

func sipView(a *tenancy.Account) any { return SIPSettings{SIPAccess: a.SIP, Revision: a.Revision} }

func (h *Handler) patchSIP(rc *reqCtx) {
	rc.updateAccount(stripper("sip.", ""), "account.sip.update", http.StatusOK, func(cur *tenancy.Account) (*tenancy.Account, bool) {
		var next SIPSettings
		if !rc.patchInto(SIPSettings{SIPAccess: cur.SIP, Revision: cur.Revision}, &next, "revision") {
			return nil, false
		}
		cur.SIP = next.SIPAccess
		return cur, true
	}, sipView)
}

// SIPUserRequest is the body of POST .../sip/users (username and password)
// and of PUT .../sip/users/{username} (password).
type SIPUserRequest struct {
	Username string        `json:"username,omitempty"`
	Password secret.String `json:"password"`
}

// userRename names a SIP user's fields as the one-user routes' bodies do
// ("password", not "sip.users[3].password").
func userRename(idx *int) func(string) string {
	return func(f string) string {
		if rest, ok := strings.CutPrefix(f, "sip.users["+strconv.Itoa(*idx)+"]."); ok {
			return rest
		}
		return strings.TrimPrefix(f, "sip.")
	}
}

func (h *Handler) addSIPUser(rc *reqCtx) {
	var created tenancy.SIPUser
	idx := -1
	rc.updateAccount(userRename(&idx), "account.sip.user.create", http.StatusCreated, func(cur *tenancy.Account) (*tenancy.Account, bool) {
		body, ok := rc.readBody(false)
		if !ok {
			return nil, false
		}
		var req SIPUserRequest
		if !rc.decodeStrict(body, &req) {
			return nil, false
		}
		req.Username = strings.TrimSpace(req.Username)
		if _, exists := cur.SIP.User(req.Username); exists && req.Username != "" {
			rc.problem(newProblem(http.StatusConflict, CodeExists, "a SIP user with this username exists",
				FieldProblem{Field: "username", Value: req.Username, Detail: "already exists"}), nil)
			return nil, false
		}
		if req.Password.IsZero() {
			rc.problem(newProblem(http.StatusUnprocessableEntity, CodeInvalid, "the request has invalid fields",
				FieldProblem{Field: "password", Detail: "required"}), nil)
			return nil, false
		}
		created = tenancy.SIPUser{Username: req.Username, Password: req.Password}
		cur.SIP.Users = append(cur.SIP.Users, created)
		idx = len(cur.SIP.Users) - 1
		return cur, true
	}, func(a *tenancy.Account) any { return userView(a, created.Username) })
}

func userView(a *tenancy.Account, username string) any {
	u, _ := a.SIP.User(username)
	return u
}

func (h *Handler) setSIPUser(rc *reqCtx) {
	name := rc.params["username"]
	idx := -1
	rc.updateAccount(userRename(&idx), "account.sip.user.update", http.StatusOK, func(cur *tenancy.Account) (*tenancy.Account, bool) {
		body, ok := rc.readBody(false)
		if !ok {
			return nil, false
		}
		var req SIPUserRequest
		if !rc.decodeStrict(body, &req) {
			return nil, false
		}
		if req.Username != "" && req.Username != name {
			rc.badRequest("the username is the path's; rename a user by deleting it and adding the new one",
				FieldProblem{Field: "username", Value: req.Username, Detail: "differs from the path"})
			return nil, false
		}
		i := slices.IndexFunc(cur.SIP.Users, func(u tenancy.SIPUser) bool { return u.Username == name })
		if i < 0 {
			rc.notFound("SIP user")
			return nil, false
		}
		cur.SIP.Users[i].Password = req.Password
		idx = i
		return cur, true
	}, func(a *tenancy.Account) any { return userView(a, name) })
}

func (h *Handler) deleteSIPUser(rc *reqCtx) {
	name := rc.params["username"]
	rc.updateAccount(stripper("sip.", ""), "account.sip.user.delete", http.StatusNoContent, func(cur *tenancy.Account) (*tenancy.Account, bool) {
		i := slices.IndexFunc(cur.SIP.Users, func(u tenancy.SIPUser) bool { return u.Username == name })
		if i < 0 {
			rc.notFound("SIP user")
			return nil, false
		}
		cur.SIP.Users = slices.Delete(cur.SIP.Users, i, i+1)
		return cur, true
	}, nil)
}

func (h *Handler) getCAD(rc *reqCtx) {
	a, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(a), acctTarget(a), "account") {
		return
	}
	rc.respond(http.StatusOK, a.Revision, cadView(a))
}

func cadView(a *tenancy.Account) any {
	f := a.CallAttachedData
	if f == nil {
		f = []tenancy.CADField{}
	}
	return CallAttachedData{Fields: f, Revision: a.Revision}
}

func (h *Handler) putCAD(rc *reqCtx) {
	rc.updateAccount(stripper("call_attached_data", "fields"), "account.call_attached_data.update", http.StatusOK, func(cur *tenancy.Account) (*tenancy.Account, bool) {
		body, ok := rc.readBody(false)
		if !ok {
			return nil, false
		}
		var req CallAttachedData
		if !rc.decodeStrict(body, &req) {
			return nil, false
		}
		cur.CallAttachedData = req.Fields
		return cur, true
	}, cadView)
}
