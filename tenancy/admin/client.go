package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

// Client calls the admin API. The zero value is not usable: set BaseURL and
// Key (or use NewClient). Methods return a *Problem for every answer outside
// 2xx; match it with errors.Is (ErrNotFound, ErrForbidden, ErrInvalid, ...)
// or errors.As to read the fields at fault. Secrets in requests (passwords,
// bucket credentials, webhook secrets) are sent in plain form; secrets in
// answers are masked, except the ones the API returns once (a created API
// key, a created account's or rotated webhook secret).
//
// Updates take the revision read (sent as If-Match: 412 and
// ErrPreconditionFailed if the resource changed since); 0 sends no
// If-Match.
type Client struct {
	// BaseURL is the server's URL, without BasePath: "http://127.0.0.1:8080".
	BaseURL string
	// Key is the API key, sent as "Authorization: Bearer".
	Key secret.String
	// HTTPClient sends the requests. Default: http.DefaultClient.
	HTTPClient *http.Client
}

// NewClient returns a client of the API at baseURL with key.
func NewClient(baseURL string, key secret.String) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Key: key}
}

// ListOptions pages a list: PageSize items (0 for the server's default)
// after PageToken (a previous page's NextPageToken).
type ListOptions struct {
	PageSize  int
	PageToken string
}

func (o *ListOptions) query(q url.Values) url.Values {
	if q == nil {
		q = url.Values{}
	}
	if o != nil {
		if o.PageSize > 0 {
			q.Set("page_size", strconv.Itoa(o.PageSize))
		}
		if o.PageToken != "" {
			q.Set("page_token", o.PageToken)
		}
	}
	return q
}

// Owner names whose API keys or members a list is about: an account, a
// service provider, or the platform (Scope admin). The zero Owner is the
// caller's own tenant.
type Owner struct {
	Scope           rbac.Scope
	ServiceProvider string
	AccountSID      string
}

func (o Owner) query() url.Values {
	q := url.Values{}
	if o.Scope != 0 {
		q.Set("scope", o.Scope.String())
	}
	if o.ServiceProvider != "" {
		q.Set("service_provider", o.ServiceProvider)
	}
	if o.AccountSID != "" {
		q.Set("account_sid", o.AccountSID)
	}
	return q
}

// do sends one request and decodes a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, rev int64, out any) error {
	u := strings.TrimSuffix(c.BaseURL, "/") + BasePath + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := marshalRevealed(body)
		if err != nil {
			return fmt.Errorf("admin client: encoding the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	if body != nil {
		ct := "application/json"
		if method == http.MethodPatch {
			ct = "application/merge-patch+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json, "+ProblemContentType)
	if !c.Key.IsZero() {
		req.Header.Set("Authorization", "Bearer "+c.Key.Reveal())
	}
	if rev > 0 {
		req.Header.Set("If-Match", etag(rev))
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin client: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		p := &Problem{}
		if json.Unmarshal(b, p) != nil || p.Status == 0 {
			p = &Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(b))}
		}
		p.Status = resp.StatusCode
		return p
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("admin client: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

func seg(s string) string { return url.PathEscape(s) }

func getJSON[T any](ctx context.Context, c *Client, path string, q url.Values) (*T, error) {
	var out T
	if err := c.do(ctx, http.MethodGet, path, q, nil, 0, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func send[T any](ctx context.Context, c *Client, method, path string, body any, rev int64) (*T, error) {
	var out T
	if err := c.do(ctx, method, path, nil, body, rev, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Me returns who the caller is.
func (c *Client) Me(ctx context.Context) (*Me, error) { return getJSON[Me](ctx, c, "/me", nil) }

// ServiceTypes lists the service types an API key may have.
func (c *Client) ServiceTypes(ctx context.Context) ([]ServiceType, error) {
	l, err := getJSON[List[ServiceType]](ctx, c, "/api-key-service-types", nil)
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// ServiceProviderPatch changes a service provider: set fields change, nil
// fields stay.
type ServiceProviderPatch struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
}

// ServiceProviders lists the service providers the caller sees.
func (c *Client) ServiceProviders(ctx context.Context, o *ListOptions) (*List[ServiceProvider], error) {
	return getJSON[List[ServiceProvider]](ctx, c, "/service-providers", o.query(nil))
}

// CreateServiceProvider creates a service provider (Admin).
func (c *Client) CreateServiceProvider(ctx context.Context, p ServiceProvider) (*ServiceProvider, error) {
	return send[ServiceProvider](ctx, c, http.MethodPost, "/service-providers", p, 0)
}

// ServiceProvider reads a service provider.
func (c *Client) ServiceProvider(ctx context.Context, id string) (*ServiceProvider, error) {
	return getJSON[ServiceProvider](ctx, c, "/service-providers/"+seg(id), nil)
}

// UpdateServiceProvider changes a service provider read at revision rev.
func (c *Client) UpdateServiceProvider(ctx context.Context, id string, p ServiceProviderPatch, rev int64) (*ServiceProvider, error) {
	return send[ServiceProvider](ctx, c, http.MethodPatch, "/service-providers/"+seg(id), p, rev)
}

// DeleteServiceProvider deletes a service provider that has no accounts.
func (c *Client) DeleteServiceProvider(ctx context.Context, id string, rev int64) error {
	return c.do(ctx, http.MethodDelete, "/service-providers/"+seg(id), nil, nil, rev, nil)
}

// AccountListOptions filters and pages GET /accounts.
type AccountListOptions struct {
	ListOptions
	// ServiceProvider selects the accounts of one service provider.
	ServiceProvider string
}

// Accounts lists the accounts the caller sees, by name.
func (c *Client) Accounts(ctx context.Context, o *AccountListOptions) (*List[tenancy.Account], error) {
	q := url.Values{}
	if o != nil {
		q = o.query(q)
		if o.ServiceProvider != "" {
			q.Set("service_provider", o.ServiceProvider)
		}
	}
	return getJSON[List[tenancy.Account]](ctx, c, "/accounts", q)
}

// CreateAccount creates an account; the answer carries its webhook secret in
// plain form, this once.
func (c *Client) CreateAccount(ctx context.Context, a tenancy.Account) (*CreatedAccount, error) {
	return send[CreatedAccount](ctx, c, http.MethodPost, "/accounts", a, 0)
}

// Account reads an account.
func (c *Client) Account(ctx context.Context, sid tenancy.SID) (*tenancy.Account, error) {
	return getJSON[tenancy.Account](ctx, c, "/accounts/"+seg(string(sid)), nil)
}

// AccountPatch changes an account's settings (seed 000): set fields change,
// nil fields stay. A string set to "" clears the setting.
type AccountPatch struct {
	Name                   *string             `json:"name,omitempty"`
	ServiceProvider        *string             `json:"service_provider,omitempty"`
	Unit                   *tenancy.Unit       `json:"unit,omitempty"`
	MaxUnits               *int                `json:"max_units,omitempty"`
	LicensedSessions       *int                `json:"licensed_sessions,omitempty"`
	SIPRealm               *string             `json:"sip_realm,omitempty"`
	WebhookSecret          *string             `json:"webhook_secret,omitempty"`
	DeviceCallsApplication *tenancy.SID        `json:"device_calls_application,omitempty"`
	SIPRECApplication      *tenancy.SID        `json:"siprec_application,omitempty"`
	RegistrationWebhook    *string             `json:"registration_webhook,omitempty"`
	QueueEventWebhook      *string             `json:"queue_event_webhook,omitempty"`
	SessionWebhook         *string             `json:"session_webhook,omitempty"`
	Recording              *RecordingPatch     `json:"recording,omitempty"`
	SIP                    *SIPPatch           `json:"sip,omitempty"`
	CallAttachedData       *[]tenancy.CADField `json:"call_attached_data,omitempty"`
}

// RecordingPatch changes a recording configuration. Bucket replaces the
// whole bucket configuration (masked secrets in it keep the stored ones).
type RecordingPatch struct {
	Enabled        *bool                `json:"enabled,omitempty"`
	Format         *tenancy.AudioFormat `json:"format,omitempty"`
	Bucket         *bucketconfig.Config `json:"bucket,omitempty"`
	BucketURL      *string              `json:"bucket_url,omitempty"`
	RecordAllCalls *bool                `json:"record_all_calls,omitempty"`
}

// SIPPatch replaces the SIP users or the IP allowlist (masked passwords of
// existing usernames keep the stored ones).
type SIPPatch struct {
	Users     *[]tenancy.SIPUser `json:"users,omitempty"`
	Allowlist *[]string          `json:"allowlist,omitempty"`
	// RequireTLS and RequireSRTP set the account's SIPREC policy (see
	// tenancy.SIPAccess).
	RequireTLS  *bool `json:"require_tls,omitempty"`
	RequireSRTP *bool `json:"require_srtp,omitempty"`
}

// UpdateAccount changes an account read at revision rev.
func (c *Client) UpdateAccount(ctx context.Context, sid tenancy.SID, p AccountPatch, rev int64) (*tenancy.Account, error) {
	body, err := replacingBucket(p, "recording")
	if err != nil {
		return nil, err
	}
	return send[tenancy.Account](ctx, c, http.MethodPatch, "/accounts/"+seg(string(sid)), body, rev)
}

// DeleteAccount deletes an account with its applications, API keys,
// members and roles.
func (c *Client) DeleteAccount(ctx context.Context, sid tenancy.SID, rev int64) error {
	return c.do(ctx, http.MethodDelete, "/accounts/"+seg(string(sid)), nil, nil, rev, nil)
}

// RotateWebhookSecret gives the account a new webhook secret, returned in
// plain form this once; webhooks are signed with both until the answer's
// PreviousWebhookSecretUntil.
func (c *Client) RotateWebhookSecret(ctx context.Context, sid tenancy.SID, rev int64) (*RotatedSecret, error) {
	return send[RotatedSecret](ctx, c, http.MethodPost, "/accounts/"+seg(string(sid))+"/webhook-secret/rotate", nil, rev)
}

// Recording reads an account's call recording configuration.
func (c *Client) Recording(ctx context.Context, sid tenancy.SID) (*RecordingSettings, error) {
	return getJSON[RecordingSettings](ctx, c, "/accounts/"+seg(string(sid))+"/recording", nil)
}

// UpdateRecording changes an account's recording configuration.
func (c *Client) UpdateRecording(ctx context.Context, sid tenancy.SID, p RecordingPatch, rev int64) (*RecordingSettings, error) {
	body, err := replacingBucket(p, "")
	if err != nil {
		return nil, err
	}
	return send[RecordingSettings](ctx, c, http.MethodPatch, "/accounts/"+seg(string(sid))+"/recording", body, rev)
}

// replacingBucket encodes a patch whose bucket (at path, "" for the top, or
// "recording") replaces the stored one, as RecordingPatch says: a merge
// patch merges objects, so the sections of the other vendors are sent as
// null (removed).
func replacingBucket(p any, path string) (any, error) {
	b, err := marshalRevealed(p)
	if err != nil {
		return nil, fmt.Errorf("admin client: encoding the request: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("admin client: encoding the request: %w", err)
	}
	rec := m
	if path != "" {
		rec, _ = m[path].(map[string]any)
	}
	bucket, ok := rec["bucket"].(map[string]any)
	if !ok {
		return json.RawMessage(b), nil
	}
	for _, section := range []string{"s3", "s3_compatible", "gcs", "azure", "file", "memory"} {
		if _, ok := bucket[section]; !ok {
			bucket[section] = nil
		}
	}
	if b, err = json.Marshal(m); err != nil {
		return nil, fmt.Errorf("admin client: encoding the request: %w", err)
	}
	return json.RawMessage(b), nil
}

// TestRecording runs the bucket probe on rc (masked secrets taken from the
// stored configuration), or on the stored configuration when rc is nil. A
// bucket that fails the probe is not an error: see BucketTestResult.OK.
func (c *Client) TestRecording(ctx context.Context, sid tenancy.SID, rc *tenancy.RecordingConfig) (*BucketTestResult, error) {
	var body any
	if rc != nil {
		body = rc
	}
	return send[BucketTestResult](ctx, c, http.MethodPost, "/accounts/"+seg(string(sid))+"/recording/test", body, 0)
}

// SIP reads an account's SIP users (masked passwords) and IP allowlist.
func (c *Client) SIP(ctx context.Context, sid tenancy.SID) (*SIPSettings, error) {
	return getJSON[SIPSettings](ctx, c, "/accounts/"+seg(string(sid))+"/sip", nil)
}

// UpdateSIP replaces an account's SIP users or IP allowlist.
func (c *Client) UpdateSIP(ctx context.Context, sid tenancy.SID, p SIPPatch, rev int64) (*SIPSettings, error) {
	return send[SIPSettings](ctx, c, http.MethodPatch, "/accounts/"+seg(string(sid))+"/sip", p, rev)
}

// AddSIPUser adds a SIP user to an account.
func (c *Client) AddSIPUser(ctx context.Context, sid tenancy.SID, username string, password secret.String) (*tenancy.SIPUser, error) {
	return send[tenancy.SIPUser](ctx, c, http.MethodPost, "/accounts/"+seg(string(sid))+"/sip/users", SIPUserRequest{Username: username, Password: password}, 0)
}

// SetSIPPassword sets a SIP user's password.
func (c *Client) SetSIPPassword(ctx context.Context, sid tenancy.SID, username string, password secret.String) (*tenancy.SIPUser, error) {
	return send[tenancy.SIPUser](ctx, c, http.MethodPut, "/accounts/"+seg(string(sid))+"/sip/users/"+seg(username), SIPUserRequest{Password: password}, 0)
}

// DeleteSIPUser removes a SIP user.
func (c *Client) DeleteSIPUser(ctx context.Context, sid tenancy.SID, username string) error {
	return c.do(ctx, http.MethodDelete, "/accounts/"+seg(string(sid))+"/sip/users/"+seg(username), nil, nil, 0, nil)
}

// CallAttachedData reads an account's call attached data fields.
func (c *Client) CallAttachedData(ctx context.Context, sid tenancy.SID) (*CallAttachedData, error) {
	return getJSON[CallAttachedData](ctx, c, "/accounts/"+seg(string(sid))+"/call-attached-data", nil)
}

// SetCallAttachedData replaces an account's call attached data fields.
func (c *Client) SetCallAttachedData(ctx context.Context, sid tenancy.SID, fields []tenancy.CADField, rev int64) (*CallAttachedData, error) {
	if fields == nil {
		fields = []tenancy.CADField{}
	}
	return send[CallAttachedData](ctx, c, http.MethodPut, "/accounts/"+seg(string(sid))+"/call-attached-data", CallAttachedData{Fields: fields}, rev)
}

// ApplicationPatch changes an application.
type ApplicationPatch struct {
	Name           *string `json:"name,omitempty"`
	RecordAllCalls *bool   `json:"record_all_calls,omitempty"`
}

func appPath(sid tenancy.SID) string { return "/accounts/" + seg(string(sid)) + "/applications" }

// Applications lists an account's applications by name.
func (c *Client) Applications(ctx context.Context, sid tenancy.SID, o *ListOptions) (*List[tenancy.Application], error) {
	return getJSON[List[tenancy.Application]](ctx, c, appPath(sid), o.query(nil))
}

// CreateApplication creates an application in an account.
func (c *Client) CreateApplication(ctx context.Context, sid tenancy.SID, app tenancy.Application) (*tenancy.Application, error) {
	app.Account = ""
	return send[tenancy.Application](ctx, c, http.MethodPost, appPath(sid), app, 0)
}

// Application reads an application.
func (c *Client) Application(ctx context.Context, sid, app tenancy.SID) (*tenancy.Application, error) {
	return getJSON[tenancy.Application](ctx, c, appPath(sid)+"/"+seg(string(app)), nil)
}

// UpdateApplication changes an application read at revision rev.
func (c *Client) UpdateApplication(ctx context.Context, sid, app tenancy.SID, p ApplicationPatch, rev int64) (*tenancy.Application, error) {
	return send[tenancy.Application](ctx, c, http.MethodPatch, appPath(sid)+"/"+seg(string(app)), p, rev)
}

// DeleteApplication deletes an application (409 while its account selects it).
func (c *Client) DeleteApplication(ctx context.Context, sid, app tenancy.SID, rev int64) error {
	return c.do(ctx, http.MethodDelete, appPath(sid)+"/"+seg(string(app)), nil, nil, rev, nil)
}

// APIKeys lists an owner's API keys (masked).
func (c *Client) APIKeys(ctx context.Context, owner Owner, o *ListOptions) (*List[rbac.APIKey], error) {
	return getJSON[List[rbac.APIKey]](ctx, c, "/api-keys", o.query(owner.query()))
}

// CreateAPIKey creates an API key; the answer's Secret is shown this once.
func (c *Client) CreateAPIKey(ctx context.Context, r CreateAPIKeyRequest) (*CreatedAPIKey, error) {
	return send[CreatedAPIKey](ctx, c, http.MethodPost, "/api-keys", r, 0)
}

// APIKey reads an API key (masked).
func (c *Client) APIKey(ctx context.Context, id string) (*rbac.APIKey, error) {
	return getJSON[rbac.APIKey](ctx, c, "/api-keys/"+seg(id), nil)
}

// DeleteAPIKey deletes an API key; the next request with it fails.
func (c *Client) DeleteAPIKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api-keys/"+seg(id), nil, nil, 0, nil)
}

// RevokeAPIKey revokes an API key; the next request with it fails.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) (*rbac.APIKey, error) {
	return send[rbac.APIKey](ctx, c, http.MethodPost, "/api-keys/"+seg(id)+"/revoke", nil, 0)
}

// RolePatch changes a role.
type RolePatch struct {
	Name       *string          `json:"name,omitempty"`
	Privileges *rbac.Privileges `json:"privileges,omitempty"`
}

// Roles lists the roles of an account and the platform's ("" for the
// caller's account, or the platform's roles alone).
func (c *Client) Roles(ctx context.Context, account tenancy.SID, o *ListOptions) (*List[rbac.Role], error) {
	q := url.Values{}
	if account != "" {
		q.Set("account_sid", string(account))
	}
	return getJSON[List[rbac.Role]](ctx, c, "/roles", o.query(q))
}

// CreateRole creates a role (r.Account "" for a platform role).
func (c *Client) CreateRole(ctx context.Context, r rbac.Role) (*rbac.Role, error) {
	return send[rbac.Role](ctx, c, http.MethodPost, "/roles", r, 0)
}

// Role reads a role.
func (c *Client) Role(ctx context.Context, id string) (*rbac.Role, error) {
	return getJSON[rbac.Role](ctx, c, "/roles/"+seg(id), nil)
}

// UpdateRole changes a role read at revision rev.
func (c *Client) UpdateRole(ctx context.Context, id string, p RolePatch, rev int64) (*rbac.Role, error) {
	return send[rbac.Role](ctx, c, http.MethodPatch, "/roles/"+seg(id), p, rev)
}

// DeleteRole deletes a role no member holds.
func (c *Client) DeleteRole(ctx context.Context, id string, rev int64) error {
	return c.do(ctx, http.MethodDelete, "/roles/"+seg(id), nil, nil, rev, nil)
}

// MemberPatch changes a member.
type MemberPatch struct {
	Email     *string `json:"email,omitempty"`
	FirstName *string `json:"first_name,omitempty"`
	LastName  *string `json:"last_name,omitempty"`
	RoleID    *string `json:"role_id,omitempty"`
}

// Members lists an owner's members by email.
func (c *Client) Members(ctx context.Context, owner Owner, o *ListOptions) (*List[rbac.Member], error) {
	return getJSON[List[rbac.Member]](ctx, c, "/members", o.query(owner.query()))
}

// CreateMember creates a member.
func (c *Client) CreateMember(ctx context.Context, m rbac.Member) (*rbac.Member, error) {
	return send[rbac.Member](ctx, c, http.MethodPost, "/members", m, 0)
}

// Member reads a member.
func (c *Client) Member(ctx context.Context, id string) (*rbac.Member, error) {
	return getJSON[rbac.Member](ctx, c, "/members/"+seg(id), nil)
}

// UpdateMember changes a member read at revision rev.
func (c *Client) UpdateMember(ctx context.Context, id string, p MemberPatch, rev int64) (*rbac.Member, error) {
	return send[rbac.Member](ctx, c, http.MethodPatch, "/members/"+seg(id), p, rev)
}

// DeleteMember deletes a member.
func (c *Client) DeleteMember(ctx context.Context, id string, rev int64) error {
	return c.do(ctx, http.MethodDelete, "/members/"+seg(id), nil, nil, rev, nil)
}

// SetMemberPassword sets the password member id signs in with (only its
// hash is stored). The caller must hold every privilege of the member's
// role.
func (c *Client) SetMemberPassword(ctx context.Context, id string, password secret.String) error {
	return c.do(ctx, http.MethodPut, "/members/"+seg(id)+"/password", nil, MemberPassword{Password: password}, 0, nil)
}

// SMTP reads the platform's SMTP settings (password masked; revision 0 when
// none were saved).
func (c *Client) SMTP(ctx context.Context) (*SMTPConfig, error) {
	return getJSON[SMTPConfig](ctx, c, "/smtp", nil)
}

// SetSMTP replaces the platform's SMTP settings read at revision rev (0 for
// the first save).
func (c *Client) SetSMTP(ctx context.Context, s tenancy.SMTPSettings, rev int64) (*SMTPConfig, error) {
	return send[SMTPConfig](ctx, c, http.MethodPut, "/smtp", s, rev)
}

// TestSMTP tests SMTP settings (r.Settings, or the stored ones when nil),
// sending a message to r.To when set. Settings that fail the test are not an
// error: see SMTPTestResult.OK.
func (c *Client) TestSMTP(ctx context.Context, r SMTPTestRequest) (*SMTPTestResult, error) {
	return send[SMTPTestResult](ctx, c, http.MethodPost, "/smtp/test", r, 0)
}

// AuditListOptions filters and pages GET /audit.
type AuditListOptions struct {
	ListOptions
	AccountSID      string
	ServiceProvider string
	Resource        string
	Since, Until    time.Time
}

// Audit lists audit records, newest first.
func (c *Client) Audit(ctx context.Context, o *AuditListOptions) (*List[AuditRecord], error) {
	q := url.Values{}
	if o != nil {
		q = o.query(q)
		for k, v := range map[string]string{"account_sid": o.AccountSID, "service_provider": o.ServiceProvider, "resource": o.Resource} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if !o.Since.IsZero() {
			q.Set("since", o.Since.Format(time.RFC3339))
		}
		if !o.Until.IsZero() {
			q.Set("until", o.Until.Format(time.RFC3339))
		}
	}
	return getJSON[List[AuditRecord]](ctx, c, "/audit", q)
}
