package pgstore

import (
	"context"
	"fmt"

	"github.com/voicegw/voicegw/rbac"
)

// SetPasswordHash implements rbac.PasswordDriver: the hash is a column of
// the member's row, so deleting the member deletes it. The change notifies
// the other processes as a member "update" (the payload names the member,
// never the hash).
func (d *Driver) SetPasswordHash(ctx context.Context, memberID, hash string) error {
	if err := d.check(); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `UPDATE rbac_members SET password_hash = $1 WHERE id = $2`, hash, memberID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
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
	err := d.pool.QueryRow(ctx, `SELECT password_hash FROM rbac_members WHERE id = $1`, memberID).Scan(&h)
	return h, notFound(err, "member", memberID)
}
