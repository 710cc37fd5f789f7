package tenancy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DeclaredAccount is an account as a trusted configuration (a gateway's
// configuration file) declares it: the values it gives, and which settings
// it gives, so that the settings it leaves out keep what is stored — what an
// operator changed through an admin API, say. Store.Bootstrap applies a list
// of them at every start.
type DeclaredAccount struct {
	// Path is where the declaration sits in its source, such as
	// "accounts[1]": every FieldError about it is named Path + "." +
	// field ("accounts[1].sip_realm"). Default: "accounts[i]" for the
	// i-th declaration.
	Path string
	// Account holds the declared values. Its Name identifies the account:
	// the stored account of that name is the declared one. SID, Revision,
	// the timestamps, the previous webhook secret, ServiceProvider and the
	// selected applications are not taken from it (the applications are
	// named below; an account's service provider is set through the admin
	// API).
	Account Account
	// Set lists the settings the declaration gives, among DeclarableFields,
	// or deeper paths, which count as the setting holding them
	// ("recording.bucket.s3.region" gives "recording.bucket"; a path that
	// others extend, like "sip" beside "sip.users", gives nothing itself).
	// At every start, a setting in Set is brought to the declared value;
	// a setting not in Set keeps its stored value. A new account is
	// created from Account whole (a setting not in Set has its zero value
	// there, or the store's default), so a declaration must make a valid
	// account by itself (ValidateDeclared checks that).
	Set []string
	// Applications are the account's declared applications, by name: each
	// is created when missing and, when its RecordAllCalls is not nil,
	// brought to that value. Applications not declared are left alone.
	Applications []DeclaredApplication
	// SIPRECApplication and DeviceCallsApplication name declared
	// applications to select for SIPREC and SIP device calls. "" keeps the
	// stored selection, except that an account with no SIPREC application
	// gets the first declared application.
	SIPRECApplication      string
	DeviceCallsApplication string
}

// DeclaredApplication is one application of a DeclaredAccount; its YAML
// tags (name, record_all_calls) let a configuration file declare it as is.
type DeclaredApplication struct {
	// Name identifies the application within its account.
	Name string `yaml:"name"`
	// RecordAllCalls, when not nil, is the application's "record all calls"
	// at every start; nil keeps the stored value (false when created).
	RecordAllCalls *bool `yaml:"record_all_calls"`
}

// declarable maps each setting a declaration may give to what copies it.
var declarable = map[string]func(dst, src *Account){
	FieldName:                    func(d, s *Account) { d.Name = s.Name },
	FieldUnit:                    func(d, s *Account) { d.Unit = s.Unit },
	FieldMaxUnits:                func(d, s *Account) { d.MaxUnits = s.MaxUnits },
	FieldLicensedSessions:        func(d, s *Account) { d.LicensedSessions = s.LicensedSessions },
	FieldSIPRealm:                func(d, s *Account) { d.SIPRealm = s.SIPRealm },
	FieldWebhookSecret:           func(d, s *Account) { d.WebhookSecret = s.WebhookSecret },
	FieldRegistrationWebhook:     func(d, s *Account) { d.RegistrationWebhook = s.RegistrationWebhook },
	FieldQueueEventWebhook:       func(d, s *Account) { d.QueueEventWebhook = s.QueueEventWebhook },
	FieldSessionWebhook:          func(d, s *Account) { d.SessionWebhook = s.SessionWebhook },
	FieldCallAttachedData:        func(d, s *Account) { d.CallAttachedData = slices.Clone(s.CallAttachedData) },
	FieldSIP:                     func(d, s *Account) { d.SIP = s.SIP.clone() },
	"sip.users":                  func(d, s *Account) { d.SIP.Users = s.SIP.clone().Users },
	"sip.allowlist":              func(d, s *Account) { d.SIP.Allowlist = slices.Clone(s.SIP.Allowlist) },
	"sip.require_tls":            func(d, s *Account) { d.SIP.RequireTLS = s.SIP.RequireTLS },
	"sip.require_srtp":           func(d, s *Account) { d.SIP.RequireSRTP = s.SIP.RequireSRTP },
	FieldRecording:               func(d, s *Account) { d.Recording = s.Recording.clone() },
	"recording.enabled":          func(d, s *Account) { d.Recording.Enabled = s.Recording.Enabled },
	"recording.format":           func(d, s *Account) { d.Recording.Format = s.Recording.Format },
	"recording.record_all_calls": func(d, s *Account) { d.Recording.RecordAllCalls = s.Recording.RecordAllCalls },
	// the bucket is one setting, by vendor fields or by URL
	"recording.bucket": func(d, s *Account) {
		c := s.Recording.clone()
		d.Recording.Bucket, d.Recording.BucketURL = c.Bucket, c.BucketURL
	},
}

// DeclarableFields returns the settings a DeclaredAccount may give, sorted:
// the account fields of seed 000 but its service provider, and the parts of
// "sip" (sip.users, sip.allowlist, sip.require_tls, sip.require_srtp) and "recording" (recording.enabled,
// recording.format, recording.record_all_calls, recording.bucket — vendor
// fields or URL) one by one.
func DeclarableFields() []string {
	out := make([]string, 0, len(declarable))
	for f := range declarable {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// settings returns the declarable settings Set gives, or the paths it
// names that are none.
func (d *DeclaredAccount) settings() (set, unknown []string) {
	set = []string{FieldName}
	for _, p := range d.Set {
		p = strings.TrimSpace(p)
		if p == "" || slices.ContainsFunc(d.Set, func(q string) bool { return extends(q, p) }) {
			continue // a parent of other paths
		}
		s := p
		for declarable[s] == nil {
			i := strings.LastIndexAny(s, ".[")
			if i < 0 {
				break
			}
			s = s[:i]
		}
		if declarable[s] == nil {
			unknown = append(unknown, p)
		} else if !slices.Contains(set, s) {
			set = append(set, s)
		}
	}
	return set, unknown
}

// extends reports whether path q lies under path p ("sip.users[0]" under
// "sip.users", "sip.users" under "sip").
func extends(q, p string) bool {
	return len(q) > len(p) && strings.HasPrefix(q, p) && (q[len(p)] == '.' || q[len(p)] == '[')
}

func (d *DeclaredAccount) path(i int) string {
	if p := strings.TrimSpace(d.Path); p != "" {
		return p
	}
	return "accounts[" + strconv.Itoa(i) + "]"
}

// declared returns the account a new declaration creates: the declared
// values, without what is never taken from them.
func (d *DeclaredAccount) declared() *Account {
	a := d.Account.Clone()
	a.SID, a.Revision, a.ServiceProvider = "", 0, ""
	a.DeviceCallsApplication, a.SIPRECApplication = "", ""
	a.PreviousWebhookSecret, a.PreviousWebhookSecretUntil = "", time.Time{}
	a.CreatedAt, a.UpdatedAt = time.Time{}, time.Time{}
	a.Normalize()
	return a
}

// at renames the FieldErrors inside err to lie under path and returns
// them, or nil when err holds none.
func at(path string, err error) []error {
	var out []error
	for _, fe := range FieldErrors(err) {
		c := *fe
		c.Field = path + "." + fe.Field
		if errors.Is(fe, ErrExists) {
			c.Reason = "already used by another account stored"
		}
		out = append(out, &c)
	}
	return out
}

// ValidateDeclared checks declarations without a store: each makes a valid
// account by itself (Account.Validate), names every setting it gives among
// DeclarableFields, declares applications with distinct names and selects
// only declared ones; no two declare the same name or SIP realm. It returns
// every problem at once, joined FieldErrors named by the declaration's Path
// ("accounts[1].applications[0].name") and wrapping ErrInvalid.
func ValidateDeclared(decls []DeclaredAccount) error {
	var errs []error
	names, realms := map[string]string{}, map[string]string{}
	for i := range decls {
		d := &decls[i]
		path := d.path(i)
		add := func(field, value, reason string) {
			errs = append(errs, invalid("account", path+"."+field, value, reason))
		}
		_, unknown := d.settings()
		for _, p := range unknown {
			add(p, "", "not a setting a declaration may give (see tenancy.DeclarableFields)")
		}
		a := d.declared()
		errs = append(errs, at(path, a.Validate())...)
		if j, dup := names[a.Name]; dup && a.Name != "" {
			add(FieldName, a.Name, "also the name of "+j)
		} else {
			names[a.Name] = path
		}
		if j, dup := realms[a.SIPRealm]; dup && a.SIPRealm != "" {
			add(FieldSIPRealm, a.SIPRealm, "also the realm of "+j)
		} else {
			realms[a.SIPRealm] = path
		}
		apps := map[string]int{}
		for k, app := range d.Applications {
			field := "applications[" + strconv.Itoa(k) + "].name"
			n := strings.TrimSpace(app.Name)
			if err := checkName("application", field, n); err != nil {
				errs = append(errs, at(path, err)...)
			} else if j, dup := apps[n]; dup {
				add(field, n, "also the name of applications["+strconv.Itoa(j)+"]")
			} else {
				apps[n] = k
			}
		}
		for _, sel := range [][2]string{{FieldSIPRECApplication, d.SIPRECApplication}, {FieldDeviceCallsApplication, d.DeviceCallsApplication}} {
			if n := strings.TrimSpace(sel[1]); n != "" {
				if _, ok := apps[n]; !ok {
					add(sel[0], n, "no application of that name among the declared applications")
				}
			}
		}
	}
	return joinErrs(errs)
}

// BootstrappedAccount is what Bootstrap did with one declaration.
type BootstrappedAccount struct {
	// Account is the account as stored afterwards.
	Account *Account
	// Applications are the declared applications as stored, in the order
	// declared.
	Applications []*Application
	// Created reports that the account did not exist before.
	Created bool
	// Changed lists the fields an existing account had changed (Field*
	// names), nil when it already was as declared.
	Changed []string
}

// Bootstrap makes the stored accounts what decls declare, for a gateway
// that takes accounts from a configuration file at every start:
//
//   - an account declared and not stored (by name) is created from its
//     declaration;
//   - a stored one gets the settings its declaration gives (DeclaredAccount.Set)
//     and keeps every other setting as stored;
//   - declared applications are created when missing and get their declared
//     "record all calls"; undeclared ones are left alone;
//   - accounts stored and not declared (made through an admin API, or
//     removed from the file) are left alone: Bootstrap never deletes.
//
// Nothing is changed unless ValidateDeclared passes. Problems met while
// applying (a realm or name taken by an account stored and not declared, a
// realm change that needs SIP passwords again) are FieldErrors named by
// the declaration's Path, joined; the other declarations are applied all the
// same. A store failure stops it. Bootstrap is not atomic across accounts;
// calling it again with the same declarations finishes the job.
func (s *Store) Bootstrap(ctx context.Context, decls []DeclaredAccount) ([]BootstrappedAccount, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	if err := ValidateDeclared(decls); err != nil {
		return nil, err
	}
	out := make([]BootstrappedAccount, 0, len(decls))
	var errs []error
	for i := range decls {
		b, err := s.bootstrapOne(ctx, &decls[i])
		if fes := at(decls[i].path(i), err); len(fes) > 0 {
			errs = append(errs, fes...)
			continue
		}
		if err != nil {
			return out, fmt.Errorf("tenancy: bootstrap %s (%q): %w", decls[i].path(i), decls[i].Account.Name, err)
		}
		out = append(out, *b)
		switch {
		case b.Created:
			s.log.InfoContext(ctx, "tenancy: declared account created", "account", b.Account.Name, "sid", b.Account.SID)
		case len(b.Changed) > 0:
			s.log.InfoContext(ctx, "tenancy: declared account brought up to its declaration", "account", b.Account.Name, "sid", b.Account.SID, "fields", b.Changed)
		}
	}
	return out, errors.Join(errs...)
}

func (s *Store) bootstrapOne(ctx context.Context, d *DeclaredAccount) (*BootstrappedAccount, error) {
	want := d.declared()
	set, _ := d.settings()
	b := &BootstrappedAccount{}
	cur, err := s.AccountByName(ctx, want.Name)
	if errors.Is(err, ErrNotFound) {
		if cur, err = s.CreateAccount(ctx, want); err != nil {
			return nil, err
		}
		b.Created = true
	} else if err != nil {
		return nil, err
	}

	stored, err := s.Applications(ctx, cur.SID)
	if err != nil {
		return nil, err
	}
	byName := map[string]*Application{}
	for _, app := range stored {
		byName[app.Name] = app
	}
	for _, da := range d.Applications {
		name := strings.TrimSpace(da.Name)
		app, ok := byName[name]
		switch {
		case !ok:
			n := &Application{Account: cur.SID, Name: name}
			if da.RecordAllCalls != nil {
				n.RecordAllCalls = *da.RecordAllCalls
			}
			if app, err = s.CreateApplication(ctx, n); err != nil {
				return nil, err
			}
		case da.RecordAllCalls != nil && app.RecordAllCalls != *da.RecordAllCalls:
			upd := app.Clone()
			upd.RecordAllCalls = *da.RecordAllCalls
			if app, err = s.UpdateApplication(ctx, upd); err != nil {
				return nil, err
			}
		}
		byName[name] = app
		b.Applications = append(b.Applications, app)
	}

	upd := cur.Clone()
	for _, f := range set {
		declarable[f](upd, want)
	}
	if n := strings.TrimSpace(d.SIPRECApplication); n != "" {
		upd.SIPRECApplication = byName[n].SID
	} else if upd.SIPRECApplication == "" && len(b.Applications) > 0 {
		upd.SIPRECApplication = b.Applications[0].SID
	}
	if n := strings.TrimSpace(d.DeviceCallsApplication); n != "" {
		upd.DeviceCallsApplication = byName[n].SID
	}
	upd.Normalize()
	if changed := ChangedFields(cur, upd); len(changed) > 0 {
		if cur, err = s.UpdateAccount(ctx, upd); err != nil {
			return nil, err
		}
		if !b.Created {
			b.Changed = changed
		}
	}
	b.Account = cur
	return b, nil
}
