package memstore

import "context"

// SetPasswordHash implements rbac.PasswordDriver.
func (d *Driver) SetPasswordHash(ctx context.Context, memberID, hash string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	if _, ok := d.members[memberID]; !ok {
		return notFound("member", memberID)
	}
	if hash == "" {
		delete(d.passwords, memberID)
	} else {
		d.passwords[memberID] = hash
	}
	return nil
}

// PasswordHash implements rbac.PasswordDriver.
func (d *Driver) PasswordHash(ctx context.Context, memberID string) (string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return "", err
	}
	if _, ok := d.members[memberID]; !ok {
		return "", notFound("member", memberID)
	}
	return d.passwords[memberID], nil
}
