// Package pgstore holds rbac's members, roles and API keys in PostgreSQL
// (github.com/jackc/pgx/v5), for gateways on several hosts that share one
// state: a key revoked or deleted through any of them fails on the very next
// request to every other (rbac.KeyStore reads the driver on every check).
//
// Constructors, as in every voicegw driver package: OpenKeyStore and
// OpenMemberStore open a pool to the database named by a connection string
// and return the portable store (closing it closes the pool); NewKeyStore
// and NewMemberStore do the same on a pool opened by OpenPool and perhaps
// shared with other stores (tenancy's accounts, the session limiter), which
// closing leaves open; OpenDriver and NewDriver return the driver itself,
// for conformance suites and wrapping. The schema is applied when a store
// opens, in versioned steps, under an advisory lock (safe when gateways
// start at once).
//
// UNIQUE constraints enforce role names per account, member emails, API
// key names per owner and API key hashes; a member's role is a foreign key,
// so a role cannot be deleted while a member holds it, however the two
// operations interleave across processes. Only HMACs of API key secrets are
// stored (computed in the process: the secret never reaches the server).
// Every write notifies the other processes (LISTEN/NOTIFY, in the same
// transaction); tenancy/pgstore.Watch delivers the changes of every voicegw
// store of the database, these included (resources "api_key", "member",
// "role"; a revocation is Op "revoke").
//
// The Driver is also an rbac.PasswordDriver: members' Argon2id password
// hashes are a column of their row (so the console's sign-in works on
// PostgreSQL), never part of a Member nor of a notification. CheckPepper
// makes every gateway of a database hash API keys with the same pepper.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/internal/pgdb"
	"github.com/voicegw/voicegw/internal/pgnotify"
	"github.com/voicegw/voicegw/rbac"
)

// SchemaName versions the schema in the database's schema_versions table.
const SchemaName = "rbac"

var schema = []string{`
CREATE TABLE rbac_roles (
	id          text PRIMARY KEY,
	account_sid text NOT NULL,
	name        text COLLATE "C" NOT NULL,
	privileges  jsonb NOT NULL,
	revision    bigint NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	CONSTRAINT rbac_roles_name_key UNIQUE (account_sid, name)
);
CREATE TABLE rbac_members (
	id               text PRIMARY KEY,
	email            text COLLATE "C" NOT NULL CONSTRAINT rbac_members_email_key UNIQUE,
	first_name       text NOT NULL,
	last_name        text NOT NULL,
	scope            smallint NOT NULL,
	service_provider text NOT NULL,
	account_sid      text NOT NULL,
	role_id          text CONSTRAINT rbac_members_role_fkey REFERENCES rbac_roles(id),
	revision         bigint NOT NULL,
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL
);
CREATE INDEX rbac_members_account ON rbac_members(account_sid, email);
CREATE INDEX rbac_members_role ON rbac_members(role_id);
CREATE TABLE rbac_api_keys (
	id               text PRIMARY KEY,
	name             text COLLATE "C" NOT NULL,
	service_type     text NOT NULL,
	scope            smallint NOT NULL,
	service_provider text COLLATE "C" NOT NULL,
	account_sid      text COLLATE "C" NOT NULL,
	creator_email    text NOT NULL,
	origin           text NOT NULL DEFAULT '',
	created_at       timestamptz NOT NULL,
	valid_until      timestamptz,
	revoked_at       timestamptz,
	masked           text NOT NULL,
	hash             bytea NOT NULL CONSTRAINT rbac_api_keys_hash_key UNIQUE,
	CONSTRAINT rbac_api_keys_name_key UNIQUE (scope, service_provider, account_sid, name)
);
COMMENT ON COLUMN rbac_api_keys.hash IS 'HMAC-SHA256 of the secret under a pepper kept outside the database';
CREATE INDEX rbac_api_keys_origin ON rbac_api_keys(origin) WHERE origin <> '';
CREATE INDEX rbac_api_keys_creator ON rbac_api_keys(creator_email);
` + pgnotify.Trigger(pgnotify.Table{Name: "rbac_roles", Resource: "role", ID: "id", Account: "account_sid"}) +
	pgnotify.Trigger(pgnotify.Table{Name: "rbac_members", Resource: "member", ID: "id", Account: "account_sid", ServiceProvider: "service_provider"}) +
	pgnotify.Trigger(pgnotify.Table{Name: "rbac_api_keys", Resource: "api_key", ID: "id", Account: "account_sid", ServiceProvider: "service_provider"}),
	// Version 2: members' password hashes (rbac.PasswordDriver).
	`ALTER TABLE rbac_members ADD COLUMN password_hash text NOT NULL DEFAULT '';
COMMENT ON COLUMN rbac_members.password_hash IS 'Argon2id PHC string of the member''s password; never in a Member';`,
	// Version 3: the pepper's check value (CheckPepper).
	`CREATE TABLE rbac_pepper (
	id    smallint PRIMARY KEY CHECK (id = 1),
	check_hmac bytea NOT NULL
);
COMMENT ON COLUMN rbac_pepper.check_hmac IS 'HMAC of a fixed text under the API key pepper: tells a gateway with another pepper, never the pepper';`}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := pgdb.Migrate(ctx, pool, pgnotify.SchemaName, pgnotify.Schema); err != nil {
		return err
	}
	return pgdb.Migrate(ctx, pool, SchemaName, schema)
}

// Driver is the PostgreSQL rbac.MemberDriver (and rbac.PasswordDriver:
// members' Argon2id password hashes, a column of the member's row) and
// rbac.KeyDriver.
type Driver struct {
	pool *pgxpool.Pool
	st   *pgdb.Store
}

var (
	_ rbac.MemberDriver   = (*Driver)(nil)
	_ rbac.KeyDriver      = (*Driver)(nil)
	_ rbac.PasswordDriver = (*Driver)(nil)
)

// OpenPool opens a connection pool as every voicegw PostgreSQL store needs
// it (see tenancy/pgstore.OpenPool, which it is: the stores of a process
// may share one pool). dsn is a postgres:// URL or key=value pairs; "" takes
// the standard PG* environment variables. Errors never show the password.
func OpenPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) { return pgdb.Open(ctx, dsn) }

// OpenDriver opens a pool to dsn and brings the schema up to date; Close
// closes the pool.
func OpenDriver(ctx context.Context, dsn string) (*Driver, error) {
	st, err := pgdb.OpenStore(ctx, dsn, migrate)
	if err != nil {
		return nil, err
	}
	return &Driver{pool: st.Pool(), st: st}, nil
}

// NewDriver uses pool (from OpenPool; other stores may share it) and brings
// the schema up to date; Close leaves the pool open.
func NewDriver(ctx context.Context, pool *pgxpool.Pool) (*Driver, error) {
	st, err := pgdb.NewStore(ctx, pool, migrate)
	if err != nil {
		return nil, err
	}
	return &Driver{pool: pool, st: st}, nil
}

// OpenKeyStore returns the API keys of the database named by dsn; closing
// the store closes its pool. opts may be nil.
func OpenKeyStore(ctx context.Context, dsn string, opts *rbac.KeyStoreOptions) (*rbac.KeyStore, error) {
	d, err := OpenDriver(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return rbac.NewKeyStore(d, opts), nil
}

// NewKeyStore returns the API keys of the database of pool; closing the
// store leaves the pool open. opts may be nil.
func NewKeyStore(ctx context.Context, pool *pgxpool.Pool, opts *rbac.KeyStoreOptions) (*rbac.KeyStore, error) {
	d, err := NewDriver(ctx, pool)
	if err != nil {
		return nil, err
	}
	return rbac.NewKeyStore(d, opts), nil
}

// OpenMemberStore returns the members and roles of the database named by
// dsn; closing the store closes its pool. opts may be nil.
func OpenMemberStore(ctx context.Context, dsn string, opts *rbac.StoreOptions) (*rbac.MemberStore, error) {
	d, err := OpenDriver(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return rbac.NewMemberStore(d, opts), nil
}

// NewMemberStore returns the members and roles of the database of pool;
// closing the store leaves the pool open. opts may be nil.
func NewMemberStore(ctx context.Context, pool *pgxpool.Pool, opts *rbac.StoreOptions) (*rbac.MemberStore, error) {
	d, err := NewDriver(ctx, pool)
	if err != nil {
		return nil, err
	}
	return rbac.NewMemberStore(d, opts), nil
}

// Pool returns the pool.
func (d *Driver) Pool() *pgxpool.Pool { return d.pool }

// Close implements both driver interfaces.
func (d *Driver) Close() error { return d.st.Close() }

func (d *Driver) check() error {
	if d.st.Closed() {
		return rbac.ErrClosed
	}
	return nil
}

func notFound(err error, what, id string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", what, id, rbac.ErrNotFound)
	}
	return err
}

func isUnique(err error, constraint string) bool {
	c, kind, ok := pgdb.Constraint(err)
	return ok && kind == "unique" && c == constraint
}

const roleCols = `id, account_sid, name, privileges, revision, created_at, updated_at`

func scanRole(row pgx.Row) (*rbac.Role, error) {
	var r rbac.Role
	var priv []byte
	var created, updated time.Time
	if err := row.Scan(&r.ID, &r.Account, &r.Name, &priv, &r.Revision, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(priv, &r.Privileges); err != nil {
		return nil, fmt.Errorf("pgstore: role %s: privileges: %w", r.ID, err)
	}
	r.CreatedAt, r.UpdatedAt = created.UTC(), updated.UTC()
	return &r, nil
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
	_, err = d.pool.Exec(ctx, `INSERT INTO rbac_roles(`+roleCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.Account, r.Name, priv, r.Revision, r.CreatedAt, r.UpdatedAt)
	if isUnique(err, "rbac_roles_name_key") {
		return rbac.Taken("role", "name", r.Name)
	}
	return err
}

// GetRole implements rbac.MemberDriver.
func (d *Driver) GetRole(ctx context.Context, id string) (*rbac.Role, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	r, err := scanRole(d.pool.QueryRow(ctx, `SELECT `+roleCols+` FROM rbac_roles WHERE id = $1`, id))
	return r, notFound(err, "role", id)
}

// ListRoles implements rbac.MemberDriver.
func (d *Driver) ListRoles(ctx context.Context, account string) ([]*rbac.Role, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `SELECT `+roleCols+` FROM rbac_roles WHERE account_sid = $1 ORDER BY name`, account)
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

// UpdateRole implements rbac.MemberDriver: one conditional UPDATE.
func (d *Driver) UpdateRole(ctx context.Context, r *rbac.Role, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	priv, err := json.Marshal(r.Privileges)
	if err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `UPDATE rbac_roles SET name = $1, privileges = $2, revision = $3, updated_at = $4
		WHERE id = $5 AND revision = $6`, r.Name, priv, r.Revision, r.UpdatedAt, r.ID, wantRevision)
	if isUnique(err, "rbac_roles_name_key") {
		return rbac.Taken("role", "name", r.Name)
	} else if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var rev int64
	if err := d.pool.QueryRow(ctx, `SELECT revision FROM rbac_roles WHERE id = $1`, r.ID).Scan(&rev); err != nil {
		return notFound(err, "role", r.ID)
	}
	return fmt.Errorf("role %q at revision %d, update from %d: %w", r.ID, rev, wantRevision, rbac.ErrConflict)
}

// DeleteRole implements rbac.MemberDriver. The members' foreign key refuses
// the deletion of a role a member holds, including one given to a member
// by a transaction that commits first.
func (d *Driver) DeleteRole(ctx context.Context, id string) error {
	if err := d.check(); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM rbac_roles WHERE id = $1`, id)
	if _, kind, ok := pgdb.Constraint(err); ok && kind == "foreign" {
		var holder string
		_ = d.pool.QueryRow(ctx, `SELECT email FROM rbac_members WHERE role_id = $1 ORDER BY email LIMIT 1`, id).Scan(&holder)
		return fmt.Errorf("role %q is held by member %q: %w", id, holder, rbac.ErrInUse)
	} else if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("role %q: %w", id, rbac.ErrNotFound)
	}
	return nil
}

const memberCols = `id, email, first_name, last_name, scope, service_provider, account_sid, role_id, revision, created_at, updated_at`

func scanMember(row pgx.Row) (*rbac.Member, error) {
	var m rbac.Member
	var role *string
	var scope int16
	var created, updated time.Time
	if err := row.Scan(&m.ID, &m.Email, &m.FirstName, &m.LastName, &scope, &m.ServiceProvider, &m.Account, &role,
		&m.Revision, &created, &updated); err != nil {
		return nil, err
	}
	m.Scope = rbac.Scope(scope)
	if role != nil {
		m.RoleID = *role
	}
	m.CreatedAt, m.UpdatedAt = created.UTC(), updated.UTC()
	return &m, nil
}

// checkRole verifies that m may hold its role: a platform role or one of
// its account. The role's existence at commit is the foreign key's job.
func (d *Driver) checkRole(ctx context.Context, m *rbac.Member) error {
	if m.RoleID == "" {
		return nil
	}
	var ok bool
	if err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rbac_roles WHERE id = $1 AND (account_sid = '' OR account_sid = $2))`,
		m.RoleID, m.Account).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return rbac.NoSuchRole(m.RoleID)
	}
	return nil
}

// memberErr maps a write's constraint violations.
func memberErr(err error, m *rbac.Member) error {
	c, kind, ok := pgdb.Constraint(err)
	switch {
	case !ok:
		return err
	case kind == "foreign":
		return rbac.NoSuchRole(m.RoleID) // deleted meanwhile
	case c == "rbac_members_email_key":
		return rbac.Taken("member", "email", m.Email)
	}
	return err
}

// CreateMember implements rbac.MemberDriver.
func (d *Driver) CreateMember(ctx context.Context, m *rbac.Member) error {
	if err := d.check(); err != nil {
		return err
	}
	if err := d.checkRole(ctx, m); err != nil {
		return err
	}
	_, err := d.pool.Exec(ctx, `INSERT INTO rbac_members(`+memberCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		m.ID, m.Email, m.FirstName, m.LastName, int16(m.Scope), m.ServiceProvider, m.Account, pgdb.NullString(m.RoleID),
		m.Revision, m.CreatedAt, m.UpdatedAt)
	return memberErr(err, m)
}

// GetMember implements rbac.MemberDriver.
func (d *Driver) GetMember(ctx context.Context, id string) (*rbac.Member, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	m, err := scanMember(d.pool.QueryRow(ctx, `SELECT `+memberCols+` FROM rbac_members WHERE id = $1`, id))
	return m, notFound(err, "member", id)
}

// MemberByEmail implements rbac.MemberDriver.
func (d *Driver) MemberByEmail(ctx context.Context, email string) (*rbac.Member, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	m, err := scanMember(d.pool.QueryRow(ctx, `SELECT `+memberCols+` FROM rbac_members WHERE email = $1`, email))
	return m, notFound(err, "member", email)
}

// ListMembers implements rbac.MemberDriver.
func (d *Driver) ListMembers(ctx context.Context, account string) ([]*rbac.Member, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `SELECT `+memberCols+` FROM rbac_members WHERE account_sid = $1 ORDER BY email`, account)
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

// UpdateMember implements rbac.MemberDriver: a check of the role, then one
// conditional UPDATE.
func (d *Driver) UpdateMember(ctx context.Context, m *rbac.Member, wantRevision int64) error {
	if err := d.check(); err != nil {
		return err
	}
	var rev int64
	if err := d.pool.QueryRow(ctx, `SELECT revision FROM rbac_members WHERE id = $1`, m.ID).Scan(&rev); err != nil {
		return notFound(err, "member", m.ID)
	}
	if rev != wantRevision {
		return fmt.Errorf("member %q at revision %d, update from %d: %w", m.ID, rev, wantRevision, rbac.ErrConflict)
	}
	if err := d.checkRole(ctx, m); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `UPDATE rbac_members SET email = $1, first_name = $2, last_name = $3, scope = $4,
		service_provider = $5, account_sid = $6, role_id = $7, revision = $8, updated_at = $9 WHERE id = $10 AND revision = $11`,
		m.Email, m.FirstName, m.LastName, int16(m.Scope), m.ServiceProvider, m.Account, pgdb.NullString(m.RoleID),
		m.Revision, m.UpdatedAt, m.ID, wantRevision)
	if err != nil {
		return memberErr(err, m)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("member %q changed during the update from revision %d: %w", m.ID, wantRevision, rbac.ErrConflict)
	}
	return nil
}

// DeleteMember implements rbac.MemberDriver.
func (d *Driver) DeleteMember(ctx context.Context, id string) error {
	if err := d.check(); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM rbac_members WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("member %q: %w", id, rbac.ErrNotFound)
	}
	return nil
}

const keyCols = `id, name, service_type, scope, service_provider, account_sid, creator_email, created_at, valid_until, revoked_at, masked, hash, origin`

func scanKey(row pgx.Row) (*rbac.APIKey, error) {
	var k rbac.APIKey
	var scope int16
	var created time.Time
	var valid, revoked *time.Time
	var hash []byte
	if err := row.Scan(&k.ID, &k.Name, &k.ServiceType, &scope, &k.ServiceProvider, &k.Account, &k.CreatorEmail,
		&created, &valid, &revoked, &k.Masked, &hash, &k.Origin); err != nil {
		return nil, err
	}
	if len(hash) != len(k.Hash) {
		return nil, fmt.Errorf("pgstore: API key %s: hash of %d bytes", k.ID, len(hash))
	}
	copy(k.Hash[:], hash)
	k.Scope = rbac.Scope(scope)
	k.CreatedAt, k.ValidUntil, k.RevokedAt = created.UTC(), pgdb.UTC(valid), pgdb.UTC(revoked)
	return &k, nil
}

// CreateKey implements rbac.KeyDriver.
func (d *Driver) CreateKey(ctx context.Context, k *rbac.APIKey) error {
	if err := d.check(); err != nil {
		return err
	}
	_, err := d.pool.Exec(ctx, `INSERT INTO rbac_api_keys(`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		k.ID, k.Name, k.ServiceType, int16(k.Scope), k.ServiceProvider, k.Account, k.CreatorEmail,
		k.CreatedAt, pgdb.NullTime(k.ValidUntil), pgdb.NullTime(k.RevokedAt), k.Masked, k.Hash[:], k.Origin)
	switch {
	case isUnique(err, "rbac_api_keys_hash_key"):
		return rbac.Taken("api_key", "secret", "")
	case isUnique(err, "rbac_api_keys_name_key"):
		return rbac.Taken("api_key", "name", k.Name)
	}
	return err
}

// KeyByHash implements rbac.KeyDriver: one indexed lookup.
func (d *Driver) KeyByHash(ctx context.Context, hash [32]byte) (*rbac.APIKey, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	k, err := scanKey(d.pool.QueryRow(ctx, `SELECT `+keyCols+` FROM rbac_api_keys WHERE hash = $1`, hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, rbac.ErrNotFound
	}
	return k, err
}

// GetKey implements rbac.KeyDriver.
func (d *Driver) GetKey(ctx context.Context, id string) (*rbac.APIKey, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	k, err := scanKey(d.pool.QueryRow(ctx, `SELECT `+keyCols+` FROM rbac_api_keys WHERE id = $1`, id))
	return k, notFound(err, "API key", id)
}

// ListKeys implements rbac.KeyDriver.
func (d *Driver) ListKeys(ctx context.Context, f rbac.KeyFilter) ([]*rbac.APIKey, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Owner != nil {
		where = append(where, `scope = `+arg(int16(f.Owner.Scope))+` AND service_provider = `+arg(f.Owner.ServiceProvider)+
			` AND account_sid = `+arg(f.Owner.Account))
	}
	if f.Origin != "" {
		where = append(where, `origin = `+arg(f.Origin))
	}
	if f.CreatorEmail != "" {
		where = append(where, `creator_email = `+arg(f.CreatorEmail))
	}
	q := `SELECT ` + keyCols + ` FROM rbac_api_keys`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	rows, err := d.pool.Query(ctx, q+` ORDER BY scope, service_provider, account_sid, name`, args...)
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

// RevokeKey implements rbac.KeyDriver. Revoking again changes nothing (and
// notifies nothing).
func (d *Driver) RevokeKey(ctx context.Context, id string, at time.Time) error {
	if err := d.check(); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `UPDATE rbac_api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, at, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rbac_api_keys WHERE id = $1)`, id).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("API key %q: %w", id, rbac.ErrNotFound)
	}
	return nil
}

// DeleteKey implements rbac.KeyDriver.
func (d *Driver) DeleteKey(ctx context.Context, id string) error {
	if err := d.check(); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM rbac_api_keys WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("API key %q: %w", id, rbac.ErrNotFound)
	}
	return nil
}
