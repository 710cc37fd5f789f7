package srsstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/sqliteindex"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	rbacsqlite "github.com/voicegw/voicegw/rbac/sqlitestore"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	adminsqlite "github.com/voicegw/voicegw/tenancy/admin/sqlitestore"
	tenancysqlite "github.com/voicegw/voicegw/tenancy/sqlitestore"
)

// The files under Options.DataDir, relative to it.
const (
	// StateDB holds the accounts, API keys, members, admin store, leases
	// and journal on SQLite; only the journal on PostgreSQL. Its secrets
	// are sealed with the key in StateDB + ".key".
	StateDB = "state.db"
	// IndexDB holds the session documents on SQLite.
	IndexDB = "insights.db"
	// PepperFile holds the API key pepper when Options.Pepper is empty
	// (rbac.PepperFile: made on the first open).
	PepperFile = "secrets/api-key-pepper"
	// SealingKeyFile holds the sealing key of a PostgreSQL database's
	// secrets when Options.KeyFile is empty (made by the database's first
	// process: copy it to the others).
	SealingKeyFile = "secrets/database-sealing-key"
)

// ServiceTypeAdmin is the API key service type with every privilege (the
// advanced ones too) that ServiceTypes adds to rbac's: the keys that run a
// gateway (its admin API's bootstrap keys, the demo's admin key).
const ServiceTypeAdmin = "admin"

// ServiceTypes returns rbac's service types (rbac.DefaultServiceTypes) and
// ServiceTypeAdmin: Options.ServiceTypes' default.
func ServiceTypes() map[string]rbac.Privileges {
	st := rbac.DefaultServiceTypes()
	st[ServiceTypeAdmin] = rbac.AllPrivileges()
	return st
}

// Errors of Open and of State's methods; match them with errors.Is.
var (
	// ErrNoDataDir: Options.DataDir is empty.
	ErrNoDataDir = errors.New("srsstate: no data directory")
	// ErrBadDatabaseURL: Options.DatabaseURL (or CheckDatabaseURL's dsn)
	// is not a postgres:// URL that parses. The error never quotes the
	// password.
	ErrBadDatabaseURL = errors.New("srsstate: bad database URL")
	// ErrWatching: Watch was called twice.
	ErrWatching = errors.New("srsstate: already watching")
	// ErrClosed: the State was closed.
	ErrClosed = errors.New("srsstate: closed")
	// ErrNoSuchAccount: DefaultAccount was given a name no stored account
	// has (the error quotes it).
	ErrNoSuchAccount = errors.New("srsstate: no such account")
)

// Options configures Open. Only DataDir is required.
type Options struct {
	// DataDir holds the SQLite files (StateDB, IndexDB) and, unless given
	// below, the pepper and the sealing key; made (mode 0700) when missing.
	DataDir string
	// DatabaseURL, a postgres:// (or postgresql://) URL, keeps every store
	// but the journal in that PostgreSQL database, shared with the other
	// processes opening it; parts it leaves out come from the PG*
	// environment variables ("postgres://" alone takes all of them).
	// Default "": SQLite under DataDir.
	DatabaseURL secret.String
	// KeyFile is the sealing key of the database's secrets (PostgreSQL
	// only): the same file on every process of the database. Default:
	// DataDir/SealingKeyFile, made by the first process when the database
	// holds no sealed secret yet.
	KeyFile string
	// Pepper keys the hashes of API keys (rbac.KeyStoreOptions.Pepper),
	// the same for every process of a database. Default: the one kept in
	// DataDir/PepperFile, made on the first open.
	Pepper secret.String
	// ServiceTypes are the API key service types. Default: ServiceTypes().
	ServiceTypes map[string]rbac.Privileges
	// LeaseTTL is how long a licensed-session lease lives without renewal
	// (a dead process's sessions are freed at most this long after).
	// Default: the limiter driver's (2 minutes).
	LeaseTTL time.Duration
	// Logger receives the stores' and the watch's logs, with a component
	// attribute (tenancy, rbac, limiter, database). Default: discard.
	Logger *slog.Logger
}

// State is a gateway's state, open. Its stores are safe for concurrent
// use; Close closes them all.
type State struct {
	// Tenants holds the accounts, applications and SIP users.
	Tenants *tenancy.Store
	// Keys holds the API keys.
	Keys *rbac.KeyStore
	// Members holds the members (with their password hashes) and roles.
	Members *rbac.MemberStore
	// Admin holds the admin API's service providers, SMTP settings and
	// audit (its secrets sealed with Tenants' key).
	Admin *admin.Store
	// Limiter bounds each account's licensed sessions.
	Limiter tenancy.SessionLimiter
	// Journal is srs.Server's crash journal, always in DataDir/StateDB.
	Journal *srs.SQLiteJournal
	// Index holds the session documents.
	Index *insights.Index

	opts  Options
	log   *slog.Logger
	db    *sql.DB          // DataDir/StateDB
	idxDB *sql.DB          // DataDir/IndexDB; nil on PostgreSQL
	pool  *pgxpool.Pool    // nil on SQLite
	ready []srs.ReadyCheck // made as the databases open (ReadyChecks)

	mu       sync.Mutex
	closed   bool
	watching bool
	stop     context.CancelFunc // stops the watch
	wg       sync.WaitGroup     // the watch's goroutines
}

// Open opens (creating them on first use) the stores as opts says: on
// SQLite under opts.DataDir, or on the PostgreSQL database of
// opts.DatabaseURL. On PostgreSQL it fails, saying why and never with the
// URL's password, when the server cannot be reached (ErrBadDatabaseURL
// for a URL that does not parse), when the sealing key is missing or wrong
// (tenancy.ErrNoSealingKey, tenancy.ErrWrongSealingKey) and when the
// pepper is not the one of the database's other processes
// (rbac/pgstore.ErrPepperMismatch).
func Open(ctx context.Context, opts Options) (_ *State, err error) {
	if opts.DataDir == "" {
		return nil, ErrNoDataDir
	}
	if opts.ServiceTypes == nil {
		opts.ServiceTypes = ServiceTypes()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("srsstate: data directory: %w", err)
	}
	s := &State{opts: opts, log: log}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if opts.DatabaseURL.Reveal() != "" {
		if err := s.openPostgres(ctx); err != nil {
			return nil, err
		}
	} else if err := s.openSQLite(ctx); err != nil {
		return nil, err
	}
	if s.pool != nil { // the journal is this process's own: the sessions it is recording
		if s.db, err = tenancysqlite.OpenDB(ctx, s.path(StateDB)); err != nil {
			return nil, err
		}
	}
	if s.Journal, err = srs.NewSQLiteJournal(ctx, s.db); err != nil {
		return nil, err
	}
	s.ready = []srs.ReadyCheck{srs.SQLiteFile("state_db", s.db, s.path(StateDB))}
	if s.idxDB != nil {
		s.ready = append(s.ready, srs.SQLiteFile("session_index", s.idxDB, s.path(IndexDB)))
	}
	if s.pool != nil {
		s.ready = append(s.ready, srs.ReadyCheck{Name: "database", Check: func(ctx context.Context) error {
			if err := s.pool.Ping(ctx); err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
			return nil
		}})
	}
	return s, nil
}

// ReadyChecks returns the readiness checks of the state, for
// srs.ReadinessConfig.Checks: "state_db" (DataDir/StateDB, which holds
// the journal, answers a query and is still the file opened), on SQLite
// "session_index" (DataDir/IndexDB, likewise), and on PostgreSQL
// "database" (the database answers a ping). The files are recorded when
// Open opened them, so a file moved or replaced since fails its check.
func (s *State) ReadyChecks() []srs.ReadyCheck { return slices.Clone(s.ready) }

// path returns a path under DataDir.
func (s *State) path(name string) string { return filepath.Join(s.opts.DataDir, name) }

// pepper returns the API key pepper and where it comes from.
func (s *State) pepper() (secret.String, string, error) {
	if !s.opts.Pepper.IsZero() {
		return s.opts.Pepper, "the one given", nil
	}
	p, err := rbac.PepperFile(s.path(PepperFile))
	return p, s.path(PepperFile), err
}

func (s *State) keyStoreOptions() (*rbac.KeyStoreOptions, string, error) {
	pepper, from, err := s.pepper()
	if err != nil {
		return nil, "", err
	}
	return &rbac.KeyStoreOptions{Pepper: pepper, ServiceTypes: s.opts.ServiceTypes, Logger: s.log.With("component", "rbac")}, from, nil
}

// openSQLite opens every store in DataDir/StateDB but the session
// documents, in DataDir/IndexDB.
func (s *State) openSQLite(ctx context.Context) (err error) {
	if s.db, err = tenancysqlite.OpenDB(ctx, s.path(StateDB)); err != nil {
		return err
	}
	// Secrets in state.db are sealed with the key in state.db.key.
	if s.Tenants, err = tenancysqlite.NewStore(ctx, s.db, &tenancysqlite.Options{
		StoreOptions: tenancy.StoreOptions{Logger: s.log.With("component", "tenancy")},
	}); err != nil {
		return err
	}
	ko, _, err := s.keyStoreOptions()
	if err != nil {
		return err
	}
	if s.Keys, err = rbacsqlite.NewKeyStore(ctx, s.db, ko); err != nil {
		return err
	}
	if s.Members, err = rbacsqlite.NewMemberStore(ctx, s.db, nil); err != nil {
		return err
	}
	if s.Admin, err = adminsqlite.NewStore(ctx, s.db, nil); err != nil {
		return err
	}
	if s.Limiter, err = tenancysqlite.NewLimiter(ctx, s.db, &tenancysqlite.LimiterOptions{
		TTL: s.opts.LeaseTTL, Logger: s.log.With("component", "limiter"),
	}); err != nil {
		return err
	}
	if s.idxDB, err = sqliteindex.OpenDB(ctx, s.path(IndexDB)); err != nil {
		return err
	}
	s.Index, err = sqliteindex.NewIndex(ctx, s.idxDB)
	return err
}

// DB returns the SQLite database DataDir/StateDB: every store's on SQLite,
// the journal's only on PostgreSQL (for a readiness check, say).
func (s *State) DB() *sql.DB { return s.db }

// IndexDB returns the SQLite database DataDir/IndexDB of the session
// documents; nil on PostgreSQL.
func (s *State) IndexDB() *sql.DB { return s.idxDB }

// Pool returns the PostgreSQL pool the stores share; nil on SQLite.
func (s *State) Pool() *pgxpool.Pool { return s.pool }

// Shared reports whether the state is a PostgreSQL database other
// processes may share.
func (s *State) Shared() bool { return s.pool != nil }

// Close stops the watch and closes every store, then the databases. It
// may be called more than once.
func (s *State) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	s.wg.Wait()
	var errs []error
	closeIf := func(open bool, c interface{ Close() error }) {
		if open {
			errs = append(errs, c.Close())
		}
	}
	closeIf(s.Index != nil, s.Index)
	closeIf(s.Keys != nil, s.Keys)
	closeIf(s.Members != nil, s.Members)
	closeIf(s.Admin != nil, s.Admin)
	closeIf(s.Tenants != nil, s.Tenants)
	for _, db := range []*sql.DB{s.idxDB, s.db} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if s.pool != nil {
		s.pool.Close()
	}
	return errors.Join(errs...)
}
