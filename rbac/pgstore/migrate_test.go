package pgstore

import (
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/pgdb"
	"github.com/voicegw/voicegw/internal/pgnotify"
	"github.com/voicegw/voicegw/internal/pgtest"
	"github.com/voicegw/voicegw/rbac"
)

// TestMigratePasswords: a database made by the first schema (before
// passwords) is brought to the current one at open: its members keep their
// rows, have no password, and can be given one.
func TestMigratePasswords(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Shared(t).NewDatabase(t)
	pool, err := OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, pgnotify.SchemaName, pgnotify.Schema); err != nil {
		t.Fatal(err)
	}
	if err := pgdb.Migrate(ctx, pool, SchemaName, schema[:1]); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := pool.Exec(ctx, `INSERT INTO rbac_members(`+memberCols+`) VALUES ('m1', 'ann@example.com', '', '', $1, '', 'acct-a', NULL, 1, $2, $2)`,
		int16(rbac.ScopeAccount), now); err != nil {
		t.Fatal(err)
	}
	d, err := NewDriver(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := pool.QueryRow(ctx, `SELECT version FROM schema_versions WHERE name = $1`, SchemaName).Scan(&v); err != nil || v != len(schema) {
		t.Fatalf("schema version %d, %v; want %d", v, err, len(schema))
	}
	if h, err := d.PasswordHash(ctx, "m1"); err != nil || h != "" {
		t.Fatalf("PasswordHash of a member from before passwords = %q, %v", h, err)
	}
	s := rbac.NewMemberStore(d, &rbac.StoreOptions{Passwords: rbac.PasswordParams{Memory: 64, Time: 1}})
	if err := s.SetPassword(ctx, "m1", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if m, err := s.VerifyPassword(ctx, "ann@example.com", "correct horse battery"); err != nil || m.ID != "m1" {
		t.Fatalf("VerifyPassword = %v, %v", m, err)
	}
}
