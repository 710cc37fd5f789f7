// Package sqlitestore is the SQLite driver of tenancy.Store
// (modernc.org/sqlite, pure Go): the embedded durable default, with the
// licensed-session Limiter and the UsageCounter on the same database.
//
// Constructors, as in every voicegw driver package: OpenStore opens a
// database file and returns the portable *tenancy.Store (closing it closes
// the file); NewStore does the same on a database opened by OpenDB and
// perhaps shared with other stores (rbac's keys, the Limiter, the insights
// index), which closing leaves open; OpenDriver and NewDriver return the
// driver itself, for conformance suites and wrapping.
//
// Uniqueness of account names, SIP realms and application names is enforced
// by UNIQUE indexes; revision checks, the checks on selected applications and
// deletions run in IMMEDIATE transactions, so they hold under concurrent
// writers in one process and across processes sharing the database file on
// one host (WAL mode).
//
// # Secrets at rest
//
// Nothing secret is in the database in clear. SIP passwords are not stored
// at all: the Store keeps their digests for the account's realm
// (tenancy.DigestHA1), so a database and its key together still do not
// give the passwords back, at the price that a change of the digest realm
// needs the passwords again (tenancy.ErrPasswordNeeded names the users).
// What must stay usable — webhook secrets (HMAC signing), bucket
// credentials, and the SIP digests, which are password-equivalent in their
// realm — is sealed with a tenancy.SealingKey (AES-256-GCM) kept outside the
// database: by default a key file beside it ("state.db.key", mode 0600,
// made on first use), or a key the caller gives (Options.SealingKey, from a
// secrets manager, or Options.KeyFile on another volume). The database
// records the key's fingerprint: opening it with another key fails at once
// with tenancy.ErrWrongSealingKey, and without its key file with
// tenancy.ErrNoSealingKey (a new key is never made for a database that
// holds sealed secrets). The database files and the key file are mode 0600
// whatever the directory's mode.
//
// A database written before sealing is migrated when opened: its clear
// secrets are sealed, its SIP passwords replaced by their digests, the old
// bytes overwritten (SQLite's secure_delete) and the WAL checkpointed.
// Backups taken before still hold them.
//
// A key kept beside the database protects a database file that travels
// alone (a backup, a copy sent for support, a file read through another
// bug); whoever can read the whole data directory reads the key too. Give
// the key from elsewhere to protect against that.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/rbac/secret"
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
ALTER TABLE tenancy_accounts ADD COLUMN rec_bucket_url TEXT NOT NULL DEFAULT '';`, `
ALTER TABLE tenancy_accounts ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;`}

// Driver is the SQLite tenancy.Driver.
type Driver struct {
	db  *sql.DB
	st  *sqlitedb.Store
	key *tenancy.SealingKey
}

var _ tenancy.Driver = (*Driver)(nil)

// Options configures the driver and the store over it. The zero value (or
// nil) works.
type Options struct {
	// StoreOptions configure the tenancy.Store of OpenStore and NewStore;
	// its Logger also receives the driver's record of a migration.
	tenancy.StoreOptions
	// SealingKey seals the secrets kept in the database. Default: the key
	// in KeyFile.
	SealingKey *tenancy.SealingKey
	// KeyFile holds the sealing key when SealingKey is nil: read when it
	// exists (narrowed to mode 0600), made (mode 0600, 32 random bytes) when
	// it does not and the database holds no sealed secret yet. Default: the
	// database file's path with ".key" appended ("state.db.key"); a
	// private in-memory database gets a random key that lives as long as
	// it does.
	KeyFile string
}

// MaxConns bounds the connections OpenDB keeps to one database (the same
// bound in every voicegw SQLite package).
const MaxConns = sqlitedb.MaxConns

// OpenDB opens (creating if needed) the SQLite database at path the way
// every voicegw store needs it (WAL journal, busy timeout, foreign keys,
// immediate transactions, files of mode 0600 whatever the directory's, at
// most MaxConns connections, kept open while idle), for NewStore, NewDriver,
// NewLimiter and NewUsageCounter, and for the other voicegw SQLite packages
// (rbac/sqlitestore, insights/sqliteindex), which may share it. ":memory:"
// is a private in-memory database (one connection).
func OpenDB(ctx context.Context, path string) (*sql.DB, error) { return sqlitedb.Open(ctx, path) }

// OpenStore opens (creating if needed) the database file at path
// (":memory:" for a private in-memory one) and returns the account store
// over it; closing the store closes the database. opts may be nil.
func OpenStore(ctx context.Context, path string, opts *Options) (*tenancy.Store, error) {
	d, err := OpenDriver(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	return tenancy.NewStore(d, opts.storeOptions()), nil
}

// NewStore returns the account store over db, opened with OpenDB (other
// stores may share it); closing the store leaves db open. opts may be nil.
func NewStore(ctx context.Context, db *sql.DB, opts *Options) (*tenancy.Store, error) {
	d, err := NewDriver(ctx, db, opts)
	if err != nil {
		return nil, err
	}
	return tenancy.NewStore(d, opts.storeOptions()), nil
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

func (o *Options) storeOptions() *tenancy.StoreOptions {
	if o == nil {
		return nil
	}
	so := o.StoreOptions
	return &so
}

func newDriver(ctx context.Context, st *sqlitedb.Store, opts *Options) (*Driver, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	d := &Driver{db: st.DB(), st: st}
	key, err := SealingKeyFor(ctx, d.db, &o)
	if err != nil {
		return nil, err
	}
	d.key = key
	n, err := d.sealClearRows(ctx)
	if err != nil {
		return nil, err
	}
	if n > 0 && o.Logger != nil {
		o.Logger.InfoContext(ctx, "tenancy: sealed the secrets of accounts stored in clear, and replaced their SIP passwords by digests", "accounts", n)
	}
	return d, nil
}

// sealingSchema is the table where a database records the fingerprint of
// its sealing key; every store that seals secrets in the database (this
// driver, tenancy/admin's SQLite driver) shares it, and so the key.
const sealingSchema = `CREATE TABLE IF NOT EXISTS tenancy_sealing (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	key_id TEXT NOT NULL
)`

// recordedKey returns the fingerprint of the key the database's secrets are
// sealed with, "" before the first sealing.
func recordedKey(ctx context.Context, db *sql.DB) (string, error) {
	var id string
	err := db.QueryRowContext(ctx, `SELECT key_id FROM tenancy_sealing WHERE id = 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// SealingKeyFor returns the key that seals the secrets of db (opened with
// OpenDB), found as Options says (the key given, or the key file, by default
// beside the database, made on first use), after checking it against the
// fingerprint the database records (recording it on first use). Another
// store of the same database that seals secrets (tenancy/admin's SQLite
// driver) uses it to share the key. Errors: tenancy.ErrWrongSealingKey,
// tenancy.ErrNoSealingKey. opts may be nil.
func SealingKeyFor(ctx context.Context, db *sql.DB, opts *Options) (*tenancy.SealingKey, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if _, err := db.ExecContext(ctx, sealingSchema); err != nil {
		return nil, fmt.Errorf("sqlitestore: sealing key: %w", err)
	}
	recorded, err := recordedKey(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: sealing key: %w", err)
	}
	key := o.SealingKey
	if key == nil {
		file, err := sqlitedb.FilePath(ctx, db)
		if err != nil {
			return nil, err
		}
		path := o.KeyFile
		if path == "" && file != "" {
			path = file + ".key"
		}
		switch {
		case path == "":
			key = tenancy.NewRandomSealingKey() // an in-memory database
		default:
			key, err = tenancy.LoadSealingKey(path)
			if errors.Is(err, tenancy.ErrNoSealingKey) {
				if recorded != "" {
					return nil, fmt.Errorf("%w: the database %s holds secrets sealed with key %s, and its key file %s is missing: restore it (a new key cannot open them)",
						tenancy.ErrNoSealingKey, file, recorded, path)
				}
				key, err = tenancy.CreateSealingKey(path)
				if errors.Is(err, fs.ErrExist) { // another process made it meanwhile
					key, err = tenancy.LoadSealingKey(path)
				}
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if recorded == "" {
		// First use: record the key (another process may have won the race).
		if _, err := db.ExecContext(ctx, `INSERT INTO tenancy_sealing(id, key_id) VALUES (1, ?) ON CONFLICT(id) DO NOTHING`, key.ID()); err != nil {
			return nil, fmt.Errorf("sqlitestore: sealing key: %w", err)
		}
		if recorded, err = recordedKey(ctx, db); err != nil {
			return nil, fmt.Errorf("sqlitestore: sealing key: %w", err)
		}
	}
	if recorded != key.ID() {
		return nil, fmt.Errorf("%w: the database's secrets are sealed with key %s, and the key given is %s", tenancy.ErrWrongSealingKey, recorded, key.ID())
	}
	return key, nil
}

// sealClearRows seals the secrets of the accounts stored before sealing and
// replaces their SIP passwords by digests, overwriting the old bytes, and
// returns how many accounts it changed.
func (d *Driver) sealClearRows(ctx context.Context) (int, error) {
	var pending int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM tenancy_accounts WHERE sealed = 0`).Scan(&pending); err != nil || pending == 0 {
		return 0, err
	}
	n := 0
	err := sqlitedb.Scrub(ctx, d.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+accountCols+` FROM tenancy_accounts WHERE sealed = 0`)
		if err != nil {
			return err
		}
		var clear []*tenancy.Account
		for rows.Next() {
			a, err := d.scanAccount(rows)
			if err != nil {
				rows.Close()
				return err
			}
			clear = append(clear, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, a := range clear {
			if err := d.updateRow(ctx, tx, a); err != nil {
				return fmt.Errorf("sqlitestore: sealing account %s: %w", a.SID, err)
			}
		}
		n = len(clear)
		return nil
	})
	return n, err
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

// seal returns the stored form of a secret column value: "" for "", else
// the value sealed for this column of this account, in base64.
func (d *Driver) seal(v []byte, col string, sid tenancy.SID) string {
	if len(v) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(d.key.Seal(v, "tenancy_accounts."+col+"/"+string(sid)))
}

// open reads what seal stored.
func (d *Driver) open(v, col string, sid tenancy.SID) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: tenancy_accounts.%s/%s: not a sealed value", tenancy.ErrWrongSealingKey, col, sid)
	}
	return d.key.Open(raw, "tenancy_accounts."+col+"/"+string(sid))
}

const accountCols = `sid, name, service_provider, unit, max_units, licensed_sessions, sip_realm,
	webhook_secret, prev_webhook_secret, prev_webhook_secret_until, device_calls_application,
	siprec_application, registration_webhook, queue_event_webhook, rec_enabled, rec_format,
	rec_bucket, rec_all_calls, call_attached_data, revision, created_at, updated_at,
	session_webhook, sip, rec_bucket_url, sealed`

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

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
	var prevUntil any
	if !a.PreviousWebhookSecretUntil.IsZero() {
		prevUntil = sqlitedb.Micros(a.PreviousWebhookSecretUntil)
	}
	return []any{
		string(a.SID), a.Name, a.ServiceProvider, string(a.Unit), a.MaxUnits, a.LicensedSessions,
		sqlitedb.NullString(a.SIPRealm),
		d.seal([]byte(a.WebhookSecret.Reveal()), "webhook_secret", a.SID),
		d.seal([]byte(a.PreviousWebhookSecret.Reveal()), "prev_webhook_secret", a.SID), prevUntil,
		string(a.DeviceCallsApplication), string(a.SIPRECApplication), a.RegistrationWebhook,
		a.QueueEventWebhook, b2i(a.Recording.Enabled), string(a.Recording.Format),
		d.seal(bucket, "rec_bucket", a.SID),
		b2i(a.Recording.RecordAllCalls), string(cadJSON), a.Revision, sqlitedb.Micros(a.CreatedAt), sqlitedb.Micros(a.UpdatedAt),
		a.SessionWebhook, d.seal(sipAccess, "sip", a.SID), a.Recording.BucketURL, 1,
	}, nil
}

type scanner interface{ Scan(dest ...any) error }

// scanAccount reads a row, opening its sealed secrets (a row written before
// sealing is read in clear, its SIP passwords turned into digests).
func (d *Driver) scanAccount(row scanner) (*tenancy.Account, error) {
	var (
		a                 tenancy.Account
		sid, unit, format string
		realm             sql.NullString
		hook, prev        string
		prevUntil         sql.NullInt64
		device, siprec    string
		bucket, cad       string
		sipAccess         string
		enabled, all      int
		sealed            int
		created, updated  int64
	)
	err := row.Scan(&sid, &a.Name, &a.ServiceProvider, &unit, &a.MaxUnits, &a.LicensedSessions, &realm,
		&hook, &prev, &prevUntil, &device, &siprec, &a.RegistrationWebhook, &a.QueueEventWebhook,
		&enabled, &format, &bucket, &all, &cad, &a.Revision, &created, &updated,
		&a.SessionWebhook, &sipAccess, &a.Recording.BucketURL, &sealed)
	if err != nil {
		return nil, err
	}
	a.SID, a.Unit, a.SIPRealm = tenancy.SID(sid), tenancy.Unit(unit), realm.String
	if sealed != 0 {
		var plain [4][]byte
		for i, c := range []struct{ v, col string }{{hook, "webhook_secret"}, {prev, "prev_webhook_secret"}, {bucket, "rec_bucket"}, {sipAccess, "sip"}} {
			if plain[i], err = d.open(c.v, c.col, a.SID); err != nil {
				return nil, fmt.Errorf("sqlitestore: account %s: %w", sid, err)
			}
		}
		hook, prev, bucket, sipAccess = string(plain[0]), string(plain[1]), string(plain[2]), string(plain[3])
	}
	a.WebhookSecret, a.PreviousWebhookSecret = secret.String(hook), secret.String(prev)
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
		a.SIP.HashPasswords(a.DigestRealm()) // passwords stored in clear before digests
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

// updateRow writes every column of a over its row, inside tx.
func (d *Driver) updateRow(ctx context.Context, tx *sql.Tx, a *tenancy.Account) error {
	args, err := d.accountArgs(a)
	if err != nil {
		return err
	}
	cols := strings.Split(accountCols, ",")
	set := make([]string, 0, len(cols))
	for _, c := range cols[1:] {
		set = append(set, strings.TrimSpace(c)+" = ?")
	}
	_, err = tx.ExecContext(ctx, `UPDATE tenancy_accounts SET `+strings.Join(set, ", ")+` WHERE sid = ?`,
		append(args[1:], args[0])...)
	return err
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
	args, err := d.accountArgs(a)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO tenancy_accounts(`+accountCols+`)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, args...)
	return mapErr(err, "account", a.Name, a.SIPRealm)
}

// GetAccount implements tenancy.Driver.
func (d *Driver) GetAccount(ctx context.Context, sid tenancy.SID) (*tenancy.Account, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	a, err := d.scanAccount(d.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM tenancy_accounts WHERE sid = ?`, string(sid)))
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
	a, err := d.scanAccount(d.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM tenancy_accounts WHERE `+col+` = ?`, value))
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
		a, err := d.scanAccount(rows)
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
	if err := d.updateRow(ctx, tx, a); err != nil {
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
