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
	"github.com/voicegw/voicegw/rbac/secret"
	rbacsqlite "github.com/voicegw/voicegw/rbac/sqlitestore"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	adminsqlite "github.com/voicegw/voicegw/tenancy/admin/sqlitestore"
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

// state is what the gateway keeps in SQLite, or in PostgreSQL when
// `database` is set (postgres.go; the journal stays in SQLite): the tenancy store, the API keys,
// members and roles, the admin API's store (service providers, SMTP, audit),
// the licensed-sessions limiter, the session journal and the insights index.
type state struct {
	db      *sql.DB
	idxDB   *sql.DB
	tenants *tenancy.Store
	keys    *rbac.KeyStore
	members *rbac.MemberStore
	admin   *admin.Store
	limiter tenancy.SessionLimiter
	journal *srs.SQLiteJournal
	index   *insights.Index
	pg      *pgState // the pool and the watch when on PostgreSQL (postgres.go)
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
	if cfg.Database.Reveal() != "" {
		if err := s.openPostgres(ctx, cfg, log); err != nil {
			return nil, err
		}
		return s, nil
	}
	if s.db, err = tenancysqlite.OpenDB(ctx, filepath.Join(cfg.DataDir, stateDBName)); err != nil {
		return nil, err
	}
	// Secrets in state.db are sealed with the key in state.db.key.
	if s.tenants, err = tenancysqlite.NewStore(ctx, s.db, &tenancysqlite.Options{
		StoreOptions: tenancy.StoreOptions{Logger: log.With("component", "tenancy")},
	}); err != nil {
		return nil, err
	}
	pepper := cfg.APIKeyPepper // or the one kept in DATA_DIR/secrets, made on first start
	if pepper.IsZero() {
		if pepper, err = rbac.PepperFile(filepath.Join(cfg.DataDir, pepperFile)); err != nil {
			return nil, err
		}
	}
	if s.keys, err = rbacsqlite.NewKeyStore(ctx, s.db, &rbac.KeyStoreOptions{Pepper: pepper, ServiceTypes: keyServiceTypes(), Logger: log.With("component", "rbac")}); err != nil {
		return nil, err
	}
	if s.members, err = rbacsqlite.NewMemberStore(ctx, s.db, nil); err != nil {
		return nil, err
	}
	// sealed with the tenancy store's key (SMTP passwords)
	if s.admin, err = adminsqlite.NewStore(ctx, s.db, nil); err != nil {
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
	if s.members != nil {
		_ = s.members.Close()
	}
	if s.admin != nil {
		_ = s.admin.Close()
	}
	if s.tenants != nil {
		_ = s.tenants.Close()
	}
	if s.db != nil {
		_ = s.db.Close()
	}
	s.closePostgres()
}

// randomToken returns n random bytes in base64url (no padding).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// applyAccounts applies the configured accounts (tenancy's Store.Bootstrap:
// created when missing, the keys the file gives brought to its values, the
// others kept as stored), then makes the configured API keys the keys of
// origin "config" (rbac.KeyStore.Bootstrap). Problems are reported as a
// *ConfigError naming the key (a realm taken by an account made through
// the admin API, an API key secret already used by another key).
func (s *state) applyAccounts(ctx context.Context, cfg *Config, log *slog.Logger) ([]tenancy.BootstrappedAccount, error) {
	var probs []Problem
	for i, a := range cfg.Accounts {
		if f := a.Recording.Bucket.File; f != nil { // a local bucket's directory must exist; make it
			if err := os.MkdirAll(f.Dir, 0o750); err != nil {
				probs = append(probs, Problem{Key: fmt.Sprintf("accounts[%d].recording.bucket.file.dir", i), Message: err.Error()})
			}
		}
	}
	applied, err := s.tenants.Bootstrap(ctx, cfg.declared())
	if probs = append(probs, fieldProblems(err)...); len(probs) > 0 {
		return nil, &ConfigError{Problems: probs}
	}
	if err != nil {
		return nil, err
	}
	keys := make([]rbac.BootstrapKey, 0, len(cfg.Admin.APIKeys))
	paths := make([]string, 0, len(cfg.Admin.APIKeys))
	for j, k := range cfg.Admin.APIKeys {
		keys = append(keys, configKey(rbac.ScopeAdmin, "", k, "admin"))
		paths = append(paths, fmt.Sprintf("admin.api_keys[%d]", j))
	}
	for i, a := range applied {
		for j, k := range cfg.Accounts[i].APIKeys {
			keys = append(keys, configKey(rbac.ScopeAccount, string(a.Account.SID), k, "insights"))
			paths = append(paths, fmt.Sprintf("accounts[%d].api_keys[%d]", i, j))
		}
	}
	if err := s.bootstrapKeys(ctx, keys, paths, log); err != nil {
		return nil, err
	}
	return applied, nil
}

// keyServiceTypes are rbac's service types and "admin": every privilege,
// the advanced ones too, for the keys that run the gateway (admin.api_keys,
// the demo's admin key). An "api" key lacks the advanced privileges, so it
// could not make an "insights" key, for one.
func keyServiceTypes() map[string]rbac.Privileges {
	st := rbac.DefaultServiceTypes()
	st["admin"] = rbac.AllPrivileges()
	return st
}

// configKeyOrigin is the rbac origin of the API keys of the configuration
// file: rbac.KeyStore.Bootstrap keeps them exactly as the file says, so a
// key removed from the file stops working at the next start.
const configKeyOrigin = "config"

func configKey(scope rbac.Scope, account string, k APIKeyConfig, defaultType string) rbac.BootstrapKey {
	st := k.ServiceType
	if st == "" {
		st = defaultType
	}
	return rbac.BootstrapKey{NewAPIKey: rbac.NewAPIKey{
		Name: strings.TrimSpace(k.Name), ServiceType: st, Scope: scope, Account: account, CreatorEmail: configCreator,
	}, Secret: k.Secret}
}

// bootstrapKeys makes the configuration's API keys the keys of origin
// "config". Keys made from the configuration before origins existed (same
// account and name, no origin) give way to them first.
func (s *state) bootstrapKeys(ctx context.Context, keys []rbac.BootstrapKey, paths []string, log *slog.Logger) error {
	for _, k := range keys {
		list, err := s.keys.Keys(ctx, rbac.Owner{Scope: k.Scope, Account: k.Account})
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
		log.Info("API key removed from the configuration: deleted", "name", k.Name, "scope", k.Scope, "account", k.Account)
	}
	return nil
}

// demoAccountName is the name of the account made on a first start without
// accounts.
const demoAccountName = "demo"

// demoCredentials is what a first start prints once.
type demoCredentials struct {
	Account  *tenancy.Account
	User     string
	Password secret.String
	APIKey   secret.String // Insights, of the demo account
	AdminKey secret.String // the admin API's, every privilege

	ConsoleEmail    string        // the console member of the demo account (console.go)
	ConsolePassword secret.String // its password, printed once
}

// ensureDemo makes the demo account and an Admin API key when the store
// holds no account at all. It returns the credentials when it made them (to
// print once), nil when there was an account already.
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
	pw := secret.String(randomToken(15))
	made, err := s.tenants.Bootstrap(ctx, []tenancy.DeclaredAccount{{Set: []string{"sip", "recording"},
		Account: tenancy.Account{
			Name: demoAccountName, SIPRealm: "demo.voicegw.test",
			SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "demo", Password: pw}}},
			Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatWAV, RecordAllCalls: true,
				Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: dir}}},
		},
		Applications: []tenancy.DeclaredApplication{{Name: "siprec", RecordAllCalls: &[]bool{true}[0]}},
	}})
	if err != nil {
		return nil, fmt.Errorf("demo account: %w", err)
	}
	d := &demoCredentials{Account: made[0].Account, User: "demo", Password: pw}
	for _, k := range []struct {
		key  *secret.String
		new  rbac.NewAPIKey
		what string
	}{
		{&d.APIKey, rbac.NewAPIKey{Name: "demo", ServiceType: "insights", Scope: rbac.ScopeAccount, Account: string(d.Account.SID)}, "demo API key"},
		{&d.AdminKey, rbac.NewAPIKey{Name: "first admin", ServiceType: "admin", Scope: rbac.ScopeAdmin}, "first admin API key"},
	} {
		k.new.CreatorEmail = configCreator
		ck, err := s.keys.Create(ctx, k.new, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.what, err)
		}
		*k.key = secret.String(ck.Secret.Reveal())
	}
	return d, nil
}
