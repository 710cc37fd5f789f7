// Package memstore is the in-memory driver of admin.Store (service
// providers, SMTP settings, audit log): for tests, development and
// single-process gateways that need no durability. Every operation runs under
// one lock, so uniqueness and revision checks are atomic.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/voicegw/voicegw/tenancy/admin"
)

// Driver is the in-memory admin.Driver. Call NewDriver, or NewStore for the
// portable store over a fresh one.
type Driver struct {
	mu        sync.Mutex
	closed    bool
	providers map[string]*admin.ServiceProvider
	smtp      map[string]*admin.SMTPConfig
	audit     []*admin.AuditRecord
	nextID    int64
}

var _ admin.Driver = (*Driver)(nil)

// NewDriver returns an empty driver.
func NewDriver() *Driver {
	return &Driver{providers: map[string]*admin.ServiceProvider{}, smtp: map[string]*admin.SMTPConfig{}}
}

// NewStore returns an empty store in memory: admin.NewStore(NewDriver(), opts).
func NewStore(opts *admin.StoreOptions) *admin.Store { return admin.NewStore(NewDriver(), opts) }

func (d *Driver) check(ctx context.Context) error {
	if d.closed {
		return admin.ErrClosed
	}
	return ctx.Err()
}

func cloneProvider(p *admin.ServiceProvider) *admin.ServiceProvider { c := *p; return &c }

// CreateProvider implements admin.Driver.
func (d *Driver) CreateProvider(ctx context.Context, p *admin.ServiceProvider) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	if _, dup := d.providers[p.ID]; dup {
		return admin.Taken("id", p.ID)
	}
	for _, o := range d.providers {
		if o.Name == p.Name {
			return admin.Taken("name", p.Name)
		}
	}
	d.providers[p.ID] = cloneProvider(p)
	return nil
}

// GetProvider implements admin.Driver.
func (d *Driver) GetProvider(ctx context.Context, id string) (*admin.ServiceProvider, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	p, ok := d.providers[id]
	if !ok {
		return nil, fmt.Errorf("service provider %q: %w", id, admin.ErrNotFound)
	}
	return cloneProvider(p), nil
}

// ListProviders implements admin.Driver.
func (d *Driver) ListProviders(ctx context.Context) ([]*admin.ServiceProvider, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	out := make([]*admin.ServiceProvider, 0, len(d.providers))
	for _, p := range d.providers {
		out = append(out, cloneProvider(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateProvider implements admin.Driver.
func (d *Driver) UpdateProvider(ctx context.Context, p *admin.ServiceProvider, wantRevision int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	cur, ok := d.providers[p.ID]
	if !ok {
		return fmt.Errorf("service provider %q: %w", p.ID, admin.ErrNotFound)
	}
	if cur.Revision != wantRevision {
		return fmt.Errorf("service provider %q at revision %d, not %d: %w", p.ID, cur.Revision, wantRevision, admin.ErrConflict)
	}
	for _, o := range d.providers {
		if o.ID != p.ID && o.Name == p.Name {
			return admin.Taken("name", p.Name)
		}
	}
	d.providers[p.ID] = cloneProvider(p)
	return nil
}

// DeleteProvider implements admin.Driver.
func (d *Driver) DeleteProvider(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	if _, ok := d.providers[id]; !ok {
		return fmt.Errorf("service provider %q: %w", id, admin.ErrNotFound)
	}
	delete(d.providers, id)
	return nil
}

// GetSMTP implements admin.Driver.
func (d *Driver) GetSMTP(ctx context.Context, owner string) (*admin.SMTPConfig, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	c, ok := d.smtp[owner]
	if !ok {
		return nil, fmt.Errorf("SMTP settings of %q: %w", owner, admin.ErrNotFound)
	}
	cp := *c
	return &cp, nil
}

// PutSMTP implements admin.Driver.
func (d *Driver) PutSMTP(ctx context.Context, owner string, c *admin.SMTPConfig, wantRevision int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	var have int64
	if cur, ok := d.smtp[owner]; ok {
		have = cur.Revision
	}
	if have != wantRevision {
		return fmt.Errorf("SMTP settings of %q at revision %d, not %d: %w", owner, have, wantRevision, admin.ErrConflict)
	}
	cp := *c
	d.smtp[owner] = &cp
	return nil
}

func cloneRecord(r *admin.AuditRecord) *admin.AuditRecord {
	c := *r
	c.Fields = slices.Clone(r.Fields)
	c.Before = slices.Clone(r.Before)
	c.After = slices.Clone(r.After)
	return &c
}

// AppendAudit implements admin.Driver.
func (d *Driver) AppendAudit(ctx context.Context, r *admin.AuditRecord) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	d.nextID++
	r.ID = d.nextID
	d.audit = append(d.audit, cloneRecord(r))
	return nil
}

// ListAudit implements admin.Driver.
func (d *Driver) ListAudit(ctx context.Context, q admin.AuditQuery) ([]*admin.AuditRecord, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	var out []*admin.AuditRecord
	for i := len(d.audit) - 1; i >= 0 && len(out) < q.Limit; i-- {
		r := d.audit[i]
		if admin.AuditMatches(r, q) {
			out = append(out, cloneRecord(r))
		}
	}
	return out, nil
}

// Close implements admin.Driver.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}
