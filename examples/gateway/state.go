package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/sqliteindex"
	"github.com/voicegw/voicegw/rbac"
	rbacsqlite "github.com/voicegw/voicegw/rbac/sqlitestore"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
	tenancysqlite "github.com/voicegw/voicegw/tenancy/sqlitestore"
)

// The files and directories under data_dir.
const (
	stateDBName    = "state.db"    // accounts, API keys, licence leases, session journal
	insightsDBName = "insights.db" // session documents
	recordingsDir  = "recordings"  // recording.Dir: files being recorded
	spoolDir       = "spool"       // storage.Spool: files waiting for their bucket
	demoBucketDir  = "bucket"      // the demo account's local bucket
	pepperFile     = "secrets/api-key-pepper"
)

// configCreator is the creator email recorded on API keys made from the
// configuration file.
const configCreator = "config@gateway.voicegw.invalid"

// state is what the gateway keeps in SQLite: the tenancy store, the API keys,
// the licensed-sessions limiter, the session journal and the insights index.
type state struct {
	db      *sql.DB
	idxDB   *sql.DB
	tenants *tenancy.Store
	keys    *rbac.KeyStore
	limiter *tenancysqlite.Limiter
	journal *srs.SQLiteJournal
	index   *insights.Index
}

// openState opens (creating them on first start) the databases under
// cfg.DataDir.
func openState(ctx context.Context, cfg *Config, log *slog.Logger) (_ *state, err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	s := &state{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.db, err = tenancysqlite.OpenDB(ctx, filepath.Join(cfg.DataDir, stateDBName)); err != nil {
		return nil, err
	}
	// Secrets in state.db are sealed with the key in state.db.key.
	if s.tenants, err = tenancysqlite.NewStore(ctx, s.db, &tenancysqlite.Options{
		StoreOptions: tenancy.StoreOptions{Logger: log.With("component", "tenancy")},
	}); err != nil {
		return nil, err
	}
	pepper, err := loadPepper(cfg)
	if err != nil {
		return nil, err
	}
	if s.keys, err = rbacsqlite.NewKeyStore(ctx, s.db, &rbac.KeyStoreOptions{Pepper: pepper, Logger: log.With("component", "rbac")}); err != nil {
		return nil, err
	}
	if s.limiter, err = tenancysqlite.NewLimiter(ctx, s.db, &tenancysqlite.LimiterOptions{
		TTL: cfg.Limiter.LeaseTTL, Logger: log.With("component", "limiter"),
	}); err != nil {
		return nil, err
	}
	if s.journal, err = srs.NewSQLiteJournal(ctx, s.db); err != nil {
		return nil, err
	}
	if s.idxDB, err = sqliteindex.OpenDB(ctx, filepath.Join(cfg.DataDir, insightsDBName)); err != nil {
		return nil, err
	}
	if s.index, err = sqliteindex.NewIndex(ctx, s.idxDB); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *state) close() {
	if s.index != nil {
		_ = s.index.Close()
	}
	if s.idxDB != nil {
		_ = s.idxDB.Close()
	}
	if s.keys != nil {
		_ = s.keys.Close()
	}
	if s.tenants != nil {
		_ = s.tenants.Close()
	}
	if s.db != nil {
		_ = s.db.Close()
	}
}

// loadPepper returns the configured API key pepper, or the one kept in the
// data directory (made on first start).
func loadPepper(cfg *Config) (tenancy.Secret, error) {
	if !cfg.APIKeyPepper.IsZero() {
		return cfg.APIKeyPepper, nil
	}
	path := filepath.Join(cfg.DataDir, pepperFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if p := strings.TrimSpace(string(b)); len(p) >= 16 {
			return tenancy.Secret(p), nil
		}
		return "", fmt.Errorf("%s: too short to be a pepper; remove it to make a new one (every API key then stops working)", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	p := randomToken(32)
	if err := os.WriteFile(path, []byte(p+"\n"), 0o600); err != nil {
		return "", err
	}
	return tenancy.Secret(p), nil
}

// randomToken returns n random bytes in base64url (no padding).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// appliedAccount is a configured account as stored.
type appliedAccount struct {
	Account *tenancy.Account
	SIPREC  *tenancy.Application
}

// applyAccounts creates or updates every configured account and its
// applications, then makes the configured API keys the keys of origin
// "config" (rbac.KeyStore.Bootstrap). Problems are reported as a
// *ConfigError naming the key (a realm taken by an account stored earlier,
// an API key secret already used by another key).
func (s *state) applyAccounts(ctx context.Context, cfg *Config, log *slog.Logger) ([]appliedAccount, error) {
	var out []appliedAccount
	var probs []Problem
	var keys []rbac.BootstrapKey
	var keyPaths []string
	for i := range cfg.Accounts {
		prefix := fmt.Sprintf("accounts[%d]", i)
		a, p, err := s.applyAccount(ctx, &cfg.Accounts[i], prefix, log)
		if err != nil {
			return nil, err
		}
		probs = append(probs, p...)
		if a != nil {
			out = append(out, *a)
			for j, k := range cfg.Accounts[i].APIKeys {
				keys = append(keys, configKey(a.Account, k))
				keyPaths = append(keyPaths, fmt.Sprintf("%s.api_keys[%d]", prefix, j))
			}
		}
	}
	if len(probs) > 0 {
		return nil, &ConfigError{Problems: probs}
	}
	if err := s.bootstrapKeys(ctx, keys, keyPaths, log); err != nil {
		return nil, err
	}
	return out, nil
}

// configKeyOrigin is the rbac origin of the API keys of the configuration
// file: rbac.KeyStore.Bootstrap keeps them exactly as the file says, so a
// key removed from the file stops working at the next start.
const configKeyOrigin = "config"

func configKey(acct *tenancy.Account, k APIKeyConfig) rbac.BootstrapKey {
	st := k.ServiceType
	if st == "" {
		st = "insights"
	}
	return rbac.BootstrapKey{NewAPIKey: rbac.NewAPIKey{
		Name: strings.TrimSpace(k.Name), ServiceType: st, Scope: rbac.ScopeAccount, Account: string(acct.SID), CreatorEmail: configCreator,
	}, Secret: k.Secret}
}

// bootstrapKeys makes the configuration's API keys the keys of origin
// "config". Keys made from the configuration before origins existed (same
// account and name, no origin) give way to them first.
func (s *state) bootstrapKeys(ctx context.Context, keys []rbac.BootstrapKey, paths []string, log *slog.Logger) error {
	for _, k := range keys {
		owner := rbac.Owner{Scope: rbac.ScopeAccount, Account: k.Account}
		list, err := s.keys.Keys(ctx, owner)
		if err != nil {
			return err
		}
		for _, old := range list {
			if old.Name == k.Name && old.Origin == "" && old.CreatorEmail == configCreator {
				if err := s.keys.Delete(ctx, old.ID); err != nil {
					return err
				}
			}
		}
	}
	res, err := s.keys.Bootstrap(ctx, configKeyOrigin, keys)
	if kes := rbac.BootstrapKeyErrors(err); len(kes) > 0 {
		var probs []Problem
		for _, ke := range kes {
			for _, fe := range rbac.FieldErrors(ke) {
				msg := fe.Reason
				if fe.Field == "secret" && errors.Is(fe, rbac.ErrExists) {
					msg = "already the secret of another API key"
				}
				probs = append(probs, Problem{Key: paths[ke.Index] + "." + fe.Field, Message: msg})
			}
		}
		return &ConfigError{Problems: probs}
	}
	if err != nil {
		return err
	}
	for _, k := range res.Deleted {
		log.Info("API key removed from the configuration: deleted", "name", k.Name, "account", k.Account)
	}
	return nil
}

func (s *state) applyAccount(ctx context.Context, ac *AccountConfig, prefix string, log *slog.Logger) (*appliedAccount, []Problem, error) {
	want, _ := ac.tenancyAccount()
	if f := want.Recording.Bucket.File; f != nil {
		// a local bucket's directory must exist; make it
		if err := os.MkdirAll(f.Dir, 0o750); err != nil {
			return nil, []Problem{{Key: prefix + ".recording.bucket.file.dir", Message: err.Error()}}, nil
		}
	}
	storeProblems := func(err error) ([]Problem, error) {
		fes := tenancy.FieldErrors(err)
		if len(fes) == 0 {
			return nil, err
		}
		var probs []Problem
		for _, fe := range fes {
			key := prefix + "." + strings.Replace(fe.Field, "recording.bucket_url", "recording.bucket.url", 1)
			msg := fe.Reason
			if errors.Is(fe, tenancy.ErrExists) {
				msg = fmt.Sprintf("%q is already used by another account stored in %s", fe.Value, stateDBName)
			}
			probs = append(probs, Problem{Key: key, Message: msg})
		}
		return probs, nil
	}

	cur, err := s.tenants.AccountByName(ctx, want.Name)
	created := false
	switch {
	case errors.Is(err, tenancy.ErrNotFound):
		cur, err = s.tenants.CreateAccount(ctx, want)
		if err != nil {
			p, err := storeProblems(err)
			return nil, p, err
		}
		created = true
		log.Info("account created from the configuration", "account", cur.Name, "sid", cur.SID, "realm", cur.SIPRealm)
	case err != nil:
		return nil, nil, err
	}

	// applications
	apps, err := s.tenants.Applications(ctx, cur.SID)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]*tenancy.Application{}
	for _, app := range apps {
		byName[app.Name] = app
	}
	appCfgs := ac.Applications
	if len(appCfgs) == 0 {
		appCfgs = []ApplicationConfig{{Name: "siprec"}}
		if old, ok := byName["siprec"]; ok {
			appCfgs[0].RecordAllCalls = old.RecordAllCalls
		}
	}
	for _, c := range appCfgs {
		name := strings.TrimSpace(c.Name)
		if old, ok := byName[name]; ok {
			if old.RecordAllCalls != c.RecordAllCalls {
				upd := old.Clone()
				upd.RecordAllCalls = c.RecordAllCalls
				if byName[name], err = s.tenants.UpdateApplication(ctx, upd); err != nil {
					return nil, nil, err
				}
			}
			continue
		}
		app, err := s.tenants.CreateApplication(ctx, &tenancy.Application{Account: cur.SID, Name: name, RecordAllCalls: c.RecordAllCalls})
		if err != nil {
			return nil, nil, err
		}
		byName[name] = app
	}
	siprecName := strings.TrimSpace(ac.SIPRECApplication)
	if siprecName == "" {
		siprecName = strings.TrimSpace(appCfgs[0].Name)
	}
	siprecApp := byName[siprecName]

	// account fields
	upd := cur.Clone()
	upd.SIPRealm = want.SIPRealm
	upd.LicensedSessions = want.LicensedSessions
	upd.SessionWebhook = want.SessionWebhook
	upd.SIP = want.SIP
	upd.Recording = want.Recording
	if !want.WebhookSecret.IsZero() {
		upd.WebhookSecret = want.WebhookSecret
	}
	upd.SIPRECApplication = siprecApp.SID
	upd.Normalize()
	if changed := tenancy.ChangedFields(cur, upd); len(changed) > 0 {
		if cur, err = s.tenants.UpdateAccount(ctx, upd); err != nil {
			p, err := storeProblems(err)
			return nil, p, err
		}
		if !created {
			log.Info("account updated from the configuration", "account", cur.Name, "fields", changed)
		}
	}

	return &appliedAccount{Account: cur, SIPREC: siprecApp}, nil, nil
}

// demoAccountName is the name of the account made on a first start without
// accounts.
const demoAccountName = "demo"

// demoCredentials is what a first start prints once.
type demoCredentials struct {
	Account  *tenancy.Account
	App      *tenancy.Application
	User     string
	Password tenancy.Secret
	APIKey   tenancy.Secret
}

// ensureDemo makes the demo account when the store holds no account at all.
// It returns the credentials when it made it (to print once), nil when there
// was an account already.
func (s *state) ensureDemo(ctx context.Context, cfg *Config) (*demoCredentials, error) {
	all, err := s.tenants.Accounts(ctx, "")
	if err != nil || len(all) > 0 {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Join(cfg.DataDir, demoBucketDir))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	pw := tenancy.Secret(randomToken(15))
	acct, err := s.tenants.CreateAccount(ctx, &tenancy.Account{
		Name:     demoAccountName,
		SIPRealm: "demo.voicegw.test",
		SIP:      tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "demo", Password: pw}}},
		Recording: tenancy.RecordingConfig{
			Enabled: true, Format: tenancy.FormatWAV, RecordAllCalls: true,
			Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: dir}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("demo account: %w", err)
	}
	app, err := s.tenants.CreateApplication(ctx, &tenancy.Application{Account: acct.SID, Name: "siprec", RecordAllCalls: true})
	if err != nil {
		return nil, fmt.Errorf("demo application: %w", err)
	}
	acct.SIPRECApplication = app.SID
	if acct, err = s.tenants.UpdateAccount(ctx, acct); err != nil {
		return nil, fmt.Errorf("demo account: %w", err)
	}
	key, err := s.keys.Create(ctx, rbac.NewAPIKey{
		Name: "demo", ServiceType: "insights", Scope: rbac.ScopeAccount, Account: string(acct.SID), CreatorEmail: configCreator,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("demo API key: %w", err)
	}
	return &demoCredentials{Account: acct, App: app, User: "demo", Password: pw, APIKey: tenancy.Secret(key.Secret.Reveal())}, nil
}
