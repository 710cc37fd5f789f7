// Package sqlitestore is the SQLite driver of tenancy.Store
// (modernc.org/sqlite, pure Go): the embedded durable default.
//
// Uniqueness of account names, SIP realms and application names is enforced
// by UNIQUE indexes; revision checks, the checks on selected applications and
// deletions run in IMMEDIATE transactions, so they hold under concurrent
// writers in one process and across processes sharing the database file on
// one host (WAL mode). Secrets are stored in plain form (webhook secrets,
// bucket credentials through bucketconfig.Config.MarshalStored, SIP passwords
// through tenancy.SIPAccess.MarshalStored): protect the file as you would a
// credentials file.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

// SchemaName is the name under which the schema is versioned in the
// database's schema_versions table.
const SchemaName = "tenancy"

var schema = []string{`
CREATE TABLE tenancy_accounts (
	sid                       TEXT PRIMARY KEY,
	name                      TEXT NOT NULL UNIQUE,
	service_provider          TEXT NOT NULL DEFAULT '',
	unit                      TEXT NOT NULL,
	max_units                 INTEGER NOT NULL,
	licensed_sessions         INTEGER NOT NULL,
	sip_realm                 TEXT UNIQUE,
	webhook_secret            TEXT NOT NULL,
	prev_webhook_secret       TEXT NOT NULL DEFAULT '',
	prev_webhook_secret_until INTEGER,
	device_calls_application  TEXT NOT NULL DEFAULT '',
	siprec_application        TEXT NOT NULL DEFAULT '',
	registration_webhook      TEXT NOT NULL DEFAULT '',
	queue_event_webhook       TEXT NOT NULL DEFAULT '',
	rec_enabled               INTEGER NOT NULL,
	rec_format                TEXT NOT NULL,
	rec_bucket                TEXT NOT NULL DEFAULT '',
	rec_all_calls             INTEGER NOT NULL,
	call_attached_data        TEXT NOT NULL DEFAULT '[]',
	revision                  INTEGER NOT NULL,
	created_at                INTEGER NOT NULL,
	updated_at                INTEGER NOT NULL
);
CREATE INDEX tenancy_accounts_sp ON tenancy_accounts(service_provider, name);
CREATE TABLE tenancy_applications (
	sid              TEXT PRIMARY KEY,
	account_sid      TEXT NOT NULL REFERENCES tenancy_accounts(sid) ON DELETE CASCADE,
	name             TEXT NOT NULL,
	record_all_calls INTEGER NOT NULL,
	revision         INTEGER NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	UNIQUE(account_sid, name)
);`, `
ALTER TABLE tenancy_accounts ADD COLUMN session_webhook TEXT NOT NULL DEFAULT '';
ALTER TABLE tenancy_accounts ADD COLUMN sip TEXT NOT NULL DEFAULT '';
ALTER TABLE tenancy_accounts ADD COLUMN rec_bucket_url TEXT NOT NULL DEFAULT '';`}

// Driver is the SQLite tenancy.Driver.
type Driver struct {
	db *sql.DB
	st *sqlitedb.Store
}

var _ tenancy.Driver = (*Driver)(nil)

// Open opens (creating if needed) the database file at path (":memory:" for
// a private in-memory database) and brings its schema up to date. Close
// closes the database.
func Open(ctx context.Context, path string) (*Driver, error) {
	st, err := sqlitedb.OpenStore(ctx, path, SchemaName, schema)
	if err != nil {
		return nil, err
	}
	return &Driver{db: st.DB(), st: st}, nil
}

// New uses db, opened with internal/sqlitedb.Open (other stores may share it),
// and brings the schema up to date. Close leaves db open.
func New(ctx context.Context, db *sql.DB) (*Driver, error) {
	st, err := sqlitedb.NewStore(ctx, db, SchemaName, schema)
	if err != nil {
		return nil, err
	}
	return &Driver{db: db, st: st}, nil
}

// DB returns the database.
func (d *Driver) DB() *sql.DB { return d.db }

// Close implements tenancy.Driver.
func (d *Driver) Close() error {
	return d.st.Close()
}

func (d *Driver) check() error {
	if d.st.Closed() {
		return tenancy.ErrClosed
	}
	return nil
}

const accountCols = `sid, name, service_provider, unit, max_units, licensed_sessions, sip_realm,
	webhook_secret, prev_webhook_secret, prev_webhook_secret_until, device_calls_application,
	siprec_application, registration_webhook, queue_event_webhook, rec_enabled, rec_format,
	rec_bucket, rec_all_calls, call_attached_data, revision, created_at, updated_at,
	session_webhook, sip, rec_bucket_url`

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// accountArgs returns the column values of a, in accountCols order.
func accountArgs(a *tenancy.Account) ([]any, error) {
	bucket := ""
	if !a.Recording.Bucket.IsZero() {
		b, err := a.Recording.Bucket.MarshalStored()
		if err != nil {
			return nil, err
		}
		bucket = string(b)
	}
	cad := a.CallAttachedData
	if cad == nil {
		cad = []tenancy.CADField{}
	}
	cadJSON, err := json.Marshal(cad)
	if err != nil {
		return nil, err
	}
	sipAccess := ""
	if !a.SIP.IsZero() {
		b, err := a.SIP.MarshalStored()
		if err != nil {
			return nil, err
		}
		sipAccess = string(b)
	}
	var prevUntil any
	if !a.PreviousWebhookSecretUntil.IsZero() {
		prevUntil = sqlitedb.Micros(a.PreviousWebhookSecretUntil)
	}
	return []any{
		string(a.SID), a.Name, a.ServiceProvider, string(a.Unit), a.MaxUnits, a.LicensedSessions,
		sqlitedb.NullString(a.SIPRealm), a.WebhookSecret.Reveal(), a.PreviousWebhookSecret.Reveal(), prevUntil,
		string(a.DeviceCallsApplication), string(a.SIPRECApplication), a.RegistrationWebhook,
		a.QueueEventWebhook, b2i(a.Recording.Enabled), string(a.Recording.Format), bucket,
		b2i(a.Recording.RecordAllCalls), string(cadJSON), a.Revision, sqlitedb.Micros(a.CreatedAt), sqlitedb.Micros(a.UpdatedAt),
		a.SessionWebhook, sipAccess, a.Recording.BucketURL,
	}, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanAccount(row scanner) (*tenancy.Account, error) {
	var (
		a                 tenancy.Account
		sid, unit, format string
		realm             sql.NullString
		secret, prev      string
		prevUntil         sql.NullInt64
		device, siprec    string
		bucket, cad       string
		sipAccess         string
		enabled, all      int
		created, updated  int64
	)
	err := row.Scan(&sid, &a.Name, &a.ServiceProvider, &unit, &a.MaxUnits, &a.LicensedSessions, &realm,
		&secret, &prev, &prevUntil, &device, &siprec, &a.RegistrationWebhook, &a.QueueEventWebhook,
		&enabled, &format, &bucket, &all, &cad, &a.Revision, &created, &updated,
		&a.SessionWebhook, &sipAccess, &a.Recording.BucketURL)
	if err != nil {
		return nil, err
	}
	a.SID, a.Unit, a.SIPRealm = tenancy.SID(sid), tenancy.Unit(unit), realm.String
	a.WebhookSecret, a.PreviousWebhookSecret = tenancy.Secret(secret), tenancy.Secret(prev)
	if prevUntil.Valid {
		a.PreviousWebhookSecretUntil = sqlitedb.FromMicros(prevUntil.Int64)
	}
	a.DeviceCallsApplication, a.SIPRECApplication = tenancy.SID(device), tenancy.SID(siprec)
	a.Recording.Enabled, a.Recording.RecordAllCalls = enabled != 0, all != 0
	a.Recording.Format = tenancy.AudioFormat(format)
	if bucket != "" {
		var c bucketconfig.Config
		if err := c.UnmarshalStored([]byte(bucket)); err != nil {
			return nil, fmt.Errorf("sqlitestore: account %s: bucket configuration: %w", sid, err)
		}
		a.Recording.Bucket = c
	}
	if sipAccess != "" {
		if err := a.SIP.UnmarshalStored([]byte(sipAccess)); err != nil {
			return nil, fmt.Errorf("sqlitestore: account %s: SIP access: %w", sid, err)
		}
	}
	if err := json.Unmarshal([]byte(cad), &a.CallAttachedData); err != nil {
		return nil, fmt.Errorf("sqlitestore: account %s: call attached data: %w", sid, err)
	}
	if len(a.CallAttachedData) == 0 {
		a.CallAttachedData = nil
	}
	a.CreatedAt, a.UpdatedAt = sqlitedb.FromMicros(created), sqlitedb.FromMicros(updated)
	return &a, nil
}

// mapErr turns a UNIQUE violation into the FieldError naming the field.
func mapErr(err error, entity, name, realm string) error {
	if err == nil || !sqlitedb.IsConstraint(err) {
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "tenancy_accounts.sip_realm"):
		return tenancy.Taken(entity, tenancy.FieldSIPRealm, realm)
	case strings.Contains(msg, "tenancy_accounts.name"), strings.Contains(msg, "tenancy_applications.account_sid, tenancy_applications.name"):
		return tenancy.Taken(entity, tenancy.FieldName, name)
	case strings.Contains(msg, ".sid"):
		return tenancy.Taken(entity, "sid", "")
	}
	return err
}

// CreateAccount implements tenancy.Driver.
func (d *Driver) CreateAccount(ctx context.Context, a *tenancy.Account) error {
	if err := d.check(); err != nil {
		return err
	}
	args, err := accountArgs(a)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO tenancy_accounts(`+accountCols+`)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, args...)
	return mapErr(err, "account", a.Name, a.SIPRealm)
}

// GetAccount implements tenancy.Driver.
func (d *Driver) GetAccount(ctx context.Context, sid tenancy.SID) (*tenancy.Account, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	a, err := scanAccount(d.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM tenancy_accounts WHERE sid = ?`, string(sid)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("account %q: %w", sid, tenancy.ErrNotFound)
	}
	return a, err
}

// FindAccount implements tenancy.Driver.
func (d *Driver) FindAccount(ctx context.Context, field, value string) (*tenancy.Account, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var col string
	switch field {
	case tenancy.FieldName:
		col = "name"
	case tenancy.FieldSIPRealm:
		col = "sip_realm"
	default:
		return nil, fmt.Errorf("sqlitestore: cannot find accounts by %q: %w", field, tenancy.ErrInvalid)
	}
	a, err := scanAccount(d.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM tenancy_accounts WHERE `+col+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("account with %s %q: %w", field, value, tenancy.ErrNotFound)
	}
	return a, err
}

// ListAccounts implements tenancy.Driver.
func (d *Driver) ListAccounts(ctx context.Context, serviceProvider string) ([]*tenancy.Account, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	q := `SELECT ` + accountCols + ` FROM tenancy_accounts`
	var args []any
	if serviceProvider != "" {
		q += ` WHERE service_provider = ?`
		args = append(args, serviceProvider)
	}
	rows, err := d.db.QueryContext(ctx, q+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*tenancy.Account{}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UpdateAccount implements tenancy.Driver.
func (d *Driver) UpdateAccount(ctx context.Context, a *tenancy.Account, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	args, err := accountArgs(a)
	if err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var rev int64
	err = tx.QueryRowContext(ctx, `SELECT revision FROM tenancy_accounts WHERE sid = ?`, string(a.SID)).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("account %q: %w", a.SID, tenancy.ErrNotFound)
	} else if err != nil {
		return err
	}
	if rev != wantRevision {
		return fmt.Errorf("account %q at revision %d, update from %d: %w", a.SID, rev, wantRevision, tenancy.ErrConflict)
	}
	for _, f := range []struct {
		name string
		sid  tenancy.SID
	}{{tenancy.FieldDeviceCallsApplication, a.DeviceCallsApplication}, {tenancy.FieldSIPRECApplication, a.SIPRECApplication}} {
		if f.sid == "" {
			continue
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tenancy_applications WHERE sid = ? AND account_sid = ?`,
			string(f.sid), string(a.SID)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return tenancy.NoSuchApplication(f.name, f.sid)
		}
	}
	cols := strings.Split(accountCols, ",")
	set := make([]string, 0, len(cols))
	for _, c := range cols[1:] {
		set = append(set, strings.TrimSpace(c)+" = ?")
	}
	_, err = tx.ExecContext(ctx, `UPDATE tenancy_accounts SET `+strings.Join(set, ", ")+` WHERE sid = ?`,
		append(args[1:], args[0])...)
	if err != nil {
		return mapErr(err, "account", a.Name, a.SIPRealm)
	}
	return tx.Commit()
}

// DeleteAccount implements tenancy.Driver.
func (d *Driver) DeleteAccount(ctx context.Context, sid tenancy.SID) error {
	if err := d.check(); err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, `DELETE FROM tenancy_accounts WHERE sid = ?`, string(sid))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("account %q: %w", sid, tenancy.ErrNotFound)
	}
	return nil
}

const appCols = `sid, account_sid, name, record_all_calls, revision, created_at, updated_at`

func scanApp(row scanner) (*tenancy.Application, error) {
	var (
		a                tenancy.Application
		sid, acct        string
		all              int
		created, updated int64
	)
	if err := row.Scan(&sid, &acct, &a.Name, &all, &a.Revision, &created, &updated); err != nil {
		return nil, err
	}
	a.SID, a.Account, a.RecordAllCalls = tenancy.SID(sid), tenancy.SID(acct), all != 0
	a.CreatedAt, a.UpdatedAt = sqlitedb.FromMicros(created), sqlitedb.FromMicros(updated)
	return &a, nil
}

// CreateApplication implements tenancy.Driver.
func (d *Driver) CreateApplication(ctx context.Context, app *tenancy.Application) error {
	if err := d.check(); err != nil {
		return err
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO tenancy_applications(`+appCols+`) VALUES(?,?,?,?,?,?,?)`,
		string(app.SID), string(app.Account), app.Name, b2i(app.RecordAllCalls), app.Revision,
		sqlitedb.Micros(app.CreatedAt), sqlitedb.Micros(app.UpdatedAt))
	if err != nil && strings.Contains(err.Error(), "FOREIGN KEY") {
		return fmt.Errorf("account %q: %w", app.Account, tenancy.ErrNotFound)
	}
	return mapErr(err, "application", app.Name, "")
}

// GetApplication implements tenancy.Driver.
func (d *Driver) GetApplication(ctx context.Context, sid tenancy.SID) (*tenancy.Application, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	a, err := scanApp(d.db.QueryRowContext(ctx, `SELECT `+appCols+` FROM tenancy_applications WHERE sid = ?`, string(sid)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("application %q: %w", sid, tenancy.ErrNotFound)
	}
	return a, err
}

// ListApplications implements tenancy.Driver.
func (d *Driver) ListApplications(ctx context.Context, account tenancy.SID) ([]*tenancy.Application, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+appCols+` FROM tenancy_applications WHERE account_sid = ? ORDER BY name`, string(account))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*tenancy.Application{}
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UpdateApplication implements tenancy.Driver.
func (d *Driver) UpdateApplication(ctx context.Context, app *tenancy.Application, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var rev int64
	var acct string
	err = tx.QueryRowContext(ctx, `SELECT revision, account_sid FROM tenancy_applications WHERE sid = ?`, string(app.SID)).Scan(&rev, &acct)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("application %q: %w", app.SID, tenancy.ErrNotFound)
	} else if err != nil {
		return err
	}
	if rev != wantRevision {
		return fmt.Errorf("application %q at revision %d, update from %d: %w", app.SID, rev, wantRevision, tenancy.ErrConflict)
	}
	if acct != string(app.Account) {
		return fmt.Errorf("sqlitestore: application %q cannot change account: %w", app.SID, tenancy.ErrInvalid)
	}
	_, err = tx.ExecContext(ctx, `UPDATE tenancy_applications SET name = ?, record_all_calls = ?, revision = ?, updated_at = ? WHERE sid = ?`,
		app.Name, b2i(app.RecordAllCalls), app.Revision, sqlitedb.Micros(app.UpdatedAt), string(app.SID))
	if err != nil {
		return mapErr(err, "application", app.Name, "")
	}
	return tx.Commit()
}

// DeleteApplication implements tenancy.Driver.
func (d *Driver) DeleteApplication(ctx context.Context, sid tenancy.SID) error {
	if err := d.check(); err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var device, siprec string
	err = tx.QueryRowContext(ctx, `SELECT a.device_calls_application, a.siprec_application
		FROM tenancy_applications p JOIN tenancy_accounts a ON a.sid = p.account_sid WHERE p.sid = ?`, string(sid)).Scan(&device, &siprec)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("application %q: %w", sid, tenancy.ErrNotFound)
	} else if err != nil {
		return err
	}
	switch string(sid) {
	case device:
		return fmt.Errorf("application %q is the account's %s: %w", sid, tenancy.FieldDeviceCallsApplication, tenancy.ErrInUse)
	case siprec:
		return fmt.Errorf("application %q is the account's %s: %w", sid, tenancy.FieldSIPRECApplication, tenancy.ErrInUse)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tenancy_applications WHERE sid = ?`, string(sid)); err != nil {
		return err
	}
	return tx.Commit()
}
