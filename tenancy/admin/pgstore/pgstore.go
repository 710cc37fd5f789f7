// Package pgstore is the PostgreSQL driver of admin.Store (service
// providers, SMTP settings, the audit log) on github.com/jackc/pgx/v5, for
// admin APIs on several hosts sharing one database with tenancy's and rbac's
// PostgreSQL drivers (each store with its own tables and schema version).
//
// UNIQUE constraints keep service provider IDs and names unique; revisions
// are checked by conditional writes, so they hold under concurrent writers
// in any number of processes. Audit records are appended one at a time
// (a transaction-level advisory lock), so their IDs increase in the order
// they were committed and paging backwards by ID never skips one. The SMTP
// password, which an SMTP client must present, is sealed in the process
// with the database's tenancy.SealingKey (the one tenancy/pgstore uses: see
// tenancy/pgstore.SealingKeyFor) and never reaches the server in clear.
// Audit records keep the API's masked form of secrets only, as given
// (json columns: the exact bytes).
//
// Constructors, as in every voicegw driver package: OpenStore opens a pool
// and returns the portable *admin.Store (closing it closes the pool);
// NewStore does the same on a pool opened by tenancy/pgstore.OpenPool and
// shared with tenancy's and rbac's stores; OpenDriver and NewDriver return
// the driver itself. Writes to service providers and SMTP settings notify
// the other processes (see tenancy/pgstore.Watch).
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jackc/pgx/v5"
	"github.com/voicegw/voicegw/internal/pgdb"
	"github.com/voicegw/voicegw/internal/pgnotify"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	tenancypg "github.com/voicegw/voicegw/tenancy/pgstore"
)

// SchemaName versions the schema in the database's schema_versions table.
const SchemaName = "tenancy_admin"

var schema = []string{`
CREATE TABLE admin_service_providers (
	id          text PRIMARY KEY,
	name        text COLLATE "C" NOT NULL CONSTRAINT admin_service_providers_name_key UNIQUE,
	description text NOT NULL,
	revision    bigint NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);
CREATE TABLE admin_smtp (
	owner                  text PRIMARY KEY,
	host                   text NOT NULL,
	port                   integer NOT NULL,
	secure                 boolean NOT NULL,
	skip_certificate_check boolean NOT NULL,
	username               text NOT NULL,
	password               bytea,
	mail_from              text NOT NULL,
	notification_bcc       text NOT NULL,
	support_email          text NOT NULL,
	revision               bigint NOT NULL,
	updated_at             timestamptz NOT NULL
);
COMMENT ON COLUMN admin_smtp.password IS 'sealed (AES-256-GCM) with the key whose fingerprint tenancy_sealing records';
CREATE TABLE admin_audit (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time             timestamptz NOT NULL,
	actor            text NOT NULL,
	actor_email      text NOT NULL,
	action           text NOT NULL,
	resource         text NOT NULL,
	resource_id      text NOT NULL,
	service_provider text NOT NULL,
	account_sid      text NOT NULL,
	fields           text[] NOT NULL,
	before_json      json,
	after_json       json
);
CREATE INDEX admin_audit_account ON admin_audit(account_sid, id);
CREATE INDEX admin_audit_sp ON admin_audit(service_provider, id);
` + pgnotify.Trigger(pgnotify.Table{Name: "admin_service_providers", Resource: "service_provider", ID: "id", ServiceProvider: "id"}) +
	pgnotify.Trigger(pgnotify.Table{Name: "admin_smtp", Resource: "smtp", ID: "owner"})}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := pgdb.Migrate(ctx, pool, pgnotify.SchemaName, pgnotify.Schema); err != nil {
		return err
	}
	return pgdb.Migrate(ctx, pool, SchemaName, schema)
}

// auditLock is the advisory lock that orders audit appends: "vgwa".
const auditLock int64 = 0x76677761_00000001

// Driver is the PostgreSQL admin.Driver.
type Driver struct {
	pool *pgxpool.Pool
	st   *pgdb.Store
	key  *tenancy.SealingKey
}

var _ admin.Driver = (*Driver)(nil)

// Options configures the driver and the store over it.
type Options struct {
	// StoreOptions configure the admin.Store of OpenStore and NewStore.
	admin.StoreOptions
	// SealingKey and KeyFile find the key that seals the SMTP passwords,
	// as for tenancy/pgstore (whose Options these fields mean the same in):
	// one of them is required, and it must be the key of the database's
	// tenancy store.
	SealingKey *tenancy.SealingKey
	KeyFile    string
}

// OpenStore opens a pool to dsn (see tenancy/pgstore.OpenPool) and returns
// the store over it; closing the store closes the pool.
func OpenStore(ctx context.Context, dsn string, opts *Options) (*admin.Store, error) {
	d, err := OpenDriver(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	return admin.NewStore(d, opts.storeOptions()), nil
}

// NewStore returns the store over pool (tenancy's and rbac's stores may
// share it); closing the store leaves the pool open.
func NewStore(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*admin.Store, error) {
	d, err := NewDriver(ctx, pool, opts)
	if err != nil {
		return nil, err
	}
	return admin.NewStore(d, opts.storeOptions()), nil
}

// OpenDriver is OpenStore's driver itself; Close closes the pool.
func OpenDriver(ctx context.Context, dsn string, opts *Options) (*Driver, error) {
	st, err := pgdb.OpenStore(ctx, dsn, migrate)
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

// NewDriver is NewStore's driver itself; Close leaves the pool open.
func NewDriver(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Driver, error) {
	st, err := pgdb.NewStore(ctx, pool, migrate)
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

func newDriver(ctx context.Context, st *pgdb.Store, opts *Options) (*Driver, error) {
	var ko tenancypg.Options
	if opts != nil {
		ko.SealingKey, ko.KeyFile = opts.SealingKey, opts.KeyFile
	}
	key, err := tenancypg.SealingKeyFor(ctx, st.Pool(), &ko)
	if err != nil {
		return nil, err
	}
	return &Driver{pool: st.Pool(), st: st, key: key}, nil
}

// where names the place a password is sealed for.
func where(owner string) string { return "admin_smtp.password/" + owner }

func (d *Driver) seal(password secret.String, owner string) []byte {
	if password.IsZero() {
		return nil
	}
	return d.key.Seal([]byte(password.Reveal()), where(owner))
}

func (d *Driver) open(stored []byte, owner string) (secret.String, error) {
	if len(stored) == 0 {
		return "", nil
	}
	plain, err := d.key.Open(stored, where(owner))
	return secret.String(plain), err
}

// Pool returns the pool.
func (d *Driver) Pool() *pgxpool.Pool { return d.pool }

// Close implements admin.Driver.
func (d *Driver) Close() error { return d.st.Close() }

func (d *Driver) check() error {
	if d.st.Closed() {
		return admin.ErrClosed
	}
	return nil
}

// taken maps a unique violation to admin.Taken naming the field.
func taken(err error, p *admin.ServiceProvider) error {
	c, kind, ok := pgdb.Constraint(err)
	switch {
	case !ok || kind != "unique":
		return err
	case c == "admin_service_providers_name_key":
		return admin.Taken("name", p.Name)
	}
	return admin.Taken("id", p.ID)
}

// CreateProvider implements admin.Driver.
func (d *Driver) CreateProvider(ctx context.Context, p *admin.ServiceProvider) error {
	if err := d.check(); err != nil {
		return err
	}
	_, err := d.pool.Exec(ctx, `INSERT INTO admin_service_providers(id, name, description, revision, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, p.ID, p.Name, p.Description, p.Revision, p.CreatedAt, p.UpdatedAt)
	return taken(err, p)
}

const providerCols = `id, name, description, revision, created_at, updated_at`

func scanProvider(row pgx.Row) (*admin.ServiceProvider, error) {
	var p admin.ServiceProvider
	var created, updated time.Time
	if err := row.Scan(&p.ID, &p.Name, &p.Description, &p.Revision, &created, &updated); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = created.UTC(), updated.UTC()
	return &p, nil
}

// GetProvider implements admin.Driver.
func (d *Driver) GetProvider(ctx context.Context, id string) (*admin.ServiceProvider, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	p, err := scanProvider(d.pool.QueryRow(ctx, `SELECT `+providerCols+` FROM admin_service_providers WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("service provider %q: %w", id, admin.ErrNotFound)
	}
	return p, err
}

// ListProviders implements admin.Driver.
func (d *Driver) ListProviders(ctx context.Context) ([]*admin.ServiceProvider, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `SELECT `+providerCols+` FROM admin_service_providers ORDER BY name`)
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

// UpdateProvider implements admin.Driver: one conditional UPDATE.
func (d *Driver) UpdateProvider(ctx context.Context, p *admin.ServiceProvider, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `UPDATE admin_service_providers SET name = $1, description = $2, revision = $3, created_at = $4, updated_at = $5
		WHERE id = $6 AND revision = $7`, p.Name, p.Description, p.Revision, p.CreatedAt, p.UpdatedAt, p.ID, wantRevision)
	if err != nil {
		return taken(err, p)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var have int64
	err = d.pool.QueryRow(ctx, `SELECT revision FROM admin_service_providers WHERE id = $1`, p.ID).Scan(&have)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("service provider %q: %w", p.ID, admin.ErrNotFound)
	} else if err != nil {
		return err
	}
	return fmt.Errorf("service provider %q at revision %d, not %d: %w", p.ID, have, wantRevision, admin.ErrConflict)
}

// DeleteProvider implements admin.Driver.
func (d *Driver) DeleteProvider(ctx context.Context, id string) error {
	if err := d.check(); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM admin_service_providers WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
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
	var port int32
	var password []byte
	var updated time.Time
	err := d.pool.QueryRow(ctx, `SELECT host, port, secure, skip_certificate_check, username, password, mail_from,
		notification_bcc, support_email, revision, updated_at FROM admin_smtp WHERE owner = $1`, owner).Scan(
		&c.Host, &port, &c.Secure, &c.SkipCertificateCheck, &c.Username, &password, &c.MailFrom, &c.NotificationBCC,
		&c.SupportEmail, &c.Revision, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("SMTP settings of %q: %w", owner, admin.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	c.Port = int(port)
	if c.Password, err = d.open(password, owner); err != nil {
		return nil, fmt.Errorf("pgstore: SMTP settings of %q: %w", owner, err)
	}
	c.UpdatedAt = updated.UTC()
	return &c, nil
}

// PutSMTP implements admin.Driver: an insert when wantRevision is 0 (a
// conflict when the owner has settings already), else a conditional
// update.
func (d *Driver) PutSMTP(ctx context.Context, owner string, c *admin.SMTPConfig, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	args := []any{owner, c.Host, int32(c.Port), c.Secure, c.SkipCertificateCheck, c.Username, d.seal(c.Password, owner),
		c.MailFrom, c.NotificationBCC, c.SupportEmail, c.Revision, c.UpdatedAt, wantRevision}
	tag, err := d.pool.Exec(ctx, `INSERT INTO admin_smtp(owner, host, port, secure, skip_certificate_check, username, password,
		mail_from, notification_bcc, support_email, revision, updated_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE $13::bigint = 0
		ON CONFLICT (owner) DO NOTHING`, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if wantRevision != 0 {
		tag, err = d.pool.Exec(ctx, `UPDATE admin_smtp SET host = $2, port = $3, secure = $4, skip_certificate_check = $5,
			username = $6, password = $7, mail_from = $8, notification_bcc = $9, support_email = $10, revision = $11,
			updated_at = $12 WHERE owner = $1 AND revision = $13`, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
	}
	var have int64
	err = d.pool.QueryRow(ctx, `SELECT revision FROM admin_smtp WHERE owner = $1`, owner).Scan(&have)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return fmt.Errorf("SMTP settings of %q at revision %d, not %d: %w", owner, have, wantRevision, admin.ErrConflict)
}

// AppendAudit implements admin.Driver. The append holds an advisory lock
// for its (implicit) transaction, so IDs are taken and committed in one
// order.
func (d *Driver) AppendAudit(ctx context.Context, r *admin.AuditRecord) error {
	if err := d.check(); err != nil {
		return err
	}
	fields := r.Fields
	if fields == nil {
		fields = []string{}
	}
	var b pgx.Batch
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, auditLock)
	b.Queue(`INSERT INTO admin_audit(time, actor, actor_email, action, resource, resource_id, service_provider, account_sid,
		fields, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		r.Time, r.Actor, r.ActorEmail, r.Action, r.Resource, r.ResourceID, r.ServiceProvider, r.Account,
		fields, nullJSON(r.Before), nullJSON(r.After))
	br := d.pool.SendBatch(ctx, &b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	if err := br.QueryRow().Scan(&r.ID); err != nil {
		return err
	}
	return br.Close()
}

func nullJSON(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ListAudit implements admin.Driver.
func (d *Driver) ListAudit(ctx context.Context, q admin.AuditQuery) ([]*admin.AuditRecord, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if q.ServiceProvider != "" {
		add("service_provider = $%d", q.ServiceProvider)
	}
	if q.Account != "" {
		add("account_sid = $%d", q.Account)
	}
	if q.Resource != "" {
		add("resource = $%d", q.Resource)
	}
	if !q.Since.IsZero() {
		add("time >= $%d", q.Since)
	}
	if !q.Until.IsZero() {
		add("time < $%d", q.Until)
	}
	if q.BeforeID > 0 {
		add("id < $%d", q.BeforeID)
	}
	query := `SELECT id, time, actor, actor_email, action, resource, resource_id, service_provider, account_sid, fields,
		before_json, after_json FROM admin_audit`
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, q.Limit)
	query += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := d.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*admin.AuditRecord
	for rows.Next() {
		var r admin.AuditRecord
		var t time.Time
		var before, after []byte
		if err := rows.Scan(&r.ID, &t, &r.Actor, &r.ActorEmail, &r.Action, &r.Resource, &r.ResourceID,
			&r.ServiceProvider, &r.Account, &r.Fields, &before, &after); err != nil {
			return nil, err
		}
		r.Time = t.UTC()
		if len(r.Fields) == 0 {
			r.Fields = nil
		}
		if before != nil {
			r.Before = before
		}
		if after != nil {
			r.After = after
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}
