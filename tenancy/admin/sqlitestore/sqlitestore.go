// Package sqlitestore is the SQLite driver of admin.Store (service providers,
// SMTP settings, the audit log) on modernc.org/sqlite (pure Go): the embedded
// durable default. It shares a database with tenancy's and rbac's SQLite
// drivers when given the same *sql.DB (New), each store with its own tables
// and schema version.
//
// UNIQUE indexes keep service provider IDs and names unique; revision checks
// run in IMMEDIATE transactions (internal/sqlitedb opens every transaction
// so), so they hold under concurrent writers in one process or several
// sharing the file on one host. The SMTP password, which an SMTP client
// must present, is sealed with the database's tenancy.SealingKey (the one
// tenancy/sqlitestore uses: see tenancy/sqlitestore.SealingKeyFor), never
// stored in clear; SMTP settings written before sealing are sealed when the
// database is opened. Audit records keep the API's masked form of secrets
// only.
//
// Constructors, as in every voicegw driver package: OpenStore opens a
// database file and returns the portable *admin.Store (closing it closes the
// file); NewStore does the same on a database opened by OpenDB and shared
// with tenancy's and rbac's stores; OpenDriver and NewDriver return the
// driver itself.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	tenancysqlite "github.com/voicegw/voicegw/tenancy/sqlitestore"
)

// SchemaName versions the schema in the database's schema_versions table.
const SchemaName = "tenancy_admin"

var schema = []string{`
CREATE TABLE admin_service_providers (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL,
	revision    INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE TABLE admin_smtp (
	owner                  TEXT PRIMARY KEY,
	host                   TEXT NOT NULL,
	port                   INTEGER NOT NULL,
	secure                 INTEGER NOT NULL,
	skip_certificate_check INTEGER NOT NULL,
	username               TEXT NOT NULL,
	password               TEXT NOT NULL,
	mail_from              TEXT NOT NULL,
	notification_bcc       TEXT NOT NULL,
	support_email          TEXT NOT NULL,
	revision               INTEGER NOT NULL,
	updated_at             INTEGER NOT NULL
);
CREATE TABLE admin_audit (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	time             INTEGER NOT NULL,
	actor            TEXT NOT NULL,
	actor_email      TEXT NOT NULL,
	action           TEXT NOT NULL,
	resource         TEXT NOT NULL,
	resource_id      TEXT NOT NULL,
	service_provider TEXT NOT NULL,
	account_sid      TEXT NOT NULL,
	fields           TEXT NOT NULL,
	before_json      TEXT,
	after_json       TEXT
);
CREATE INDEX admin_audit_account ON admin_audit(account_sid, id);
CREATE INDEX admin_audit_sp ON admin_audit(service_provider, id);`, `
ALTER TABLE admin_smtp ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;`}

// Driver is the SQLite admin.Driver.
type Driver struct {
	db  *sql.DB
	st  *sqlitedb.Store
	key *tenancy.SealingKey
}

var _ admin.Driver = (*Driver)(nil)

// Options configures the driver and the store over it. The zero value (or
// nil) works.
type Options struct {
	// StoreOptions configure the admin.Store of OpenStore and NewStore.
	admin.StoreOptions
	// SealingKey and KeyFile find the key that seals the SMTP passwords,
	// as for tenancy/sqlitestore (whose Options these fields mean the same
	// in): by default the key file beside the database, shared with the
	// tenancy store of the same database.
	SealingKey *tenancy.SealingKey
	KeyFile    string
}

// OpenDB opens (creating if needed) the SQLite database at path as every
// voicegw store needs it (tenancy/sqlitestore.OpenDB).
func OpenDB(ctx context.Context, path string) (*sql.DB, error) { return sqlitedb.Open(ctx, path) }

// OpenStore opens (creating if needed) the database file at path
// (":memory:" for a private in-memory one) and returns the store over it;
// closing the store closes the database. opts may be nil.
func OpenStore(ctx context.Context, path string, opts *Options) (*admin.Store, error) {
	d, err := OpenDriver(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	return admin.NewStore(d, opts.storeOptions()), nil
}

// NewStore returns the store over db, opened with OpenDB (tenancy's and
// rbac's stores may share it); closing the store leaves db open.
func NewStore(ctx context.Context, db *sql.DB, opts *Options) (*admin.Store, error) {
	d, err := NewDriver(ctx, db, opts)
	if err != nil {
		return nil, err
	}
	return admin.NewStore(d, opts.storeOptions()), nil
}

// OpenDriver is OpenStore's driver itself; Close closes the database.
func OpenDriver(ctx context.Context, path string, opts *Options) (*Driver, error) {
	st, err := sqlitedb.OpenStore(ctx, path, SchemaName, schema)
	if err != nil {
		return nil, err
	}
	d, err := newDriver(ctx, st, opts)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return d, nil
}

// NewDriver is NewStore's driver itself; Close leaves db open.
func NewDriver(ctx context.Context, db *sql.DB, opts *Options) (*Driver, error) {
	st, err := sqlitedb.NewStore(ctx, db, SchemaName, schema)
	if err != nil {
		return nil, err
	}
	return newDriver(ctx, st, opts)
}

func (o *Options) storeOptions() *admin.StoreOptions {
	if o == nil {
		return nil
	}
	so := o.StoreOptions
	return &so
}

func newDriver(ctx context.Context, st *sqlitedb.Store, opts *Options) (*Driver, error) {
	var ko tenancysqlite.Options
	if opts != nil {
		ko.SealingKey, ko.KeyFile = opts.SealingKey, opts.KeyFile
	}
	key, err := tenancysqlite.SealingKeyFor(ctx, st.DB(), &ko)
	if err != nil {
		return nil, err
	}
	d := &Driver{db: st.DB(), st: st, key: key}
	if err := d.sealClearRows(ctx); err != nil {
		return nil, fmt.Errorf("sqlitestore: sealing SMTP passwords: %w", err)
	}
	return d, nil
}

// where names the place a password is sealed for.
func where(owner string) string { return "admin_smtp.password/" + owner }

func (d *Driver) seal(password secret.String, owner string) string {
	if password.IsZero() {
		return ""
	}
	return base64.StdEncoding.EncodeToString(d.key.Seal([]byte(password.Reveal()), where(owner)))
}

func (d *Driver) open(stored, owner string) (secret.String, error) {
	if stored == "" {
		return "", nil
	}
	raw, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return "", fmt.Errorf("%w: %s: not a sealed value", tenancy.ErrWrongSealingKey, where(owner))
	}
	plain, err := d.key.Open(raw, where(owner))
	return secret.String(plain), err
}

// sealClearRows seals the SMTP passwords stored before sealing,
// overwriting the old bytes.
func (d *Driver) sealClearRows(ctx context.Context) error {
	var pending int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM admin_smtp WHERE sealed = 0`).Scan(&pending); err != nil || pending == 0 {
		return err
	}
	return sqlitedb.Scrub(ctx, d.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT owner, password FROM admin_smtp WHERE sealed = 0`)
		if err != nil {
			return err
		}
		type row struct{ owner, password string }
		var clear []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.owner, &r.password); err != nil {
				rows.Close()
				return err
			}
			clear = append(clear, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range clear {
			if _, err := tx.ExecContext(ctx, `UPDATE admin_smtp SET password = ?, sealed = 1 WHERE owner = ?`,
				d.seal(secret.String(r.password), r.owner), r.owner); err != nil {
				return err
			}
		}
		return nil
	})
}

// DB returns the database.
func (d *Driver) DB() *sql.DB { return d.db }

// Close implements admin.Driver.
func (d *Driver) Close() error { return d.st.Close() }

func (d *Driver) check() error {
	if d.st.Closed() {
		return admin.ErrClosed
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// taken maps a UNIQUE violation to admin.Taken naming the column.
func taken(err error, p *admin.ServiceProvider) error {
	if !sqlitedb.IsConstraint(err) {
		return err
	}
	if strings.Contains(err.Error(), "admin_service_providers.name") {
		return admin.Taken("name", p.Name)
	}
	return admin.Taken("id", p.ID)
}

// CreateProvider implements admin.Driver.
func (d *Driver) CreateProvider(ctx context.Context, p *admin.ServiceProvider) error {
	if err := d.check(); err != nil {
		return err
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO admin_service_providers(id, name, description, revision, created_at, updated_at)
		VALUES(?, ?, ?, ?, ?, ?)`, p.ID, p.Name, p.Description, p.Revision, sqlitedb.Micros(p.CreatedAt), sqlitedb.Micros(p.UpdatedAt))
	if err != nil {
		return taken(err, p)
	}
	return nil
}

const providerCols = `id, name, description, revision, created_at, updated_at`

func scanProvider(sc interface{ Scan(...any) error }) (*admin.ServiceProvider, error) {
	var p admin.ServiceProvider
	var created, updated int64
	if err := sc.Scan(&p.ID, &p.Name, &p.Description, &p.Revision, &created, &updated); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = sqlitedb.FromMicros(created), sqlitedb.FromMicros(updated)
	return &p, nil
}

// GetProvider implements admin.Driver.
func (d *Driver) GetProvider(ctx context.Context, id string) (*admin.ServiceProvider, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	p, err := scanProvider(d.db.QueryRowContext(ctx, `SELECT `+providerCols+` FROM admin_service_providers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("service provider %q: %w", id, admin.ErrNotFound)
	}
	return p, err
}

// ListProviders implements admin.Driver.
func (d *Driver) ListProviders(ctx context.Context) ([]*admin.ServiceProvider, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+providerCols+` FROM admin_service_providers ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*admin.ServiceProvider
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UpdateProvider implements admin.Driver.
func (d *Driver) UpdateProvider(ctx context.Context, p *admin.ServiceProvider, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var have int64
	err = tx.QueryRowContext(ctx, `SELECT revision FROM admin_service_providers WHERE id = ?`, p.ID).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("service provider %q: %w", p.ID, admin.ErrNotFound)
	} else if err != nil {
		return err
	}
	if have != wantRevision {
		return fmt.Errorf("service provider %q at revision %d, not %d: %w", p.ID, have, wantRevision, admin.ErrConflict)
	}
	_, err = tx.ExecContext(ctx, `UPDATE admin_service_providers SET name = ?, description = ?, revision = ?, created_at = ?, updated_at = ? WHERE id = ?`,
		p.Name, p.Description, p.Revision, sqlitedb.Micros(p.CreatedAt), sqlitedb.Micros(p.UpdatedAt), p.ID)
	if err != nil {
		return taken(err, p)
	}
	return tx.Commit()
}

// DeleteProvider implements admin.Driver.
func (d *Driver) DeleteProvider(ctx context.Context, id string) error {
	if err := d.check(); err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, `DELETE FROM admin_service_providers WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("service provider %q: %w", id, admin.ErrNotFound)
	}
	return nil
}

// GetSMTP implements admin.Driver.
func (d *Driver) GetSMTP(ctx context.Context, owner string) (*admin.SMTPConfig, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var c admin.SMTPConfig
	var secure, skip, sealed int
	var password string
	var updated int64
	err := d.db.QueryRowContext(ctx, `SELECT host, port, secure, skip_certificate_check, username, password, mail_from,
		notification_bcc, support_email, revision, updated_at, sealed FROM admin_smtp WHERE owner = ?`, owner).Scan(
		&c.Host, &c.Port, &secure, &skip, &c.Username, &password, &c.MailFrom, &c.NotificationBCC, &c.SupportEmail, &c.Revision, &updated, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("SMTP settings of %q: %w", owner, admin.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	c.Secure, c.SkipCertificateCheck = secure != 0, skip != 0
	c.Password = secret.String(password)
	if sealed != 0 {
		if c.Password, err = d.open(password, owner); err != nil {
			return nil, fmt.Errorf("sqlitestore: SMTP settings of %q: %w", owner, err)
		}
	}
	c.UpdatedAt = sqlitedb.FromMicros(updated)
	return &c, nil
}

// PutSMTP implements admin.Driver.
func (d *Driver) PutSMTP(ctx context.Context, owner string, c *admin.SMTPConfig, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var have int64
	err = tx.QueryRowContext(ctx, `SELECT revision FROM admin_smtp WHERE owner = ?`, owner).Scan(&have)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if have != wantRevision {
		return fmt.Errorf("SMTP settings of %q at revision %d, not %d: %w", owner, have, wantRevision, admin.ErrConflict)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO admin_smtp(owner, host, port, secure, skip_certificate_check, username, password,
		mail_from, notification_bcc, support_email, revision, updated_at, sealed) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT(owner) DO UPDATE SET host = excluded.host, port = excluded.port, secure = excluded.secure,
		skip_certificate_check = excluded.skip_certificate_check, username = excluded.username, password = excluded.password,
		mail_from = excluded.mail_from, notification_bcc = excluded.notification_bcc, support_email = excluded.support_email,
		revision = excluded.revision, updated_at = excluded.updated_at, sealed = 1`,
		owner, c.Host, c.Port, b2i(c.Secure), b2i(c.SkipCertificateCheck), c.Username, d.seal(c.Password, owner),
		c.MailFrom, c.NotificationBCC, c.SupportEmail, c.Revision, sqlitedb.Micros(c.UpdatedAt))
	if err != nil {
		return err
	}
	return tx.Commit()
}

func nullJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// AppendAudit implements admin.Driver.
func (d *Driver) AppendAudit(ctx context.Context, r *admin.AuditRecord) error {
	if err := d.check(); err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, `INSERT INTO admin_audit(time, actor, actor_email, action, resource, resource_id,
		service_provider, account_sid, fields, before_json, after_json) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sqlitedb.Micros(r.Time), r.Actor, r.ActorEmail, r.Action, r.Resource, r.ResourceID, r.ServiceProvider, r.Account,
		strings.Join(r.Fields, ","), nullJSON(r.Before), nullJSON(r.After))
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	r.ID = id
	return nil
}

// ListAudit implements admin.Driver.
func (d *Driver) ListAudit(ctx context.Context, q admin.AuditQuery) ([]*admin.AuditRecord, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if q.ServiceProvider != "" {
		add("service_provider = ?", q.ServiceProvider)
	}
	if q.Account != "" {
		add("account_sid = ?", q.Account)
	}
	if q.Resource != "" {
		add("resource = ?", q.Resource)
	}
	if !q.Since.IsZero() {
		add("time >= ?", sqlitedb.Micros(q.Since))
	}
	if !q.Until.IsZero() {
		add("time < ?", sqlitedb.Micros(q.Until))
	}
	if q.BeforeID > 0 {
		add("id < ?", q.BeforeID)
	}
	query := `SELECT id, time, actor, actor_email, action, resource, resource_id, service_provider, account_sid, fields,
		before_json, after_json FROM admin_audit`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, q.Limit)
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*admin.AuditRecord
	for rows.Next() {
		var r admin.AuditRecord
		var t int64
		var fields string
		var before, after sql.NullString
		if err := rows.Scan(&r.ID, &t, &r.Actor, &r.ActorEmail, &r.Action, &r.Resource, &r.ResourceID,
			&r.ServiceProvider, &r.Account, &fields, &before, &after); err != nil {
			return nil, err
		}
		r.Time = sqlitedb.FromMicros(t)
		if fields != "" {
			r.Fields = strings.Split(fields, ",")
		}
		if before.Valid {
			r.Before = []byte(before.String)
		}
		if after.Valid {
			r.After = []byte(after.String)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}
