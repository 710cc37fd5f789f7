package srsstate

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin/console"
)

// DeclaredKeyOrigin is the rbac origin (rbac.KeyStore.Bootstrap) of the
// API keys Apply declares: they are kept exactly as declared, so a key
// removed from the declaration stops working at the next Apply.
const DeclaredKeyOrigin = "config"

// DeclaredKeyCreator is the creator email recorded on the keys Apply and
// EnsureDemo make.
const DeclaredKeyCreator = "config@gateway.voicegw.invalid"

// DeclaredKey is an API key whose secret a declaration chose. Its YAML
// tags let a configuration file declare it as is.
type DeclaredKey struct {
	// Name identifies the key among its owner's; required.
	Name string `yaml:"name"`
	// Secret must pass rbac.CheckSecretStrength; required.
	Secret secret.String `yaml:"secret"`
	// ServiceType is one of Options.ServiceTypes. Default:
	// ServiceTypeAdmin for Declaration.AdminKeys, "insights" for an
	// account's keys.
	ServiceType string `yaml:"service_type"`
}

// DeclaredAccount is an account's declaration (tenancy's) with its API
// keys (account scope).
type DeclaredAccount struct {
	tenancy.DeclaredAccount
	// APIKeys are named in errors Path + ".api_keys[j]".
	APIKeys []DeclaredKey
}

// Declaration is what a configuration declares: accounts and API keys.
type Declaration struct {
	// Accounts are applied with tenancy's Store.Bootstrap: created when
	// missing, the settings each gives brought to its values, the others
	// kept as stored; accounts not declared are left alone.
	Accounts []DeclaredAccount
	// AdminKeys are Admin-scope keys.
	AdminKeys []DeclaredKey
	// AdminKeysPath names AdminKeys in errors. Default "admin.api_keys".
	AdminKeysPath string
}

func (d *Declaration) adminPath() string {
	if d.AdminKeysPath == "" {
		return "admin.api_keys"
	}
	return d.AdminKeysPath
}

// accountPath returns account i's Path (tenancy's default when empty).
func (d *Declaration) accountPath(i int) string {
	if p := d.Accounts[i].Path; p != "" {
		return p
	}
	return fmt.Sprintf("accounts[%d]", i)
}

func (d *Declaration) tenancy() []tenancy.DeclaredAccount {
	out := make([]tenancy.DeclaredAccount, len(d.Accounts))
	for i, a := range d.Accounts {
		out[i] = a.DeclaredAccount
		out[i].Path = d.accountPath(i)
	}
	return out
}

// keyProblem is a declaration problem of an API key, named by its path.
func keyProblem(path, value, reason string, err error) *tenancy.FieldError {
	return &tenancy.FieldError{Entity: "api_key", Field: path, Value: value, Reason: reason, Err: err}
}

// Validate checks a declaration without a store, as Apply will apply it
// (tenancy.ValidateDeclared; each key's name, secret strength and service
// type among types, nil meaning ServiceTypes()). It returns every problem
// at once: tenancy.FieldErrors whose Field is the declaration's path
// ("accounts[0].api_keys[1].secret"); a reason "required" means missing.
// No problem quotes a secret.
func Validate(d Declaration, types map[string]rbac.Privileges) error {
	if types == nil {
		types = ServiceTypes()
	}
	errs := []error{tenancy.ValidateDeclared(d.tenancy())}
	check := func(prefix string, keys []DeclaredKey) {
		names := map[string]int{}
		for i, k := range keys {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			n := strings.TrimSpace(k.Name)
			if n == "" {
				errs = append(errs, keyProblem(p+".name", "", "required", tenancy.ErrInvalid))
			} else if j, dup := names[n]; dup {
				errs = append(errs, keyProblem(p+".name", n, fmt.Sprintf("also the name of %s[%d]", prefix, j), tenancy.ErrInvalid))
			} else {
				names[n] = i
			}
			if k.Secret.IsZero() {
				errs = append(errs, keyProblem(p+".secret", "", "required", tenancy.ErrInvalid))
			} else if fes := rbac.FieldErrors(rbac.CheckSecretStrength(k.Secret.Reveal())); len(fes) > 0 {
				errs = append(errs, keyProblem(p+".secret", "", fes[0].Reason, fes[0])) // rbac's rule, the one Bootstrap applies
			}
			if _, ok := types[k.ServiceType]; k.ServiceType != "" && !ok {
				list := slices.Sorted(maps.Keys(types))
				errs = append(errs, keyProblem(p+".service_type", k.ServiceType, "want one of "+strings.Join(list, ", "), tenancy.ErrInvalid))
			}
		}
	}
	check(d.adminPath(), d.AdminKeys)
	for i, a := range d.Accounts {
		check(d.accountPath(i)+".api_keys", a.APIKeys)
	}
	return errors.Join(errs...)
}

// Apply applies d: the accounts (a local bucket's directory made when
// missing), then the keys, which become the keys of origin
// DeclaredKeyOrigin (a key removed from d is deleted). Keys made from a
// declaration before origins existed (same owner and name, no origin,
// creator DeclaredKeyCreator) give way to them. It returns the declared
// accounts as stored, in d's order. On PostgreSQL it tries up to 4 times
// when another process applies the same declarations at once.
//
// Problems of d are tenancy.FieldErrors named by d's paths (Validate's,
// and those only the store can see: a realm taken by an account made
// through an admin API, a key secret already another key's — reason
// "already the secret of another API key").
func (s *State) Apply(ctx context.Context, d Declaration) (applied []tenancy.BootstrappedAccount, err error) {
	err = s.retry(ctx, func() (err error) { applied, err = s.apply(ctx, d); return err })
	return applied, err
}

func (s *State) apply(ctx context.Context, d Declaration) ([]tenancy.BootstrappedAccount, error) {
	var errs []error
	for i, a := range d.Accounts {
		if f := a.Account.Recording.Bucket.File; f != nil { // a local bucket's directory must exist; make it
			if err := os.MkdirAll(f.Dir, 0o750); err != nil {
				errs = append(errs, &tenancy.FieldError{Entity: "account", Field: d.accountPath(i) + ".recording.bucket.file.dir", Reason: err.Error(), Err: err})
			}
		}
	}
	applied, err := s.Tenants.Bootstrap(ctx, d.tenancy())
	if len(errs) > 0 {
		return nil, errors.Join(append(errs, err)...)
	}
	if err != nil {
		return nil, err
	}
	keys := make([]rbac.BootstrapKey, 0, len(d.AdminKeys))
	paths := make([]string, 0, len(d.AdminKeys))
	for j, k := range d.AdminKeys {
		keys = append(keys, bootstrapKey(rbac.ScopeAdmin, "", k, ServiceTypeAdmin))
		paths = append(paths, fmt.Sprintf("%s[%d]", d.adminPath(), j))
	}
	for i, a := range applied {
		for j, k := range d.Accounts[i].APIKeys {
			keys = append(keys, bootstrapKey(rbac.ScopeAccount, string(a.Account.SID), k, "insights"))
			paths = append(paths, fmt.Sprintf("%s.api_keys[%d]", d.accountPath(i), j))
		}
	}
	if err := s.bootstrapKeys(ctx, keys, paths); err != nil {
		return nil, err
	}
	return applied, nil
}

func bootstrapKey(scope rbac.Scope, account string, k DeclaredKey, defaultType string) rbac.BootstrapKey {
	st := k.ServiceType
	if st == "" {
		st = defaultType
	}
	return rbac.BootstrapKey{NewAPIKey: rbac.NewAPIKey{
		Name: strings.TrimSpace(k.Name), ServiceType: st, Scope: scope, Account: account, CreatorEmail: DeclaredKeyCreator,
	}, Secret: k.Secret}
}

// bootstrapKeys makes keys the keys of origin DeclaredKeyOrigin.
func (s *State) bootstrapKeys(ctx context.Context, keys []rbac.BootstrapKey, paths []string) error {
	for _, k := range keys {
		list, err := s.Keys.Keys(ctx, rbac.Owner{Scope: k.Scope, Account: k.Account})
		if err != nil {
			return err
		}
		for _, old := range list {
			if old.Name == k.Name && old.Origin == "" && old.CreatorEmail == DeclaredKeyCreator {
				if err := s.Keys.Delete(ctx, old.ID); err != nil {
					return err
				}
			}
		}
	}
	res, err := s.Keys.Bootstrap(ctx, DeclaredKeyOrigin, keys)
	if kes := rbac.BootstrapKeyErrors(err); len(kes) > 0 {
		var errs []error
		for _, ke := range kes {
			for _, fe := range rbac.FieldErrors(ke) {
				reason := fe.Reason
				if fe.Field == "secret" && errors.Is(fe, rbac.ErrExists) {
					reason = "already the secret of another API key"
				}
				errs = append(errs, keyProblem(paths[ke.Index]+"."+fe.Field, "", reason, fe))
			}
		}
		return errors.Join(errs...)
	}
	if err != nil {
		return err
	}
	for _, k := range res.Deleted {
		s.log.Info("API key removed from the configuration: deleted", "name", k.Name, "scope", k.Scope, "account", k.Account)
	}
	return nil
}

// The demo account EnsureDemo makes.
const (
	DemoAccountName = "demo"
	DemoRealm       = "demo.voicegw.test"
	DemoUser        = "demo"
	// DemoConsoleEmail is the demo account's console member.
	DemoConsoleEmail = "admin@demo.voicegw.test"
)

// DemoOptions configures EnsureDemo. The zero value works.
type DemoOptions struct {
	// BucketDir is the demo account's local bucket, made when missing.
	// Default: DataDir/bucket.
	BucketDir string
}

// Demo is what EnsureDemo made: show its secrets once.
type Demo struct {
	// Account is the demo account: realm DemoRealm, recording every call
	// as WAV to a local bucket, its SIPREC application "siprec".
	Account *tenancy.Account
	// User and Password are its SIP user's.
	User     string
	Password secret.String
	// APIKey is an Insights key of the account (service type "insights").
	APIKey secret.String
	// AdminKey is an Admin-scope key with every privilege
	// (ServiceTypeAdmin).
	AdminKey secret.String
	// ConsoleEmail and ConsolePassword sign in to the console
	// (tenancy/admin/console) as a member of the account with every
	// privilege (console.FirstSignIn: only the password's Argon2id hash is
	// kept). Empty when a member DemoConsoleEmail was there already.
	ConsoleEmail    string
	ConsolePassword secret.String
}

// EnsureDemo makes a demo account, its keys and its console member when
// the store holds no account at all, and returns them (their secrets are
// not kept: show them now); nil when there was an account already. On
// PostgreSQL it tries up to 4 times when another process makes the demo at
// once. When the account was made but its console member could not be,
// the Demo comes back with the error (its keys are shown only now).
func (s *State) EnsureDemo(ctx context.Context, opts DemoOptions) (d *Demo, err error) {
	if err = s.retry(ctx, func() (err error) { d, err = s.ensureDemo(ctx, opts); return err }); err != nil || d == nil {
		return d, err
	}
	pw, created, err := console.FirstSignIn(ctx, s.Members, console.FirstMember{Email: DemoConsoleEmail, Account: string(d.Account.SID)})
	if err != nil {
		return d, fmt.Errorf("srsstate: demo console member: %w", err)
	}
	if created {
		d.ConsoleEmail, d.ConsolePassword = DemoConsoleEmail, pw
	}
	return d, nil
}

func (s *State) ensureDemo(ctx context.Context, opts DemoOptions) (*Demo, error) {
	all, err := s.Tenants.Accounts(ctx, "")
	if err != nil || len(all) > 0 {
		return nil, err
	}
	dir := opts.BucketDir
	if dir == "" {
		dir = s.path("bucket")
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	pw := secret.String(randomToken(15))
	made, err := s.Tenants.Bootstrap(ctx, []tenancy.DeclaredAccount{{Set: []string{"sip", "recording"},
		Account: tenancy.Account{
			Name: DemoAccountName, SIPRealm: DemoRealm,
			SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: DemoUser, Password: pw}}},
			Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatWAV, RecordAllCalls: true,
				Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: dir}}},
		},
		Applications: []tenancy.DeclaredApplication{{Name: "siprec", RecordAllCalls: &[]bool{true}[0]}},
	}})
	if err != nil {
		return nil, fmt.Errorf("srsstate: demo account: %w", err)
	}
	d := &Demo{Account: made[0].Account, User: DemoUser, Password: pw}
	for _, k := range []struct {
		key  *secret.String
		new  rbac.NewAPIKey
		what string
	}{
		{&d.APIKey, rbac.NewAPIKey{Name: "demo", ServiceType: "insights", Scope: rbac.ScopeAccount, Account: string(d.Account.SID)}, "demo API key"},
		{&d.AdminKey, rbac.NewAPIKey{Name: "first admin", ServiceType: ServiceTypeAdmin, Scope: rbac.ScopeAdmin}, "first admin API key"},
	} {
		k.new.CreatorEmail = DeclaredKeyCreator
		ck, err := s.Keys.Create(ctx, k.new, nil)
		if err != nil {
			return nil, fmt.Errorf("srsstate: %s: %w", k.what, err)
		}
		*k.key = secret.String(ck.Secret.Reveal())
	}
	return d, nil
}

// DefaultAccount returns the SID of the account that serves requests for
// realms no account has (srs.Config.DefaultAccount): the stored account
// called name; or, when name is "" and demo is true, the demo account
// (DemoAccountName) when the store holds it (a program passes demo when it
// makes the demo account and declares no account of its own). "" when
// there is none. A name no stored account has — an account to be made
// through the admin API later is no default — is an error matching
// ErrNoSuchAccount that quotes it.
func (s *State) DefaultAccount(ctx context.Context, name string, demo bool) (tenancy.SID, error) {
	lookup := name
	if lookup == "" {
		if !demo {
			return "", nil
		}
		lookup = DemoAccountName
	}
	a, err := s.Tenants.AccountByName(ctx, lookup)
	switch {
	case errors.Is(err, tenancy.ErrNotFound) && name == "":
		return "", nil
	case errors.Is(err, tenancy.ErrNotFound):
		return "", fmt.Errorf("%w: %q", ErrNoSuchAccount, name)
	case err != nil:
		return "", fmt.Errorf("srsstate: default account %q: %w", lookup, err)
	}
	return a.SID, nil
}

// randomToken returns n random bytes in base64url (no padding).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
