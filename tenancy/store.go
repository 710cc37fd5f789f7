package tenancy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

// Driver is what a backend implements to hold accounts and applications
// (gocloud style: the portable Store owns validation, SID generation,
// timestamps and secret handling; a driver only persists). Drivers live in
// their own packages: tenancy/memstore (in memory) and tenancy/sqlitestore
// (SQLite, the embedded durable default). Every driver must pass
// tenancy/storetest.RunConformanceTests.
//
// A driver must be safe for concurrent use, must not keep or hand out the
// pointers it is given or returns (copy), and must enforce atomically, under
// concurrent writers:
//
//   - unique account names and unique non-empty SIP realms (error: a
//     FieldError made with Taken naming "name" or "sip_realm");
//   - unique application names within an account (Taken naming "name");
//   - revisions: UpdateX succeeds only when the stored revision equals
//     wantRevision (ErrConflict otherwise) and stores the new value as is;
//   - an account's DeviceCallsApplication and SIPRECApplication, when set,
//     name applications of that account (NoSuchApplication otherwise);
//   - an application selected by its account cannot be deleted (ErrInUse);
//   - deleting an account deletes its applications.
//
// Missing records are ErrNotFound (wrapped).
type Driver interface {
	CreateAccount(ctx context.Context, a *Account) error
	GetAccount(ctx context.Context, sid SID) (*Account, error)
	// FindAccount returns the account whose field ("name" or "sip_realm")
	// equals value exactly.
	FindAccount(ctx context.Context, field, value string) (*Account, error)
	// ListAccounts returns the accounts of serviceProvider ("" for all),
	// ordered by name.
	ListAccounts(ctx context.Context, serviceProvider string) ([]*Account, error)
	UpdateAccount(ctx context.Context, a *Account, wantRevision int64) error
	DeleteAccount(ctx context.Context, sid SID) error

	// CreateApplication fails with ErrNotFound when the account is missing.
	CreateApplication(ctx context.Context, app *Application) error
	GetApplication(ctx context.Context, sid SID) (*Application, error)
	// ListApplications returns the applications of account, ordered by name.
	ListApplications(ctx context.Context, account SID) ([]*Application, error)
	UpdateApplication(ctx context.Context, app *Application, wantRevision int64) error
	DeleteApplication(ctx context.Context, sid SID) error

	// Close releases the driver's resources.
	Close() error
}

// NoSuchApplication is the error a driver returns when an account selects an
// application (field FieldDeviceCallsApplication or FieldSIPRECApplication)
// that does not exist in that account.
func NoSuchApplication(field string, sid SID) *FieldError {
	return invalid("account", field, string(sid), "no such application in this account")
}

// StoreOptions configures a Store. The zero value (or nil) works.
type StoreOptions struct {
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// RotationOverlap is how long, after RotateWebhookSecret, webhooks stay
	// signed with the previous secret as well. Default: 24 hours.
	RotationOverlap time.Duration
	// Logger receives debug records of changes (never secrets). Default:
	// discard.
	Logger *slog.Logger
}

// Store holds accounts and applications over a Driver. It is safe for
// concurrent use.
type Store struct {
	d       Driver
	now     func() time.Time
	overlap time.Duration
	log     *slog.Logger
	closed  atomic.Bool
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
	if o.RotationOverlap <= 0 {
		o.RotationOverlap = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{d: d, now: o.Clock, overlap: o.RotationOverlap, log: o.Logger}
}

// Driver returns the driver, for access to backend-specific methods.
func (s *Store) Driver() Driver { return s.d }

// Close closes the driver. Later calls fail with ErrClosed.
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

// CreateAccount validates a, gives it a new SID, a webhook secret when it has
// none, revision 1 and timestamps, turns its SIP users' passwords into
// digests (SIPUser.HA1), stores it and returns the stored account.
// a itself is not modified. Selected applications must be empty on create
// (applications are created after their account).
func (s *Store) CreateAccount(ctx context.Context, a *Account) (*Account, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	n := a.Clone()
	n.Normalize()
	n.SID = NewSID()
	if n.WebhookSecret.IsZero() {
		n.WebhookSecret = NewWebhookSecret()
	}
	n.PreviousWebhookSecret, n.PreviousWebhookSecretUntil = "", time.Time{}
	for i := range n.SIP.Users {
		n.SIP.Users[i].HA1 = DigestHA1{} // digests come from passwords only
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	n.SIP.HashPasswords(n.DigestRealm())
	if n.DeviceCallsApplication != "" {
		return nil, NoSuchApplication(FieldDeviceCallsApplication, n.DeviceCallsApplication)
	}
	if n.SIPRECApplication != "" {
		return nil, NoSuchApplication(FieldSIPRECApplication, n.SIPRECApplication)
	}
	n.Revision = 1
	n.CreatedAt = s.stamp()
	n.UpdatedAt = n.CreatedAt
	if err := s.d.CreateAccount(ctx, n); err != nil {
		return nil, fmt.Errorf("create account %q: %w", n.Name, err)
	}
	s.log.DebugContext(ctx, "tenancy: account created", "sid", n.SID, "name", n.Name)
	return n.Clone(), nil
}

// Account returns the account with that SID.
func (s *Store) Account(ctx context.Context, sid SID) (*Account, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	a, err := s.d.GetAccount(ctx, sid)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", sid, err)
	}
	return a, nil
}

// AccountByRealm returns the account whose SIP realm is realm (compared
// without case and trailing dot). The SIP guard finds the tenant of a request
// with it.
func (s *Store) AccountByRealm(ctx context.Context, realm string) (*Account, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	r := CanonicalRealm(realm)
	if r == "" {
		return nil, fmt.Errorf("account with realm %q: %w", realm, ErrNotFound)
	}
	a, err := s.d.FindAccount(ctx, FieldSIPRealm, r)
	if err != nil {
		return nil, fmt.Errorf("account with realm %q: %w", realm, err)
	}
	return a, nil
}

// AccountByName returns the account named name (after trimming spaces).
func (s *Store) AccountByName(ctx context.Context, name string) (*Account, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	a, err := s.d.FindAccount(ctx, FieldName, strings.TrimSpace(name))
	if err != nil {
		return nil, fmt.Errorf("account named %q: %w", name, err)
	}
	return a, nil
}

// Accounts lists the accounts of a service provider ("" for all), by name.
func (s *Store) Accounts(ctx context.Context, serviceProvider string) ([]*Account, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	return s.d.ListAccounts(ctx, serviceProvider)
}

// UpdateAccount stores a as the new state of account a.SID. a.Revision must be
// the revision read; a concurrent change makes it fail with ErrConflict.
//
// Secrets submitted in their masked form (as shown back to the operator) or
// empty keep the stored value (the webhook secret, bucket credentials, and
// the digests of a SIP user of the same username), so a form saved without
// retyping a secret does not erase it. SIP passwords are stored as digests
// of the account's digest realm (SIPUser.HA1): when the realm changes
// (Account.DigestRealm), every SIP user needs its password again, and an
// update without them fails with one FieldError per user wrapping
// ErrPasswordNeeded. The previous webhook secret is kept (only
// RotateWebhookSecret changes it). SID and CreatedAt cannot change.
func (s *Store) UpdateAccount(ctx context.Context, a *Account) (*Account, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	cur, err := s.d.GetAccount(ctx, a.SID)
	if err != nil {
		return nil, fmt.Errorf("update account %q: %w", a.SID, err)
	}
	n := a.Clone()
	n.Normalize()
	n.WebhookSecret = cur.WebhookSecret.Keep(n.WebhookSecret)
	n.PreviousWebhookSecret, n.PreviousWebhookSecretUntil = cur.PreviousWebhookSecret, cur.PreviousWebhookSecretUntil
	if err := n.Recording.keepSecrets(&cur.Recording); err != nil {
		return nil, err
	}
	n.SIP.keepSecrets(&cur.SIP)
	n.CreatedAt = cur.CreatedAt
	if err := n.Validate(); err != nil {
		return nil, err
	}
	n.SIP.HashPasswords(n.DigestRealm())
	want := a.Revision
	n.Revision = want + 1
	n.UpdatedAt = s.stamp()
	if err := s.d.UpdateAccount(ctx, n, want); err != nil {
		return nil, fmt.Errorf("update account %q: %w", a.SID, err)
	}
	s.log.DebugContext(ctx, "tenancy: account updated", "sid", n.SID, "revision", n.Revision)
	return n.Clone(), nil
}

// RotateWebhookSecret gives the account a new webhook secret and keeps the
// old one as PreviousWebhookSecret for the rotation overlap, during which
// webhooks are signed with both (see Account.WebhookSecrets). It retries on a
// concurrent change and returns the updated account.
func (s *Store) RotateWebhookSecret(ctx context.Context, sid SID) (*Account, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	for {
		cur, err := s.d.GetAccount(ctx, sid)
		if err != nil {
			return nil, fmt.Errorf("rotate webhook secret of %q: %w", sid, err)
		}
		now := s.stamp()
		n := cur.Clone()
		n.PreviousWebhookSecret = cur.WebhookSecret
		n.PreviousWebhookSecretUntil = now.Add(s.overlap)
		n.WebhookSecret = NewWebhookSecret()
		n.Revision = cur.Revision + 1
		n.UpdatedAt = now
		err = s.d.UpdateAccount(ctx, n, cur.Revision)
		if err == nil {
			s.log.InfoContext(ctx, "tenancy: webhook secret rotated", "sid", sid, "overlap", s.overlap)
			return n.Clone(), nil
		}
		if !errors.Is(err, ErrConflict) || ctx.Err() != nil {
			return nil, fmt.Errorf("rotate webhook secret of %q: %w", sid, err)
		}
	}
}

// DeleteAccount deletes the account and its applications.
func (s *Store) DeleteAccount(ctx context.Context, sid SID) error {
	if err := s.ok(); err != nil {
		return err
	}
	if err := s.d.DeleteAccount(ctx, sid); err != nil {
		return fmt.Errorf("delete account %q: %w", sid, err)
	}
	s.log.DebugContext(ctx, "tenancy: account deleted", "sid", sid)
	return nil
}

// CreateApplication validates app, gives it a SID, revision 1 and
// timestamps, and stores it in its account (which must exist).
func (s *Store) CreateApplication(ctx context.Context, app *Application) (*Application, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	n := app.Clone()
	n.Normalize()
	n.SID = NewSID()
	if err := n.Validate(); err != nil {
		return nil, err
	}
	n.Revision = 1
	n.CreatedAt = s.stamp()
	n.UpdatedAt = n.CreatedAt
	if err := s.d.CreateApplication(ctx, n); err != nil {
		return nil, fmt.Errorf("create application %q in account %q: %w", n.Name, n.Account, err)
	}
	return n.Clone(), nil
}

// Application returns the application with that SID.
func (s *Store) Application(ctx context.Context, sid SID) (*Application, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	a, err := s.d.GetApplication(ctx, sid)
	if err != nil {
		return nil, fmt.Errorf("application %q: %w", sid, err)
	}
	return a, nil
}

// Applications lists the applications of an account, by name.
func (s *Store) Applications(ctx context.Context, account SID) ([]*Application, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	return s.d.ListApplications(ctx, account)
}

// UpdateApplication stores app as the new state of app.SID; app.Revision must
// be the revision read (ErrConflict otherwise). The account cannot change.
func (s *Store) UpdateApplication(ctx context.Context, app *Application) (*Application, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	cur, err := s.d.GetApplication(ctx, app.SID)
	if err != nil {
		return nil, fmt.Errorf("update application %q: %w", app.SID, err)
	}
	n := app.Clone()
	n.Normalize()
	if n.Account != cur.Account {
		return nil, invalid("application", "account_sid", string(n.Account), "cannot move an application to another account")
	}
	n.CreatedAt = cur.CreatedAt
	if err := n.Validate(); err != nil {
		return nil, err
	}
	want := app.Revision
	n.Revision = want + 1
	n.UpdatedAt = s.stamp()
	if err := s.d.UpdateApplication(ctx, n, want); err != nil {
		return nil, fmt.Errorf("update application %q: %w", app.SID, err)
	}
	return n.Clone(), nil
}

// DeleteApplication deletes an application; it fails with ErrInUse while its
// account selects it for SIP device calls or SIPREC calls.
func (s *Store) DeleteApplication(ctx context.Context, sid SID) error {
	if err := s.ok(); err != nil {
		return err
	}
	if err := s.d.DeleteApplication(ctx, sid); err != nil {
		return fmt.Errorf("delete application %q: %w", sid, err)
	}
	return nil
}

// Decide loads the account and (when appSID is not empty) the application
// and applies the recording policy (see the function Decide).
func (s *Store) Decide(ctx context.Context, account, appSID SID) (RecordingDecision, error) {
	acct, err := s.Account(ctx, account)
	if err != nil {
		return RecordingDecision{}, err
	}
	var app *Application
	if appSID != "" {
		if app, err = s.Application(ctx, appSID); err != nil {
			return RecordingDecision{}, err
		}
	}
	return Decide(acct, app), nil
}
