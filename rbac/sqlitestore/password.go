package sqlitestore

import (
	"context"
	"fmt"

	"github.com/voicegw/voicegw/rbac"
)

// SetPasswordHash implements rbac.PasswordDriver: the hash is a column of
// the member's row.
func (d *Driver) SetPasswordHash(ctx context.Context, memberID, hash string) error {
	if err := d.check(); err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, `UPDATE rbac_members SET password_hash = ? WHERE id = ?`, hash, memberID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("member %q: %w", memberID, rbac.ErrNotFound)
	}
	return nil
}

// PasswordHash implements rbac.PasswordDriver.
func (d *Driver) PasswordHash(ctx context.Context, memberID string) (string, error) {
	if err := d.check(); err != nil {
		return "", err
	}
	var h string
	err := d.db.QueryRowContext(ctx, `SELECT password_hash FROM rbac_members WHERE id = ?`, memberID).Scan(&h)
	return h, notFound(err, "member", memberID)
}
