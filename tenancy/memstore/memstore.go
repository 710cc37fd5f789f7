// Package memstore is the in-memory driver of tenancy.Store: for tests,
// development and single-process gateways that need no durability. Every
// operation runs under one lock, so uniqueness and revision checks are atomic.
package memstore

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/voicegw/voicegw/tenancy"
)

// Driver is the in-memory tenancy.Driver. The zero value is not usable; call
// NewDriver (for a conformance suite or your own wrapping), or NewStore for
// the portable store over a fresh one.
type Driver struct {
	mu      sync.RWMutex
	closed  bool
	accts   map[tenancy.SID]*tenancy.Account
	byName  map[string]tenancy.SID
	byRealm map[string]tenancy.SID
	apps    map[tenancy.SID]*tenancy.Application
	// appNames maps account SID + "\x00" + name to the application SID.
	appNames map[string]tenancy.SID
}

var _ tenancy.Driver = (*Driver)(nil)

// NewDriver returns an empty in-memory driver.
func NewDriver() *Driver {
	return &Driver{
		accts:    map[tenancy.SID]*tenancy.Account{},
		byName:   map[string]tenancy.SID{},
		byRealm:  map[string]tenancy.SID{},
		apps:     map[tenancy.SID]*tenancy.Application{},
		appNames: map[string]tenancy.SID{},
	}
}

// NewStore returns an empty account store in memory:
// tenancy.NewStore(NewDriver(), opts). opts may be nil. It keeps secrets as
// the process holds them (SIP passwords as digests, the others usable);
// nothing reaches a disk.
func NewStore(opts *tenancy.StoreOptions) *tenancy.Store {
	return tenancy.NewStore(NewDriver(), opts)
}

func appKey(account tenancy.SID, name string) string { return string(account) + "\x00" + name }

func (d *Driver) check(ctx context.Context) error {
	if d.closed {
		return tenancy.ErrClosed
	}
	return ctx.Err()
}

func notFound(what string, sid tenancy.SID) error {
	return fmt.Errorf("%s %q: %w", what, sid, tenancy.ErrNotFound)
}

// CreateAccount implements tenancy.Driver.
func (d *Driver) CreateAccount(ctx context.Context, a *tenancy.Account) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	if _, dup := d.accts[a.SID]; dup {
		return tenancy.Taken("account", "sid", string(a.SID))
	}
	if err := d.uniqueAccount(a); err != nil {
		return err
	}
	d.putAccount(a.Clone())
	return nil
}

func (d *Driver) uniqueAccount(a *tenancy.Account) error {
	if sid, ok := d.byName[a.Name]; ok && sid != a.SID {
		return tenancy.Taken("account", tenancy.FieldName, a.Name)
	}
	if a.SIPRealm != "" {
		if sid, ok := d.byRealm[a.SIPRealm]; ok && sid != a.SID {
			return tenancy.Taken("account", tenancy.FieldSIPRealm, a.SIPRealm)
		}
	}
	return nil
}

func (d *Driver) putAccount(a *tenancy.Account) {
	d.accts[a.SID] = a
	d.byName[a.Name] = a.SID
	if a.SIPRealm != "" {
		d.byRealm[a.SIPRealm] = a.SID
	}
}

func (d *Driver) dropAccountIndex(a *tenancy.Account) {
	delete(d.byName, a.Name)
	if a.SIPRealm != "" {
		delete(d.byRealm, a.SIPRealm)
	}
}

// GetAccount implements tenancy.Driver.
func (d *Driver) GetAccount(ctx context.Context, sid tenancy.SID) (*tenancy.Account, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	a, ok := d.accts[sid]
	if !ok {
		return nil, notFound("account", sid)
	}
	return a.Clone(), nil
}

// FindAccount implements tenancy.Driver.
func (d *Driver) FindAccount(ctx context.Context, field, value string) (*tenancy.Account, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	var idx map[string]tenancy.SID
	switch field {
	case tenancy.FieldName:
		idx = d.byName
	case tenancy.FieldSIPRealm:
		idx = d.byRealm
	default:
		return nil, fmt.Errorf("memstore: cannot find accounts by %q: %w", field, tenancy.ErrInvalid)
	}
	sid, ok := idx[value]
	if !ok {
		return nil, fmt.Errorf("account with %s %q: %w", field, value, tenancy.ErrNotFound)
	}
	return d.accts[sid].Clone(), nil
}

// ListAccounts implements tenancy.Driver.
func (d *Driver) ListAccounts(ctx context.Context, serviceProvider string) ([]*tenancy.Account, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	out := []*tenancy.Account{}
	for _, a := range d.accts {
		if serviceProvider == "" || a.ServiceProvider == serviceProvider {
			out = append(out, a.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateAccount implements tenancy.Driver.
func (d *Driver) UpdateAccount(ctx context.Context, a *tenancy.Account, wantRevision int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	cur, ok := d.accts[a.SID]
	if !ok {
		return notFound("account", a.SID)
	}
	if cur.Revision != wantRevision {
		return fmt.Errorf("account %q at revision %d, update from %d: %w", a.SID, cur.Revision, wantRevision, tenancy.ErrConflict)
	}
	if err := d.uniqueAccount(a); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		sid  tenancy.SID
	}{{tenancy.FieldDeviceCallsApplication, a.DeviceCallsApplication}, {tenancy.FieldSIPRECApplication, a.SIPRECApplication}} {
		if f.sid == "" {
			continue
		}
		if app, ok := d.apps[f.sid]; !ok || app.Account != a.SID {
			return tenancy.NoSuchApplication(f.name, f.sid)
		}
	}
	d.dropAccountIndex(cur)
	d.putAccount(a.Clone())
	return nil
}

// DeleteAccount implements tenancy.Driver.
func (d *Driver) DeleteAccount(ctx context.Context, sid tenancy.SID) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	cur, ok := d.accts[sid]
	if !ok {
		return notFound("account", sid)
	}
	d.dropAccountIndex(cur)
	delete(d.accts, sid)
	for asid, app := range d.apps {
		if app.Account == sid {
			delete(d.apps, asid)
			delete(d.appNames, appKey(sid, app.Name))
		}
	}
	return nil
}

// CreateApplication implements tenancy.Driver.
func (d *Driver) CreateApplication(ctx context.Context, app *tenancy.Application) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	if _, ok := d.accts[app.Account]; !ok {
		return notFound("account", app.Account)
	}
	if _, dup := d.apps[app.SID]; dup {
		return tenancy.Taken("application", "sid", string(app.SID))
	}
	k := appKey(app.Account, app.Name)
	if _, dup := d.appNames[k]; dup {
		return tenancy.Taken("application", tenancy.FieldName, app.Name)
	}
	d.apps[app.SID] = app.Clone()
	d.appNames[k] = app.SID
	return nil
}

// GetApplication implements tenancy.Driver.
func (d *Driver) GetApplication(ctx context.Context, sid tenancy.SID) (*tenancy.Application, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	a, ok := d.apps[sid]
	if !ok {
		return nil, notFound("application", sid)
	}
	return a.Clone(), nil
}

// ListApplications implements tenancy.Driver.
func (d *Driver) ListApplications(ctx context.Context, account tenancy.SID) ([]*tenancy.Application, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	out := []*tenancy.Application{}
	for _, a := range d.apps {
		if a.Account == account {
			out = append(out, a.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateApplication implements tenancy.Driver.
func (d *Driver) UpdateApplication(ctx context.Context, app *tenancy.Application, wantRevision int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	cur, ok := d.apps[app.SID]
	if !ok {
		return notFound("application", app.SID)
	}
	if cur.Revision != wantRevision {
		return fmt.Errorf("application %q at revision %d, update from %d: %w", app.SID, cur.Revision, wantRevision, tenancy.ErrConflict)
	}
	if app.Account != cur.Account {
		return fmt.Errorf("memstore: application %q cannot change account: %w", app.SID, tenancy.ErrInvalid)
	}
	k := appKey(app.Account, app.Name)
	if sid, dup := d.appNames[k]; dup && sid != app.SID {
		return tenancy.Taken("application", tenancy.FieldName, app.Name)
	}
	delete(d.appNames, appKey(cur.Account, cur.Name))
	d.apps[app.SID] = app.Clone()
	d.appNames[k] = app.SID
	return nil
}

// DeleteApplication implements tenancy.Driver.
func (d *Driver) DeleteApplication(ctx context.Context, sid tenancy.SID) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(ctx); err != nil {
		return err
	}
	cur, ok := d.apps[sid]
	if !ok {
		return notFound("application", sid)
	}
	if a := d.accts[cur.Account]; a != nil {
		switch sid {
		case a.DeviceCallsApplication:
			return fmt.Errorf("application %q is the account's %s: %w", sid, tenancy.FieldDeviceCallsApplication, tenancy.ErrInUse)
		case a.SIPRECApplication:
			return fmt.Errorf("application %q is the account's %s: %w", sid, tenancy.FieldSIPRECApplication, tenancy.ErrInUse)
		}
	}
	delete(d.apps, sid)
	delete(d.appNames, appKey(cur.Account, cur.Name))
	return nil
}

// Close implements tenancy.Driver; later calls fail with tenancy.ErrClosed.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}
