// Package memstore holds rbac's members, roles and API keys in memory: for
// tests, development and single-process gateways without durability. Every
// operation runs under one lock, so uniqueness and revision checks are
// atomic.
package memstore

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/voicegw/voicegw/rbac"
)

// Driver is an in-memory rbac.MemberDriver and rbac.KeyDriver. Create it
// with NewDriver (for a conformance suite or your own wrapping); NewKeyStore
// and NewMemberStore return the portable stores over a fresh one.
type Driver struct {
	mu        sync.RWMutex
	closed    bool
	roles     map[string]*rbac.Role
	roleNames map[string]string // account + "\x00" + name → id
	members   map[string]*rbac.Member
	emails    map[string]string // email → id
	keys      map[string]*rbac.APIKey
	hashes    map[[32]byte]string
	keyNames  map[string]string // owner + name → id
}

var (
	_ rbac.MemberDriver = (*Driver)(nil)
	_ rbac.KeyDriver    = (*Driver)(nil)
)

// NewDriver returns an empty driver.
func NewDriver() *Driver {
	return &Driver{
		roles: map[string]*rbac.Role{}, roleNames: map[string]string{},
		members: map[string]*rbac.Member{}, emails: map[string]string{},
		keys: map[string]*rbac.APIKey{}, hashes: map[[32]byte]string{}, keyNames: map[string]string{},
	}
}

// NewMemberStore returns an empty member store in memory:
// rbac.NewMemberStore(NewDriver(), opts). opts may be nil.
func NewMemberStore(opts *rbac.StoreOptions) *rbac.MemberStore {
	return rbac.NewMemberStore(NewDriver(), opts)
}

// NewKeyStore returns an empty API key store in memory:
// rbac.NewKeyStore(NewDriver(), opts). opts may be nil.
func NewKeyStore(opts *rbac.KeyStoreOptions) *rbac.KeyStore {
	return rbac.NewKeyStore(NewDriver(), opts)
}

func (d *Driver) check(ctx context.Context) error {
	if d.closed {
		return rbac.ErrClosed
	}
	return ctx.Err()
}

func notFound(what, id string) error { return fmt.Errorf("%s %q: %w", what, id, rbac.ErrNotFound) }

func roleKey(account, name string) string { return account + "\x00" + name }

func cloneRole(r *rbac.Role) *rbac.Role       { c := *r; return &c }
func cloneMember(m *rbac.Member) *rbac.Member { c := *m; return &c }
func cloneKey(k *rbac.APIKey) *rbac.APIKey    { c := *k; return &c }

// CreateRole implements rbac.MemberDriver.
func (d *Driver) CreateRole(ctx context.Context, r *rbac.Role) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	k := roleKey(r.Account, r.Name)
	if _, dup := d.roleNames[k]; dup {
		return rbac.Taken("role", "name", r.Name)
	}
	d.roles[r.ID] = cloneRole(r)
	d.roleNames[k] = r.ID
	return nil
}

// GetRole implements rbac.MemberDriver.
func (d *Driver) GetRole(ctx context.Context, id string) (*rbac.Role, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	r, ok := d.roles[id]
	if !ok {
		return nil, notFound("role", id)
	}
	return cloneRole(r), nil
}

// ListRoles implements rbac.MemberDriver.
func (d *Driver) ListRoles(ctx context.Context, account string) ([]*rbac.Role, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	out := []*rbac.Role{}
	for _, r := range d.roles {
		if r.Account == account {
			out = append(out, cloneRole(r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateRole implements rbac.MemberDriver.
func (d *Driver) UpdateRole(ctx context.Context, r *rbac.Role, wantRevision int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	cur, ok := d.roles[r.ID]
	if !ok {
		return notFound("role", r.ID)
	}
	if cur.Revision != wantRevision {
		return fmt.Errorf("role %q at revision %d, update from %d: %w", r.ID, cur.Revision, wantRevision, rbac.ErrConflict)
	}
	k := roleKey(r.Account, r.Name)
	if id, dup := d.roleNames[k]; dup && id != r.ID {
		return rbac.Taken("role", "name", r.Name)
	}
	delete(d.roleNames, roleKey(cur.Account, cur.Name))
	d.roles[r.ID] = cloneRole(r)
	d.roleNames[k] = r.ID
	return nil
}

// DeleteRole implements rbac.MemberDriver.
func (d *Driver) DeleteRole(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	cur, ok := d.roles[id]
	if !ok {
		return notFound("role", id)
	}
	for _, m := range d.members {
		if m.RoleID == id {
			return fmt.Errorf("role %q is held by member %q: %w", id, m.Email, rbac.ErrInUse)
		}
	}
	delete(d.roles, id)
	delete(d.roleNames, roleKey(cur.Account, cur.Name))
	return nil
}

func (d *Driver) checkRole(m *rbac.Member) error {
	if m.RoleID == "" {
		return nil
	}
	r, ok := d.roles[m.RoleID]
	if !ok || (r.Account != "" && r.Account != m.Account) {
		return rbac.NoSuchRole(m.RoleID)
	}
	return nil
}

// CreateMember implements rbac.MemberDriver.
func (d *Driver) CreateMember(ctx context.Context, m *rbac.Member) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	if _, dup := d.emails[m.Email]; dup {
		return rbac.Taken("member", "email", m.Email)
	}
	if err := d.checkRole(m); err != nil {
		return err
	}
	d.members[m.ID] = cloneMember(m)
	d.emails[m.Email] = m.ID
	return nil
}

// GetMember implements rbac.MemberDriver.
func (d *Driver) GetMember(ctx context.Context, id string) (*rbac.Member, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	m, ok := d.members[id]
	if !ok {
		return nil, notFound("member", id)
	}
	return cloneMember(m), nil
}

// MemberByEmail implements rbac.MemberDriver.
func (d *Driver) MemberByEmail(ctx context.Context, email string) (*rbac.Member, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	id, ok := d.emails[email]
	if !ok {
		return nil, notFound("member", email)
	}
	return cloneMember(d.members[id]), nil
}

// ListMembers implements rbac.MemberDriver.
func (d *Driver) ListMembers(ctx context.Context, account string) ([]*rbac.Member, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	out := []*rbac.Member{}
	for _, m := range d.members {
		if m.Account == account {
			out = append(out, cloneMember(m))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out, nil
}

// UpdateMember implements rbac.MemberDriver.
func (d *Driver) UpdateMember(ctx context.Context, m *rbac.Member, wantRevision int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	cur, ok := d.members[m.ID]
	if !ok {
		return notFound("member", m.ID)
	}
	if cur.Revision != wantRevision {
		return fmt.Errorf("member %q at revision %d, update from %d: %w", m.ID, cur.Revision, wantRevision, rbac.ErrConflict)
	}
	if id, dup := d.emails[m.Email]; dup && id != m.ID {
		return rbac.Taken("member", "email", m.Email)
	}
	if err := d.checkRole(m); err != nil {
		return err
	}
	delete(d.emails, cur.Email)
	d.members[m.ID] = cloneMember(m)
	d.emails[m.Email] = m.ID
	return nil
}

// DeleteMember implements rbac.MemberDriver.
func (d *Driver) DeleteMember(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	cur, ok := d.members[id]
	if !ok {
		return notFound("member", id)
	}
	delete(d.members, id)
	delete(d.emails, cur.Email)
	return nil
}

func keyName(k *rbac.APIKey) string {
	return fmt.Sprintf("%d\x00%s\x00%s\x00%s", k.Scope, k.ServiceProvider, k.Account, k.Name)
}

// CreateKey implements rbac.KeyDriver.
func (d *Driver) CreateKey(ctx context.Context, k *rbac.APIKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	n := keyName(k)
	if _, dup := d.keyNames[n]; dup {
		return rbac.Taken("api_key", "name", k.Name)
	}
	if _, dup := d.hashes[k.Hash]; dup {
		return rbac.Taken("api_key", "secret", "")
	}
	d.keys[k.ID] = cloneKey(k)
	d.hashes[k.Hash] = k.ID
	d.keyNames[n] = k.ID
	return nil
}

// KeyByHash implements rbac.KeyDriver.
func (d *Driver) KeyByHash(ctx context.Context, hash [32]byte) (*rbac.APIKey, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	id, ok := d.hashes[hash]
	if !ok {
		return nil, rbac.ErrNotFound
	}
	return cloneKey(d.keys[id]), nil
}

// GetKey implements rbac.KeyDriver.
func (d *Driver) GetKey(ctx context.Context, id string) (*rbac.APIKey, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	k, ok := d.keys[id]
	if !ok {
		return nil, notFound("API key", id)
	}
	return cloneKey(k), nil
}

// ListKeys implements rbac.KeyDriver.
func (d *Driver) ListKeys(ctx context.Context, f rbac.KeyFilter) ([]*rbac.APIKey, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	out := []*rbac.APIKey{}
	for _, k := range d.keys {
		if f.Match(k) {
			out = append(out, cloneKey(k))
		}
	}
	sort.Slice(out, func(i, j int) bool { return keyName(out[i]) < keyName(out[j]) })
	return out, nil
}

// RevokeKey implements rbac.KeyDriver.
func (d *Driver) RevokeKey(ctx context.Context, id string, at time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	k, ok := d.keys[id]
	if !ok {
		return notFound("API key", id)
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = at
	}
	return nil
}

// DeleteKey implements rbac.KeyDriver.
func (d *Driver) DeleteKey(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	k, ok := d.keys[id]
	if !ok {
		return notFound("API key", id)
	}
	delete(d.keys, id)
	delete(d.hashes, k.Hash)
	delete(d.keyNames, keyName(k))
	return nil
}

// Close implements both driver interfaces; later calls fail with
// rbac.ErrClosed.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}
