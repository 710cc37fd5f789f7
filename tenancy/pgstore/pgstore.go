// Package pgstore is the PostgreSQL driver of tenancy.Store
// (github.com/jackc/pgx/v5), with the licensed-session Limiter and the
// UsageCounter on the same database, for gateways on several hosts that share
// one state: every gateway opens the same database and sees the same
// accounts, counts the same sessions and hears of every change (Watch).
//
// Constructors, as in every voicegw driver package: OpenStore opens a pool
// to the database named by a connection string and returns the portable
// *tenancy.Store (closing it closes the pool); NewStore does the same on a
// pool opened by OpenPool and perhaps shared with other stores (rbac's keys,
// the Limiter, the insights index), which closing leaves open; OpenDriver
// and NewDriver return the driver itself, for conformance suites and
// wrapping. The schema is applied when a store opens, in versioned steps,
// under an advisory lock, so gateways starting at once on a fresh database
// do not trip over each other.
//
// Uniqueness of account names, SIP realms and application names is enforced
// by UNIQUE constraints; updates and deletions that check other rows (the
// revision, the applications an account selects) lock the account's row
// first, so they hold under concurrent writers in any number of processes.
// Names sort bytewise (COLLATE "C"), as in the other drivers, whatever the
// database's collation.
//
// # Secrets at rest
//
// As in tenancy/sqlitestore: SIP passwords are never stored (the Store keeps
// their digests for the account's realm), and what must stay usable —
// webhook secrets, bucket credentials, the SIP digests — is sealed with a
// tenancy.SealingKey (AES-256-GCM) before it leaves the process, so neither
// the database, its backups and replicas, nor the server's logs ever see it
// in clear. The key lives outside the database: give it (Options.SealingKey,
// from a secrets manager) or name a key file (Options.KeyFile, made on first
// use). Every gateway sharing the database needs the same key: the database
// records the key's fingerprint, and a store opened with another key fails
// at once with tenancy.ErrWrongSealingKey.
//
// # Changes
//
// Every write to accounts and applications (and to rbac's and the admin
// API's tables, from their PostgreSQL drivers) notifies the other processes
// in the same transaction (LISTEN/NOTIFY, delivered on commit); Watch
// delivers them, so caches (a gateway's tenants by realm, verified keys,
// buckets) drop what changed.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jackc/pgx/v5"
	"github.com/voicegw/voicegw/internal/pgdb"
	"github.com/voicegw/voicegw/internal/pgnotify"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
)

// SchemaName is the name under which the schema is versioned in the
// database's schema_versions table.
const SchemaName = "tenancy"

var schema = []string{`
CREATE TABLE tenancy_accounts (
	sid                       text PRIMARY KEY,
	name                      text COLLATE "C" NOT NULL CONSTRAINT tenancy_accounts_name_key UNIQUE,
	service_provider          text NOT NULL DEFAULT '',
	unit                      text NOT NULL,
	max_units                 bigint NOT NULL,
	licensed_sessions         bigint NOT NULL,
	sip_realm                 text CONSTRAINT tenancy_accounts_sip_realm_key UNIQUE,
	webhook_secret            bytea,
	prev_webhook_secret       bytea,
	prev_webhook_secret_until timestamptz,
	device_calls_application  text NOT NULL DEFAULT '',
	siprec_application        text NOT NULL DEFAULT '',
	registration_webhook      text NOT NULL DEFAULT '',
	queue_event_webhook       text NOT NULL DEFAULT '',
	session_webhook           text NOT NULL DEFAULT '',
	rec_enabled               boolean NOT NULL,
	rec_format                text NOT NULL,
	rec_bucket                bytea,
	rec_bucket_url            text NOT NULL DEFAULT '',
	rec_all_calls             boolean NOT NULL,
	sip                       bytea,
	call_attached_data        jsonb NOT NULL DEFAULT '[]',
	revision                  bigint NOT NULL,
	created_at                timestamptz NOT NULL,
	updated_at                timestamptz NOT NULL
);
COMMENT ON COLUMN tenancy_accounts.webhook_secret IS 'sealed (AES-256-GCM) with the key whose fingerprint tenancy_sealing records';
COMMENT ON COLUMN tenancy_accounts.prev_webhook_secret IS 'sealed';
COMMENT ON COLUMN tenancy_accounts.rec_bucket IS 'sealed: the bucket configuration with its credentials';
COMMENT ON COLUMN tenancy_accounts.sip IS 'sealed: allowlist and the SIP users'' digests (HA1), never a password';
CREATE INDEX tenancy_accounts_sp ON tenancy_accounts(service_provider, name);
CREATE TABLE tenancy_applications (
	sid              text PRIMARY KEY,
	account_sid      text NOT NULL REFERENCES tenancy_accounts(sid) ON DELETE CASCADE,
	name             text COLLATE "C" NOT NULL,
	record_all_calls boolean NOT NULL,
	revision         bigint NOT NULL,
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL,
	CONSTRAINT tenancy_applications_name_key UNIQUE (account_sid, name)
);
` + pgnotify.Trigger(pgnotify.Table{Name: "tenancy_accounts", Resource: "account", ID: "sid", Account: "sid", ServiceProvider: "service_provider", Realm: "sip_realm"}) +
	pgnotify.Trigger(pgnotify.Table{Name: "tenancy_applications", Resource: "application", ID: "sid", Account: "account_sid"})}

// sealingSchema holds the fingerprint of the database's sealing key; every
// store that seals secrets in the database (this driver, tenancy/admin's
// PostgreSQL driver) shares it, and so the key.
var sealingSchema = []string{`
CREATE TABLE tenancy_sealing (
	id     integer PRIMARY KEY CHECK (id = 1),
	key_id text NOT NULL
);`}

// migrate brings the database up to date for this driver.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := pgdb.Migrate(ctx, pool, pgnotify.SchemaName, pgnotify.Schema); err != nil {
		return err
	}
	return pgdb.Migrate(ctx, pool, SchemaName, schema)
}

// Driver is the PostgreSQL tenancy.Driver.
type Driver struct {
	pool *pgxpool.Pool
	st   *pgdb.Store
	key  *tenancy.SealingKey
}

var _ tenancy.Driver = (*Driver)(nil)

// Options configures the driver and the store over it.
type Options struct {
	// StoreOptions configure the tenancy.Store of OpenStore and NewStore.
	tenancy.StoreOptions
	// SealingKey seals the secrets kept in the database; every gateway
	// sharing the database must give the same key. Either SealingKey or
	// KeyFile is required (a database server has no place beside it for a
	// key file, and a key made up per process would lock the others out).
	SealingKey *tenancy.SealingKey
	// KeyFile holds the sealing key when SealingKey is nil: read when it
	// exists (narrowed to mode 0600), made (mode 0600, 32 random bytes)
	// when it does not and the database holds no sealed secret yet. Copy
	// it to every other gateway of the database.
	KeyFile string
}

// OpenPool opens a connection pool as every voicegw PostgreSQL store needs
// it, for NewStore, NewDriver, NewLimiter, NewUsageCounter, Watch and the
// other voicegw PostgreSQL packages (rbac/pgstore, tenancy/admin/pgstore,
// insights/pgindex), which may share it. dsn is a URL
// ("postgres://user:password@host:5432/voicegw?sslmode=verify-full") or
// key=value pairs; "" takes everything from the standard PG* environment
// variables (PGHOST, PGDATABASE, PGUSER, PGPASSWORD, …). The pool's size
// comes from the pool_max_conns parameter (default max(4, CPUs)); tables
// live in the connection's search_path (set search_path=… in the string to
// keep them in a schema of their own). Errors never show the password.
func OpenPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) { return pgdb.Open(ctx, dsn) }

// OpenStore opens a pool to dsn (see OpenPool) and returns the account store
// over it; closing the store closes the pool.
func OpenStore(ctx context.Context, dsn string, opts *Options) (*tenancy.Store, error) {
	d, err := OpenDriver(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	return tenancy.NewStore(d, opts.storeOptions()), nil
}

// NewStore returns the account store over pool (from OpenPool; other stores
// may share it); closing the store leaves the pool open.
func NewStore(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*tenancy.Store, error) {
	d, err := NewDriver(ctx, pool, opts)
	if err != nil {
		return nil, err
	}
	return tenancy.NewStore(d, opts.storeOptions()), nil
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

func (o *Options) storeOptions() *tenancy.StoreOptions {
	if o == nil {
		return nil
	}
	so := o.StoreOptions
	return &so
}

func newDriver(ctx context.Context, st *pgdb.Store, opts *Options) (*Driver, error) {
	key, err := SealingKeyFor(ctx, st.Pool(), opts)
	if err != nil {
		return nil, err
	}
	return &Driver{pool: st.Pool(), st: st, key: key}, nil
}

// SealingKeyFor returns the key that seals the secrets of the database of
// pool, found as opts says (the key given, or the key file, made on first
// use), after checking it against the fingerprint the database records
// (recording it on first use). Another store of the same database that
// seals secrets (tenancy/admin's PostgreSQL driver) uses it to share the
// key. Errors: tenancy.ErrNoSealingKey (no key given, or its file is
// missing while the database holds sealed secrets), tenancy.ErrWrongSealingKey.
func SealingKeyFor(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*tenancy.SealingKey, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := pgdb.Migrate(ctx, pool, "tenancy_sealing", sealingSchema); err != nil {
		return nil, err
	}
	recorded, err := recordedKey(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("pgstore: sealing key: %w", err)
	}
	key := o.SealingKey
	if key == nil {
		if o.KeyFile == "" {
			return nil, fmt.Errorf("%w: a PostgreSQL store needs Options.SealingKey or Options.KeyFile (the same key on every gateway of the database)", tenancy.ErrNoSealingKey)
		}
		key, err = tenancy.LoadSealingKey(o.KeyFile)
		if errors.Is(err, tenancy.ErrNoSealingKey) {
			if recorded != "" {
				return nil, fmt.Errorf("%w: the database holds secrets sealed with key %s, and the key file %s is missing: copy the key of the other gateways there (a new key cannot open them)",
					tenancy.ErrNoSealingKey, recorded, o.KeyFile)
			}
			key, err = tenancy.CreateSealingKey(o.KeyFile)
			if errors.Is(err, fs.ErrExist) { // another process made it meanwhile
				key, err = tenancy.LoadSealingKey(o.KeyFile)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if recorded == "" {
		// First use: record the key (another process may have won the race).
		if _, err := pool.Exec(ctx, `INSERT INTO tenancy_sealing(id, key_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, key.ID()); err != nil {
			return nil, fmt.Errorf("pgstore: sealing key: %w", err)
		}
		if recorded, err = recordedKey(ctx, pool); err != nil {
			return nil, fmt.Errorf("pgstore: sealing key: %w", err)
		}
	}
	if recorded != key.ID() {
		return nil, fmt.Errorf("%w: the database's secrets are sealed with key %s, and the key given is %s (every gateway of the database needs the same key)",
			tenancy.ErrWrongSealingKey, recorded, key.ID())
	}
	return key, nil
}

func recordedKey(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var id string
	err := pool.QueryRow(ctx, `SELECT key_id FROM tenancy_sealing WHERE id = 1`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// Pool returns the pool.
func (d *Driver) Pool() *pgxpool.Pool { return d.pool }

// Close implements tenancy.Driver.
func (d *Driver) Close() error { return d.st.Close() }

func (d *Driver) check() error {
	if d.st.Closed() {
		return tenancy.ErrClosed
	}
	return nil
}

// seal returns the stored form of a secret column value: NULL for "", else
// the value sealed for this column of this account.
func (d *Driver) seal(v []byte, col string, sid tenancy.SID) []byte {
	if len(v) == 0 {
		return nil
	}
	return d.key.Seal(v, "tenancy_accounts."+col+"/"+string(sid))
}

// open reads what seal stored.
func (d *Driver) open(v []byte, col string, sid tenancy.SID) ([]byte, error) {
	if len(v) == 0 {
		return nil, nil
	}
	return d.key.Open(v, "tenancy_accounts."+col+"/"+string(sid))
}

const accountCols = `sid, name, service_provider, unit, max_units, licensed_sessions, sip_realm,
	webhook_secret, prev_webhook_secret, prev_webhook_secret_until, device_calls_application,
	siprec_application, registration_webhook, queue_event_webhook, session_webhook, rec_enabled,
	rec_format, rec_bucket, rec_bucket_url, rec_all_calls, sip, call_attached_data, revision,
	created_at, updated_at`

// accountArgs returns the column values of a, in accountCols order, its
// secrets sealed.
func (d *Driver) accountArgs(a *tenancy.Account) ([]any, error) {
	var bucket []byte
	if !a.Recording.Bucket.IsZero() {
		b, err := a.Recording.Bucket.MarshalStored()
		if err != nil {
			return nil, err
		}
		bucket = b
	}
	cad := a.CallAttachedData
	if cad == nil {
		cad = []tenancy.CADField{}
	}
	cadJSON, err := json.Marshal(cad)
	if err != nil {
		return nil, err
	}
	var sipAccess []byte
	if !a.SIP.IsZero() {
		b, err := a.SIP.MarshalStored() // digests only: never a password
		if err != nil {
			return nil, err
		}
		sipAccess = b
	}
	return []any{
		string(a.SID), a.Name, a.ServiceProvider, string(a.Unit), int64(a.MaxUnits), int64(a.LicensedSessions),
		pgdb.NullString(a.SIPRealm),
		d.seal([]byte(a.WebhookSecret.Reveal()), "webhook_secret", a.SID),
		d.seal([]byte(a.PreviousWebhookSecret.Reveal()), "prev_webhook_secret", a.SID),
		pgdb.NullTime(a.PreviousWebhookSecretUntil),
		string(a.DeviceCallsApplication), string(a.SIPRECApplication), a.RegistrationWebhook,
		a.QueueEventWebhook, a.SessionWebhook, a.Recording.Enabled, string(a.Recording.Format),
		d.seal(bucket, "rec_bucket", a.SID), a.Recording.BucketURL, a.Recording.RecordAllCalls,
		d.seal(sipAccess, "sip", a.SID), cadJSON, a.Revision, a.CreatedAt, a.UpdatedAt,
	}, nil
}

// scanAccount reads a row, opening its sealed secrets.
func (d *Driver) scanAccount(row pgx.Row) (*tenancy.Account, error) {
	var (
		a                      tenancy.Account
		sid, unit, format      string
		maxUnits, licensed     int64
		realm                  *string
		hook, prev             []byte
		prevUntil              *time.Time
		device, siprec         string
		bucket, sipAccess, cad []byte
		created, updated       time.Time
	)
	err := row.Scan(&sid, &a.Name, &a.ServiceProvider, &unit, &maxUnits, &licensed, &realm,
		&hook, &prev, &prevUntil, &device, &siprec, &a.RegistrationWebhook, &a.QueueEventWebhook,
		&a.SessionWebhook, &a.Recording.Enabled, &format, &bucket, &a.Recording.BucketURL,
		&a.Recording.RecordAllCalls, &sipAccess, &cad, &a.Revision, &created, &updated)
	if err != nil {
		return nil, err
	}
	a.SID, a.Unit, a.MaxUnits, a.LicensedSessions = tenancy.SID(sid), tenancy.Unit(unit), int(maxUnits), int(licensed)
	if realm != nil {
		a.SIPRealm = *realm
	}
	var plain [4][]byte
	for i, c := range []struct {
		v   []byte
		col string
	}{{hook, "webhook_secret"}, {prev, "prev_webhook_secret"}, {bucket, "rec_bucket"}, {sipAccess, "sip"}} {
		if plain[i], err = d.open(c.v, c.col, a.SID); err != nil {
			return nil, fmt.Errorf("pgstore: account %s: %w", sid, err)
		}
	}
	a.WebhookSecret, a.PreviousWebhookSecret = secret.String(plain[0]), secret.String(plain[1])
	a.PreviousWebhookSecretUntil = pgdb.UTC(prevUntil)
	a.DeviceCallsApplication, a.SIPRECApplication = tenancy.SID(device), tenancy.SID(siprec)
	a.Recording.Format = tenancy.AudioFormat(format)
	if len(plain[2]) > 0 {
		if err := a.Recording.Bucket.UnmarshalStored(plain[2]); err != nil {
			return nil, fmt.Errorf("pgstore: account %s: bucket configuration: %w", sid, err)
		}
	}
	if len(plain[3]) > 0 {
		if err := a.SIP.UnmarshalStored(plain[3]); err != nil {
			return nil, fmt.Errorf("pgstore: account %s: SIP access: %w", sid, err)
		}
	}
	if err := json.Unmarshal(cad, &a.CallAttachedData); err != nil {
		return nil, fmt.Errorf("pgstore: account %s: call attached data: %w", sid, err)
	}
	if len(a.CallAttachedData) == 0 {
		a.CallAttachedData = nil
	}
	a.CreatedAt, a.UpdatedAt = created.UTC(), updated.UTC()
	return &a, nil
}

// mapErr turns a constraint violation into the error the driver contract
// names.
func mapErr(err error, entity, name, realm string) error {
	c, kind, ok := pgdb.Constraint(err)
	if !ok {
		return err
	}
	switch {
	case c == "tenancy_accounts_sip_realm_key":
		return tenancy.Taken(entity, tenancy.FieldSIPRealm, realm)
	case c == "tenancy_accounts_name_key", c == "tenancy_applications_name_key":
		return tenancy.Taken(entity, tenancy.FieldName, name)
	case kind == "foreign":
		return fmt.Errorf("account: %w", tenancy.ErrNotFound)
	}
	return tenancy.Taken(entity, "sid", "")
}

// CreateAccount implements tenancy.Driver.
func (d *Driver) CreateAccount(ctx context.Context, a *tenancy.Account) error {
	if err := d.check(); err != nil {
		return err
	}
	args, err := d.accountArgs(a)
	if err != nil {
		return err
	}
	_, err = d.pool.Exec(ctx, `INSERT INTO tenancy_accounts(`+accountCols+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25)`, args...)
	return mapErr(err, "account", a.Name, a.SIPRealm)
}

// GetAccount implements tenancy.Driver.
func (d *Driver) GetAccount(ctx context.Context, sid tenancy.SID) (*tenancy.Account, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	a, err := d.scanAccount(d.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM tenancy_accounts WHERE sid = $1`, string(sid)))
	if errors.Is(err, pgx.ErrNoRows) {
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
		return nil, fmt.Errorf("pgstore: cannot find accounts by %q: %w", field, tenancy.ErrInvalid)
	}
	a, err := d.scanAccount(d.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM tenancy_accounts WHERE `+col+` = $1`, value))
	if errors.Is(err, pgx.ErrNoRows) {
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
		q += ` WHERE service_provider = $1`
		args = append(args, serviceProvider)
	}
	rows, err := d.pool.Query(ctx, q+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*tenancy.Account{}
	for rows.Next() {
		a, err := d.scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UpdateAccount implements tenancy.Driver. It locks the account's row, so
// the revision check, the check of the selected applications and the write
// are one step for every other writer of the account (DeleteApplication
// locks the same row).
func (d *Driver) UpdateAccount(ctx context.Context, a *tenancy.Account, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	args, err := d.accountArgs(a)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var rev int64
		err := tx.QueryRow(ctx, `SELECT revision FROM tenancy_accounts WHERE sid = $1 FOR UPDATE`, string(a.SID)).Scan(&rev)
		if errors.Is(err, pgx.ErrNoRows) {
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
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenancy_applications WHERE sid = $1 AND account_sid = $2)`,
				string(f.sid), string(a.SID)).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return tenancy.NoSuchApplication(f.name, f.sid)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE tenancy_accounts SET (`+accountCols+`) =
			($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25) WHERE sid = $1`, args...)
		return mapErr(err, "account", a.Name, a.SIPRealm)
	})
}

// DeleteAccount implements tenancy.Driver.
func (d *Driver) DeleteAccount(ctx context.Context, sid tenancy.SID) error {
	if err := d.check(); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM tenancy_accounts WHERE sid = $1`, string(sid))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("account %q: %w", sid, tenancy.ErrNotFound)
	}
	return nil
}

const appCols = `sid, account_sid, name, record_all_calls, revision, created_at, updated_at`

func scanApp(row pgx.Row) (*tenancy.Application, error) {
	var (
		a                tenancy.Application
		sid, acct        string
		created, updated time.Time
	)
	if err := row.Scan(&sid, &acct, &a.Name, &a.RecordAllCalls, &a.Revision, &created, &updated); err != nil {
		return nil, err
	}
	a.SID, a.Account = tenancy.SID(sid), tenancy.SID(acct)
	a.CreatedAt, a.UpdatedAt = created.UTC(), updated.UTC()
	return &a, nil
}

// CreateApplication implements tenancy.Driver.
func (d *Driver) CreateApplication(ctx context.Context, app *tenancy.Application) error {
	if err := d.check(); err != nil {
		return err
	}
	_, err := d.pool.Exec(ctx, `INSERT INTO tenancy_applications(`+appCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		string(app.SID), string(app.Account), app.Name, app.RecordAllCalls, app.Revision, app.CreatedAt, app.UpdatedAt)
	if _, kind, ok := pgdb.Constraint(err); ok && kind == "foreign" {
		return fmt.Errorf("account %q: %w", app.Account, tenancy.ErrNotFound)
	}
	return mapErr(err, "application", app.Name, "")
}

// GetApplication implements tenancy.Driver.
func (d *Driver) GetApplication(ctx context.Context, sid tenancy.SID) (*tenancy.Application, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	a, err := scanApp(d.pool.QueryRow(ctx, `SELECT `+appCols+` FROM tenancy_applications WHERE sid = $1`, string(sid)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("application %q: %w", sid, tenancy.ErrNotFound)
	}
	return a, err
}

// ListApplications implements tenancy.Driver.
func (d *Driver) ListApplications(ctx context.Context, account tenancy.SID) ([]*tenancy.Application, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `SELECT `+appCols+` FROM tenancy_applications WHERE account_sid = $1 ORDER BY name`, string(account))
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

// UpdateApplication implements tenancy.Driver: one conditional UPDATE.
func (d *Driver) UpdateApplication(ctx context.Context, app *tenancy.Application, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `UPDATE tenancy_applications SET name = $1, record_all_calls = $2, revision = $3, updated_at = $4
		WHERE sid = $5 AND account_sid = $6 AND revision = $7`,
		app.Name, app.RecordAllCalls, app.Revision, app.UpdatedAt, string(app.SID), string(app.Account), wantRevision)
	if err != nil {
		return mapErr(err, "application", app.Name, "")
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var rev int64
	var acct string
	err = d.pool.QueryRow(ctx, `SELECT revision, account_sid FROM tenancy_applications WHERE sid = $1`, string(app.SID)).Scan(&rev, &acct)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("application %q: %w", app.SID, tenancy.ErrNotFound)
	case err != nil:
		return err
	case acct != string(app.Account):
		return fmt.Errorf("pgstore: application %q cannot change account: %w", app.SID, tenancy.ErrInvalid)
	}
	return fmt.Errorf("application %q at revision %d, update from %d: %w", app.SID, rev, wantRevision, tenancy.ErrConflict)
}

// DeleteApplication implements tenancy.Driver. It locks the account's row
// (as UpdateAccount does) before checking that the account does not select
// the application.
func (d *Driver) DeleteApplication(ctx context.Context, sid tenancy.SID) error {
	if err := d.check(); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var device, siprec string
		err := tx.QueryRow(ctx, `SELECT a.device_calls_application, a.siprec_application
			FROM tenancy_accounts a WHERE a.sid = (SELECT account_sid FROM tenancy_applications WHERE sid = $1)
			FOR UPDATE`, string(sid)).Scan(&device, &siprec)
		if errors.Is(err, pgx.ErrNoRows) {
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
		tag, err := tx.Exec(ctx, `DELETE FROM tenancy_applications WHERE sid = $1`, string(sid))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("application %q: %w", sid, tenancy.ErrNotFound)
		}
		return nil
	})
}
