// Package sqlitestore holds rbac's members, roles and API keys in SQLite
// (modernc.org/sqlite, pure Go): the embedded durable default.
//
// Constructors, as in every voicegw driver package: OpenKeyStore and
// OpenMemberStore open a database file and return the portable store
// (closing it closes the file); NewKeyStore and NewMemberStore do the same
// on a database opened by OpenDB and perhaps shared with other stores (the
// tenancy stores, the session limiter), which closing leaves open;
// OpenDriver and NewDriver return the driver itself, for conformance suites
// and wrapping. The database files are readable by their owner only (mode
// 0600, whatever the directory's) and at most a few connections are open
// per database (see OpenDB).
//
// UNIQUE indexes enforce role names per account, member emails, API key
// names per owner and API key hashes; checks that span tables (a member's
// role, a role still held) run in IMMEDIATE transactions, so they hold under
// concurrent writers, in one process or several sharing the file on one host.
// Only hashes of API key secrets are stored.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/rbac"
)

// SchemaName versions the schema in the database's schema_versions table.
const SchemaName = "rbac"

var schema = []string{`
CREATE TABLE rbac_roles (
	id          TEXT PRIMARY KEY,
	account_sid TEXT NOT NULL,
	name        TEXT NOT NULL,
	privileges  TEXT NOT NULL,
	revision    INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	UNIQUE(account_sid, name)
);
CREATE TABLE rbac_members (
	id               TEXT PRIMARY KEY,
	email            TEXT NOT NULL UNIQUE,
	first_name       TEXT NOT NULL,
	last_name        TEXT NOT NULL,
	scope            INTEGER NOT NULL,
	service_provider TEXT NOT NULL,
	account_sid      TEXT NOT NULL,
	role_id          TEXT REFERENCES rbac_roles(id),
	revision         INTEGER NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
);
CREATE INDEX rbac_members_account ON rbac_members(account_sid, email);
CREATE TABLE rbac_api_keys (
	id               TEXT PRIMARY KEY,
	name             TEXT NOT NULL,
	service_type     TEXT NOT NULL,
	scope            INTEGER NOT NULL,
	service_provider TEXT NOT NULL,
	account_sid      TEXT NOT NULL,
	creator_email    TEXT NOT NULL,
	created_at       INTEGER NOT NULL,
	valid_until      INTEGER,
	revoked_at       INTEGER,
	masked           TEXT NOT NULL,
	hash             BLOB NOT NULL UNIQUE,
	UNIQUE(scope, service_provider, account_sid, name)
);`, `
ALTER TABLE rbac_api_keys ADD COLUMN origin TEXT NOT NULL DEFAULT '';
CREATE INDEX rbac_api_keys_origin ON rbac_api_keys(origin) WHERE origin <> '';
CREATE INDEX rbac_api_keys_creator ON rbac_api_keys(creator_email);`}

// Driver is the SQLite rbac.MemberDriver and rbac.KeyDriver.
type Driver struct {
	db *sql.DB
	st *sqlitedb.Store
}

var (
	_ rbac.MemberDriver = (*Driver)(nil)
	_ rbac.KeyDriver    = (*Driver)(nil)
)

// MaxConns bounds the connections OpenDB keeps to one database (the same
// bound in every voicegw SQLite package).
const MaxConns = sqlitedb.MaxConns

// OpenDB opens (creating if needed) the SQLite database at path the way
// every voicegw store needs it (WAL journal, busy timeout, foreign keys,
// immediate transactions, files of mode 0600, at most MaxConns connections
// kept open), for the New* constructors of this package and of the other
// voicegw SQLite packages (tenancy/sqlitestore, insights/sqliteindex), which
// may share it. ":memory:" is a private in-memory database (one
// connection). Do not raise its connection bound past its idle bound: a
// connection SQLite closes while others hold locks keeps its descriptor.
func OpenDB(ctx context.Context, path string) (*sql.DB, error) { return sqlitedb.Open(ctx, path) }

// OpenDriver opens (creating if needed) the database at path (":memory:"
// for a private in-memory one) and brings the schema up to date. Close
// closes it.
func OpenDriver(ctx context.Context, path string) (*Driver, error) {
	st, err := sqlitedb.OpenStore(ctx, path, SchemaName, schema)
	if err != nil {
		return nil, err
	}
	return &Driver{db: st.DB(), st: st}, nil
}

// NewDriver uses db, opened with OpenDB (other stores may share it), and
// brings the schema up to date. Close leaves db open.
func NewDriver(ctx context.Context, db *sql.DB) (*Driver, error) {
	st, err := sqlitedb.NewStore(ctx, db, SchemaName, schema)
	if err != nil {
		return nil, err
	}
	return &Driver{db: db, st: st}, nil
}

// OpenKeyStore returns the API keys of the database at path (created if
// needed); closing the store closes the database. opts may be nil.
func OpenKeyStore(ctx context.Context, path string, opts *rbac.KeyStoreOptions) (*rbac.KeyStore, error) {
	d, err := OpenDriver(ctx, path)
	if err != nil {
		return nil, err
	}
	return rbac.NewKeyStore(d, opts), nil
}

// NewKeyStore returns the API keys of db, opened with OpenDB; closing the
// store leaves db open. opts may be nil.
func NewKeyStore(ctx context.Context, db *sql.DB, opts *rbac.KeyStoreOptions) (*rbac.KeyStore, error) {
	d, err := NewDriver(ctx, db)
	if err != nil {
		return nil, err
	}
	return rbac.NewKeyStore(d, opts), nil
}

// OpenMemberStore returns the members and roles of the database at path
// (created if needed); closing the store closes the database. opts may be
// nil.
func OpenMemberStore(ctx context.Context, path string, opts *rbac.StoreOptions) (*rbac.MemberStore, error) {
	d, err := OpenDriver(ctx, path)
	if err != nil {
		return nil, err
	}
	return rbac.NewMemberStore(d, opts), nil
}

// NewMemberStore returns the members and roles of db, opened with OpenDB;
// closing the store leaves db open. opts may be nil.
func NewMemberStore(ctx context.Context, db *sql.DB, opts *rbac.StoreOptions) (*rbac.MemberStore, error) {
	d, err := NewDriver(ctx, db)
	if err != nil {
		return nil, err
	}
	return rbac.NewMemberStore(d, opts), nil
}

// DB returns the database.
func (d *Driver) DB() *sql.DB { return d.db }

// Close implements both driver interfaces.
func (d *Driver) Close() error {
	return d.st.Close()
}

func (d *Driver) check() error {
	if d.st.Closed() {
		return rbac.ErrClosed
	}
	return nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return sqlitedb.Micros(t)
}

func readTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return sqlitedb.FromMicros(v.Int64)
}

type scanner interface{ Scan(dest ...any) error }

const roleCols = `id, account_sid, name, privileges, revision, created_at, updated_at`

func scanRole(row scanner) (*rbac.Role, error) {
	var r rbac.Role
	var priv string
	var created, updated int64
	if err := row.Scan(&r.ID, &r.Account, &r.Name, &priv, &r.Revision, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(priv), &r.Privileges); err != nil {
		return nil, fmt.Errorf("sqlitestore: role %s: privileges: %w", r.ID, err)
	}
	r.CreatedAt, r.UpdatedAt = sqlitedb.FromMicros(created), sqlitedb.FromMicros(updated)
	return &r, nil
}

func notFound(err error, what, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", what, id, rbac.ErrNotFound)
	}
	return err
}

// CreateRole implements rbac.MemberDriver.
func (d *Driver) CreateRole(ctx context.Context, r *rbac.Role) error {
	if err := d.check(); err != nil {
		return err
	}
	priv, err := json.Marshal(r.Privileges)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO rbac_roles(`+roleCols+`) VALUES(?,?,?,?,?,?,?)`,
		r.ID, r.Account, r.Name, string(priv), r.Revision, sqlitedb.Micros(r.CreatedAt), sqlitedb.Micros(r.UpdatedAt))
	if sqlitedb.IsConstraint(err) {
		return rbac.Taken("role", "name", r.Name)
	}
	return err
}

// GetRole implements rbac.MemberDriver.
func (d *Driver) GetRole(ctx context.Context, id string) (*rbac.Role, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	r, err := scanRole(d.db.QueryRowContext(ctx, `SELECT `+roleCols+` FROM rbac_roles WHERE id = ?`, id))
	return r, notFound(err, "role", id)
}

// ListRoles implements rbac.MemberDriver.
func (d *Driver) ListRoles(ctx context.Context, account string) ([]*rbac.Role, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+roleCols+` FROM rbac_roles WHERE account_sid = ? ORDER BY name`, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*rbac.Role{}
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UpdateRole implements rbac.MemberDriver.
func (d *Driver) UpdateRole(ctx context.Context, r *rbac.Role, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	priv, err := json.Marshal(r.Privileges)
	if err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var rev int64
	if err := tx.QueryRowContext(ctx, `SELECT revision FROM rbac_roles WHERE id = ?`, r.ID).Scan(&rev); err != nil {
		return notFound(err, "role", r.ID)
	}
	if rev != wantRevision {
		return fmt.Errorf("role %q at revision %d, update from %d: %w", r.ID, rev, wantRevision, rbac.ErrConflict)
	}
	_, err = tx.ExecContext(ctx, `UPDATE rbac_roles SET name = ?, privileges = ?, revision = ?, updated_at = ? WHERE id = ?`,
		r.Name, string(priv), r.Revision, sqlitedb.Micros(r.UpdatedAt), r.ID)
	if sqlitedb.IsConstraint(err) {
		return rbac.Taken("role", "name", r.Name)
	} else if err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteRole implements rbac.MemberDriver.
func (d *Driver) DeleteRole(ctx context.Context, id string) error {
	if err := d.check(); err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var holder string
	err = tx.QueryRowContext(ctx, `SELECT email FROM rbac_members WHERE role_id = ? LIMIT 1`, id).Scan(&holder)
	if err == nil {
		return fmt.Errorf("role %q is held by member %q: %w", id, holder, rbac.ErrInUse)
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM rbac_roles WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("role %q: %w", id, rbac.ErrNotFound)
	}
	return tx.Commit()
}

const memberCols = `id, email, first_name, last_name, scope, service_provider, account_sid, role_id, revision, created_at, updated_at`

func scanMember(row scanner) (*rbac.Member, error) {
	var m rbac.Member
	var role sql.NullString
	var scope uint8
	var created, updated int64
	if err := row.Scan(&m.ID, &m.Email, &m.FirstName, &m.LastName, &scope, &m.ServiceProvider, &m.Account, &role, &m.Revision, &created, &updated); err != nil {
		return nil, err
	}
	m.Scope, m.RoleID = rbac.Scope(scope), role.String
	m.CreatedAt, m.UpdatedAt = sqlitedb.FromMicros(created), sqlitedb.FromMicros(updated)
	return &m, nil
}

// checkRole verifies, inside tx, that m may hold its role.
func checkRole(ctx context.Context, tx *sql.Tx, m *rbac.Member) error {
	if m.RoleID == "" {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rbac_roles WHERE id = ? AND (account_sid = '' OR account_sid = ?)`,
		m.RoleID, m.Account).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return rbac.NoSuchRole(m.RoleID)
	}
	return nil
}

// CreateMember implements rbac.MemberDriver.
func (d *Driver) CreateMember(ctx context.Context, m *rbac.Member) error {
	if err := d.check(); err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := checkRole(ctx, tx, m); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO rbac_members(`+memberCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?)`,
		m.ID, m.Email, m.FirstName, m.LastName, uint8(m.Scope), m.ServiceProvider, m.Account, sqlitedb.NullString(m.RoleID),
		m.Revision, sqlitedb.Micros(m.CreatedAt), sqlitedb.Micros(m.UpdatedAt))
	if sqlitedb.IsConstraint(err) {
		return rbac.Taken("member", "email", m.Email)
	} else if err != nil {
		return err
	}
	return tx.Commit()
}

// GetMember implements rbac.MemberDriver.
func (d *Driver) GetMember(ctx context.Context, id string) (*rbac.Member, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	m, err := scanMember(d.db.QueryRowContext(ctx, `SELECT `+memberCols+` FROM rbac_members WHERE id = ?`, id))
	return m, notFound(err, "member", id)
}

// MemberByEmail implements rbac.MemberDriver.
func (d *Driver) MemberByEmail(ctx context.Context, email string) (*rbac.Member, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	m, err := scanMember(d.db.QueryRowContext(ctx, `SELECT `+memberCols+` FROM rbac_members WHERE email = ?`, email))
	return m, notFound(err, "member", email)
}

// ListMembers implements rbac.MemberDriver.
func (d *Driver) ListMembers(ctx context.Context, account string) ([]*rbac.Member, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+memberCols+` FROM rbac_members WHERE account_sid = ? ORDER BY email`, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*rbac.Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UpdateMember implements rbac.MemberDriver.
func (d *Driver) UpdateMember(ctx context.Context, m *rbac.Member, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var rev int64
	if err := tx.QueryRowContext(ctx, `SELECT revision FROM rbac_members WHERE id = ?`, m.ID).Scan(&rev); err != nil {
		return notFound(err, "member", m.ID)
	}
	if rev != wantRevision {
		return fmt.Errorf("member %q at revision %d, update from %d: %w", m.ID, rev, wantRevision, rbac.ErrConflict)
	}
	if err := checkRole(ctx, tx, m); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE rbac_members SET email = ?, first_name = ?, last_name = ?, scope = ?,
		service_provider = ?, account_sid = ?, role_id = ?, revision = ?, updated_at = ? WHERE id = ?`,
		m.Email, m.FirstName, m.LastName, uint8(m.Scope), m.ServiceProvider, m.Account, sqlitedb.NullString(m.RoleID),
		m.Revision, sqlitedb.Micros(m.UpdatedAt), m.ID)
	if sqlitedb.IsConstraint(err) {
		return rbac.Taken("member", "email", m.Email)
	} else if err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteMember implements rbac.MemberDriver.
func (d *Driver) DeleteMember(ctx context.Context, id string) error {
	if err := d.check(); err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, `DELETE FROM rbac_members WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("member %q: %w", id, rbac.ErrNotFound)
	}
	return nil
}

const keyCols = `id, name, service_type, scope, service_provider, account_sid, creator_email, created_at, valid_until, revoked_at, masked, hash, origin`

func scanKey(row scanner) (*rbac.APIKey, error) {
	var k rbac.APIKey
	var scope uint8
	var created int64
	var valid, revoked sql.NullInt64
	var hash []byte
	if err := row.Scan(&k.ID, &k.Name, &k.ServiceType, &scope, &k.ServiceProvider, &k.Account, &k.CreatorEmail,
		&created, &valid, &revoked, &k.Masked, &hash, &k.Origin); err != nil {
		return nil, err
	}
	if len(hash) != len(k.Hash) {
		return nil, fmt.Errorf("sqlitestore: API key %s: hash of %d bytes", k.ID, len(hash))
	}
	copy(k.Hash[:], hash)
	k.Scope = rbac.Scope(scope)
	k.CreatedAt, k.ValidUntil, k.RevokedAt = sqlitedb.FromMicros(created), readTime(valid), readTime(revoked)
	return &k, nil
}

// CreateKey implements rbac.KeyDriver.
func (d *Driver) CreateKey(ctx context.Context, k *rbac.APIKey) error {
	if err := d.check(); err != nil {
		return err
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO rbac_api_keys(`+keyCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		k.ID, k.Name, k.ServiceType, uint8(k.Scope), k.ServiceProvider, k.Account, k.CreatorEmail,
		sqlitedb.Micros(k.CreatedAt), nullTime(k.ValidUntil), nullTime(k.RevokedAt), k.Masked, k.Hash[:], k.Origin)
	if sqlitedb.IsConstraint(err) {
		if strings.Contains(err.Error(), "rbac_api_keys.hash") {
			return rbac.Taken("api_key", "secret", "")
		}
		return rbac.Taken("api_key", "name", k.Name)
	}
	return err
}

// KeyByHash implements rbac.KeyDriver.
func (d *Driver) KeyByHash(ctx context.Context, hash [32]byte) (*rbac.APIKey, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	k, err := scanKey(d.db.QueryRowContext(ctx, `SELECT `+keyCols+` FROM rbac_api_keys WHERE hash = ?`, hash[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rbac.ErrNotFound
	}
	return k, err
}

// GetKey implements rbac.KeyDriver.
func (d *Driver) GetKey(ctx context.Context, id string) (*rbac.APIKey, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	k, err := scanKey(d.db.QueryRowContext(ctx, `SELECT `+keyCols+` FROM rbac_api_keys WHERE id = ?`, id))
	return k, notFound(err, "API key", id)
}

// ListKeys implements rbac.KeyDriver.
func (d *Driver) ListKeys(ctx context.Context, f rbac.KeyFilter) ([]*rbac.APIKey, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if f.Owner != nil {
		where = append(where, `scope = ? AND service_provider = ? AND account_sid = ?`)
		args = append(args, uint8(f.Owner.Scope), f.Owner.ServiceProvider, f.Owner.Account)
	}
	if f.Origin != "" {
		where = append(where, `origin = ?`)
		args = append(args, f.Origin)
	}
	if f.CreatorEmail != "" {
		where = append(where, `creator_email = ?`)
		args = append(args, f.CreatorEmail)
	}
	q := `SELECT ` + keyCols + ` FROM rbac_api_keys`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	rows, err := d.db.QueryContext(ctx, q+` ORDER BY scope, service_provider, account_sid, name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*rbac.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeKey implements rbac.KeyDriver.
func (d *Driver) RevokeKey(ctx context.Context, id string, at time.Time) error {
	if err := d.check(); err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, `UPDATE rbac_api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, sqlitedb.Micros(at), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("API key %q: %w", id, rbac.ErrNotFound)
	}
	return nil
}

// DeleteKey implements rbac.KeyDriver.
func (d *Driver) DeleteKey(ctx context.Context, id string) error {
	if err := d.check(); err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, `DELETE FROM rbac_api_keys WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("API key %q: %w", id, rbac.ErrNotFound)
	}
	return nil
}
