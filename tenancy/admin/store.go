package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/voicegw/voicegw/tenancy"
)

// Errors of the Store and its drivers; match them with errors.Is.
var (
	// ErrNotFound: no such service provider, SMTP settings or audit record.
	ErrNotFound = errors.New("admin: not found")
	// ErrExists: a service provider ID or name is taken.
	ErrExists = errors.New("admin: already exists")
	// ErrConflict: an update carried a stale revision.
	ErrConflict = errors.New("admin: revision conflict (modified concurrently)")
	// ErrInvalid: a value failed validation; a *FieldError names the field.
	ErrInvalid = errors.New("admin: invalid value")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("admin: store closed")
)

// FieldError names the field of a service provider that an operation
// refused. Err is ErrInvalid or ErrExists.
type FieldError struct {
	Field  string
	Value  string
	Reason string
	Err    error
}

// Error implements error.
func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("admin: field %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("admin: field %s (%q): %s", e.Field, e.Value, e.Reason)
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

// Taken is the error a driver returns when a unique field (service provider
// "id" or "name") clashes.
func Taken(field, value string) *FieldError {
	return &FieldError{Field: field, Value: value, Reason: "already exists", Err: ErrExists}
}

// ServiceProvider is the owner of a group of accounts (seed 000: "the account
// owner can be a user with Service Provider and Admin scopes"). Its ID is
// what tenancy.Account.ServiceProvider, rbac.Member.ServiceProvider and
// rbac.APIKey.ServiceProvider hold.
type ServiceProvider struct {
	// ID is given on create (1 to 64 characters: lowercase letters, digits,
	// '-', '_' and '.'; so existing accounts' service_provider values can
	// be adopted) or generated (a UUID). It never changes.
	ID string `json:"id"`
	// Name is unique among service providers.
	Name string `json:"name"`
	// Description is free text, at most 1024 bytes.
	Description string `json:"description,omitempty"`
	// Revision, CreatedAt and UpdatedAt are set by the store.
	Revision  int64     `json:"revision"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (p *ServiceProvider) normalize() {
	p.ID = strings.TrimSpace(p.ID)
	p.Name = strings.TrimSpace(p.Name)
	p.Description = strings.TrimSpace(p.Description)
}

func (p *ServiceProvider) validate() error {
	var errs []error
	if reason := checkProviderID(p.ID); reason != "" {
		errs = append(errs, &FieldError{Field: "id", Value: p.ID, Reason: reason, Err: ErrInvalid})
	}
	switch {
	case p.Name == "":
		errs = append(errs, &FieldError{Field: "name", Reason: "required", Err: ErrInvalid})
	case len(p.Name) > 128 || hasControl(p.Name):
		errs = append(errs, &FieldError{Field: "name", Value: p.Name, Reason: "at most 128 bytes, no control characters", Err: ErrInvalid})
	}
	if len(p.Description) > 1024 || hasControl(strings.ReplaceAll(p.Description, "\n", " ")) {
		errs = append(errs, &FieldError{Field: "description", Reason: "at most 1024 bytes, no control characters but newlines", Err: ErrInvalid})
	}
	return errors.Join(errs...)
}

func checkProviderID(id string) string {
	if id == "" {
		return "required"
	}
	if len(id) > 64 {
		return "longer than 64 characters"
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "character " + fmt.Sprintf("%q", rune(c)) + " not allowed (lowercase letters, digits, - _ .)"
		}
	}
	return ""
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// SMTPConfig is the stored SMTP settings of an owner ("" for the platform),
// with the revision that guards updates.
type SMTPConfig struct {
	tenancy.SMTPSettings
	// Revision and UpdatedAt are set by the store.
	Revision  int64     `json:"revision"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AuditRecord is one change made through the admin API: who, what, when, and
// the resource before and after, as the API shows it (secrets masked).
type AuditRecord struct {
	// ID is assigned by the driver: increasing in the order records were
	// appended.
	ID int64 `json:"id"`
	// Time is when the change was made.
	Time time.Time `json:"time"`
	// Actor is the caller's subject ("key:ID" for an API key, a member's
	// email), ActorEmail the email of the person behind it when known.
	Actor      string `json:"actor"`
	ActorEmail string `json:"actor_email,omitempty"`
	// Action is RESOURCE.OPERATION: "account.update", "api_key.create",
	// "account.webhook_secret.rotate", ...
	Action string `json:"action"`
	// Resource is the kind of resource changed (Resource* constants) and
	// ResourceID its identifier.
	Resource   string `json:"resource"`
	ResourceID string `json:"resource_id"`
	// ServiceProvider and Account are the tenant the resource belongs to
	// ("" for the platform); they decide who may list the record.
	ServiceProvider string `json:"service_provider,omitempty"`
	Account         string `json:"account_sid,omitempty"`
	// Fields are the fields changed, for updates.
	Fields []string `json:"fields,omitempty"`
	// Before and After are the resource as the API showed it (secrets
	// masked); null for a creation's Before and a deletion's After.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// AuditQuery selects audit records. Zero fields select everything.
type AuditQuery struct {
	// ServiceProvider and Account, when set, select the records of that
	// service provider (its own and its accounts') and of that account.
	ServiceProvider string
	Account         string
	// Resource selects one kind of resource.
	Resource string
	// Since and Until bound Time (Since inclusive, Until exclusive).
	Since, Until time.Time
	// BeforeID selects records older than this ID (paging backwards);
	// 0 means from the newest.
	BeforeID int64
	// Limit caps the records returned (newest first); 0 means 100.
	Limit int
}

// Driver is what a backend implements to hold the admin API's own data:
// service providers, SMTP settings and the audit log (accounts,
// applications, members, roles and API keys live in the tenancy and rbac
// stores). A driver must be safe for concurrent use, copy what it is given
// and returns, and enforce atomically: service provider IDs and names unique
// (Taken("id"|"name", ...)); revisions (UpdateProvider and PutSMTP succeed
// only from wantRevision, ErrConflict otherwise; PutSMTP with wantRevision 0
// creates, ErrConflict if the owner has settings already); audit IDs
// strictly increasing. Missing records are ErrNotFound (wrapped).
// tenancy/admin/storetest holds the conformance suite; tenancy/admin/memstore
// and tenancy/admin/sqlitestore pass it.
type Driver interface {
	CreateProvider(ctx context.Context, p *ServiceProvider) error
	GetProvider(ctx context.Context, id string) (*ServiceProvider, error)
	// ListProviders returns every service provider, ordered by name.
	ListProviders(ctx context.Context) ([]*ServiceProvider, error)
	UpdateProvider(ctx context.Context, p *ServiceProvider, wantRevision int64) error
	DeleteProvider(ctx context.Context, id string) error

	// GetSMTP returns the SMTP settings of owner ("" is the platform),
	// with the password in plain form.
	GetSMTP(ctx context.Context, owner string) (*SMTPConfig, error)
	PutSMTP(ctx context.Context, owner string, c *SMTPConfig, wantRevision int64) error

	// AppendAudit stores r and sets r.ID.
	AppendAudit(ctx context.Context, r *AuditRecord) error
	// ListAudit returns the records q selects, newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]*AuditRecord, error)

	Close() error
}

// StoreOptions configures a Store. The zero value (or nil) works.
type StoreOptions struct {
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// Logger receives debug records of changes (never secrets). Default:
	// discard.
	Logger *slog.Logger
}

// Store holds service providers, SMTP settings and the audit log over a
// Driver (the portable type owns validation, IDs, timestamps and secret
// handling). It is safe for concurrent use.
type Store struct {
	d      Driver
	now    func() time.Time
	log    *slog.Logger
	closed atomic.Bool
}

// NewStore returns a Store over d. opts may be nil.
func NewStore(d Driver, opts *StoreOptions) *Store {
	var o StoreOptions
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{d: d, now: o.Clock, log: o.Logger}
}

// Driver returns the driver.
func (s *Store) Driver() Driver { return s.d }

// Close closes the driver; later calls fail with ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.d.Close()
}

func (s *Store) ok() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (s *Store) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// CreateProvider validates p, gives it an ID when it has none, revision 1
// and timestamps, and stores it.
func (s *Store) CreateProvider(ctx context.Context, p *ServiceProvider) (*ServiceProvider, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	n := *p
	n.normalize()
	if n.ID == "" {
		n.ID = string(tenancy.NewSID())
	}
	if err := n.validate(); err != nil {
		return nil, err
	}
	n.Revision = 1
	n.CreatedAt = s.stamp()
	n.UpdatedAt = n.CreatedAt
	if err := s.d.CreateProvider(ctx, &n); err != nil {
		return nil, fmt.Errorf("create service provider %q: %w", n.ID, err)
	}
	s.log.DebugContext(ctx, "admin: service provider created", "id", n.ID)
	return &n, nil
}

// Provider returns the service provider with that ID.
func (s *Store) Provider(ctx context.Context, id string) (*ServiceProvider, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	p, err := s.d.GetProvider(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("service provider %q: %w", id, err)
	}
	return p, nil
}

// Providers lists every service provider by name.
func (s *Store) Providers(ctx context.Context) ([]*ServiceProvider, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	return s.d.ListProviders(ctx)
}

// UpdateProvider stores p (whose Revision must be the one read; ErrConflict
// otherwise). The ID and CreatedAt cannot change.
func (s *Store) UpdateProvider(ctx context.Context, p *ServiceProvider) (*ServiceProvider, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	cur, err := s.d.GetProvider(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("update service provider %q: %w", p.ID, err)
	}
	n := *p
	n.normalize()
	if err := n.validate(); err != nil {
		return nil, err
	}
	n.CreatedAt, n.Revision, n.UpdatedAt = cur.CreatedAt, p.Revision+1, s.stamp()
	if err := s.d.UpdateProvider(ctx, &n, p.Revision); err != nil {
		return nil, fmt.Errorf("update service provider %q: %w", p.ID, err)
	}
	return &n, nil
}

// DeleteProvider deletes a service provider. The caller checks first that
// no account belongs to it (the Handler answers 409 otherwise).
func (s *Store) DeleteProvider(ctx context.Context, id string) error {
	if err := s.ok(); err != nil {
		return err
	}
	if err := s.d.DeleteProvider(ctx, id); err != nil {
		return fmt.Errorf("delete service provider %q: %w", id, err)
	}
	return nil
}

// SMTP returns the SMTP settings of owner ("" for the platform); ErrNotFound
// when none were ever saved.
func (s *Store) SMTP(ctx context.Context, owner string) (*SMTPConfig, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	c, err := s.d.GetSMTP(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("SMTP settings of %q: %w", owner, err)
	}
	return c, nil
}

// PutSMTP validates and stores the SMTP settings of owner. c.Revision must
// be the revision read (0 when none exist yet). A password submitted masked
// or empty keeps the stored one (a form saved without retyping it), unless
// the server or username changed: then it must be typed again
// (tenancy.ErrInvalid naming "password"), so a stored password never goes to
// a server it was not entered for.
func (s *Store) PutSMTP(ctx context.Context, owner string, c *SMTPConfig) (*SMTPConfig, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	n := *c
	n.Host = strings.TrimSpace(n.Host)
	n.Username = strings.TrimSpace(n.Username)
	n.MailFrom = strings.TrimSpace(n.MailFrom)
	n.NotificationBCC = strings.TrimSpace(n.NotificationBCC)
	n.SupportEmail = strings.TrimSpace(n.SupportEmail)
	if cur, err := s.d.GetSMTP(ctx, owner); err == nil {
		if err := keepSMTPPassword(&cur.SMTPSettings, &n.SMTPSettings); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("SMTP settings of %q: %w", owner, err)
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	want := c.Revision
	n.Revision, n.UpdatedAt = want+1, s.stamp()
	if err := s.d.PutSMTP(ctx, owner, &n, want); err != nil {
		return nil, fmt.Errorf("save SMTP settings of %q: %w", owner, err)
	}
	return &n, nil
}

// Append stores an audit record, stamping its Time when zero.
func (s *Store) Append(ctx context.Context, r *AuditRecord) error {
	if err := s.ok(); err != nil {
		return err
	}
	if r.Time.IsZero() {
		r.Time = s.stamp()
	}
	return s.d.AppendAudit(ctx, r)
}

// Audit returns the audit records q selects, newest first.
func (s *Store) Audit(ctx context.Context, q AuditQuery) ([]*AuditRecord, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	return s.d.ListAudit(ctx, q)
}

// AuditMatches reports whether q selects r (ignoring Limit): the reference
// semantics every driver's ListAudit implements.
func AuditMatches(r *AuditRecord, q AuditQuery) bool {
	switch {
	case q.ServiceProvider != "" && r.ServiceProvider != q.ServiceProvider,
		q.Account != "" && r.Account != q.Account,
		q.Resource != "" && r.Resource != q.Resource,
		!q.Since.IsZero() && r.Time.Before(q.Since),
		!q.Until.IsZero() && !r.Time.Before(q.Until),
		q.BeforeID > 0 && r.ID >= q.BeforeID:
		return false
	}
	return true
}
