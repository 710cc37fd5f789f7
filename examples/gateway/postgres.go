package main

// The gateway's state on PostgreSQL (`database: postgres://…`), for several
// gateways sharing one state: accounts, API keys, members and roles, the
// admin store, the licensed-session leases and the session documents live
// in the database; each gateway keeps under its data_dir only what is its
// own (recordings being written, the upload spool, the session journal in
// state.db, which holds nothing else then).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/insights/pgindex"
	"github.com/voicegw/voicegw/internal/pgdb"
	"github.com/voicegw/voicegw/rbac"
	rbacpg "github.com/voicegw/voicegw/rbac/pgstore"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/tenancy"
	adminpg "github.com/voicegw/voicegw/tenancy/admin/pgstore"
	tenancypg "github.com/voicegw/voicegw/tenancy/pgstore"
	tenancysqlite "github.com/voicegw/voicegw/tenancy/sqlitestore"
)

// databaseKeyFile is the default sealing key file of the database's secrets
// (under data_dir): copy it to every gateway of the database.
const databaseKeyFile = "secrets/database-sealing-key"

// pgState is what state holds on PostgreSQL beside the stores: the pool they
// share and the watch of the database's changes.
type pgState struct {
	pool   *pgxpool.Pool
	cancel context.CancelFunc // stops the watch
	done   chan struct{}      // closed when the watch has returned
}

// databaseProblems checks the database key: a postgres:// URL whose parts
// left out come from the PG* environment variables. Messages never hold the
// password.
func (c *Config) databaseProblems() []Problem {
	dsn := c.Database.Reveal()
	if dsn == "" {
		if c.DatabaseKeyFile != "" {
			return []Problem{{Key: "database_key_file", Message: "set without database (it is the sealing key of a PostgreSQL database)"}}
		}
		return nil
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return []Problem{{Key: "database", Message: "want a postgres:// URL (postgres:// alone takes everything from the PG* environment variables)"}}
	}
	if _, err := pgdb.ParseConfig(dsn); err != nil {
		return []Problem{{Key: "database", Message: scrub(err.Error(), u) + " (in " + u.Redacted() + ")"}}
	}
	return nil
}

// scrub removes u's password from msg, should a driver's message quote it.
func scrub(msg string, u *url.URL) string {
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// keyFile returns the sealing key file of the database's secrets.
func (c *Config) keyFile() string {
	if c.DatabaseKeyFile != "" {
		return c.DatabaseKeyFile
	}
	return c.path(databaseKeyFile)
}

// openPostgres opens the stores on the database of cfg.Database (one pool
// for all), brings its schemas up to date (safe when gateways start at
// once), and the session journal in DATA_DIR/state.db. The secrets sealed in
// the database need the key of cfg.keyFile, and API keys the pepper, shared
// by every gateway of the database: a gateway given others refuses to start.
func (s *state) openPostgres(ctx context.Context, cfg *Config, log *slog.Logger) (err error) {
	s.pg = &pgState{}
	if s.pg.pool, err = tenancypg.OpenPool(ctx, cfg.Database.Reveal()); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	keyFile := cfg.keyFile()
	if s.tenants, err = tenancypg.NewStore(ctx, s.pg.pool, &tenancypg.Options{
		StoreOptions: tenancy.StoreOptions{Logger: log.With("component", "tenancy")},
		KeyFile:      keyFile,
	}); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	pepper, pepperFrom := cfg.APIKeyPepper, "api_key_pepper"
	if pepper.IsZero() {
		pepperFrom = filepath.Join(cfg.DataDir, pepperFile)
		if pepper, err = rbac.PepperFile(pepperFrom); err != nil {
			return err
		}
	}
	if s.keys, err = rbacpg.NewKeyStore(ctx, s.pg.pool, &rbac.KeyStoreOptions{Pepper: pepper, ServiceTypes: keyServiceTypes(), Logger: log.With("component", "rbac")}); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := rbacpg.CheckPepper(ctx, s.pg.pool, s.keys); errors.Is(err, rbacpg.ErrPepperMismatch) {
		return fmt.Errorf("database: this gateway's API key pepper (%s) is not the one of the database's other gateways: give every gateway the same (api_key_pepper, or the file DATA_DIR/%s): %w",
			pepperFrom, pepperFile, err)
	} else if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if s.members, err = rbacpg.NewMemberStore(ctx, s.pg.pool, nil); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if s.admin, err = adminpg.NewStore(ctx, s.pg.pool, &adminpg.Options{KeyFile: keyFile}); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if s.limiter, err = tenancypg.NewLimiter(ctx, s.pg.pool, &tenancypg.LimiterOptions{
		TTL: cfg.Limiter.LeaseTTL, Logger: log.With("component", "limiter"),
	}); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if s.index, err = pgindex.NewIndex(ctx, s.pg.pool); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	// The journal is this gateway's own: the sessions it is recording.
	if s.db, err = tenancysqlite.OpenDB(ctx, filepath.Join(cfg.DataDir, stateDBName)); err != nil {
		return err
	}
	if s.journal, err = srs.NewSQLiteJournal(ctx, s.db); err != nil {
		return err
	}
	return nil
}

// closePostgres stops the watch and closes the pool (after the stores).
func (s *state) closePostgres() {
	if s.pg == nil {
		return
	}
	if s.pg.cancel != nil {
		s.pg.cancel()
		<-s.pg.done
	}
	if s.pg.pool != nil {
		s.pg.pool.Close()
	}
}

// watchDatabase makes the changes committed to the database by any gateway
// (or by hand) count here too: an account's or application's change drops
// what the recording server cached of the account, as adminChanged does for
// this gateway's own. The bound is tenancy/pgstore.Watch's: milliseconds
// after the commit, or — when the listening connection is lost — everything
// is dropped once it is back (at most 15 s for a silently dropped
// connection), and the recording server's tenant cache TTL bounds the rest.
// API keys and members need nothing: every request reads them from the
// database.
func (g *Gateway) watchDatabase() {
	if g.st.pg == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.st.pg.cancel, g.st.pg.done = cancel, make(chan struct{})
	log := g.log.With("component", "database")
	go func() {
		defer close(g.st.pg.done)
		_ = tenancypg.Watch(ctx, g.st.pg.pool, func(c tenancypg.Change) {
			switch {
			case c.All:
				log.Info("watching the database's changes (from the start, or again after a lost connection): cached accounts dropped")
				g.srs.TenantCache().InvalidateAll()
				go g.invalidateAll(ctx, log) // fn must return quickly
			case (c.Resource == tenancypg.ResourceAccount || c.Resource == tenancypg.ResourceApplication) && c.Account != "":
				log.Debug("database change", "resource", c.Resource, "op", c.Op, "account", c.Account)
				g.srs.Invalidate(tenancy.SID(c.Account))
			}
		}, &tenancypg.WatchOptions{Logger: log})
	}()
}

// invalidateAll drops what the recording server cached of every account
// (their buckets too), after changes may have been missed.
func (g *Gateway) invalidateAll(ctx context.Context, log *slog.Logger) {
	all, err := g.st.tenants.Accounts(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("could not list the accounts to drop their cached buckets", "error", err)
		}
		return
	}
	sids := make([]tenancy.SID, 0, len(all))
	for _, a := range all {
		sids = append(sids, a.SID)
	}
	g.srs.Invalidate(sids...)
}

// retryShared runs fn (applying the declared accounts and keys, or making
// the demo account) until it succeeds, up to 4 times on PostgreSQL: gateways
// starting at the same moment apply the same declarations to one database,
// and the loser of a race (a revision conflict, a name or secret just
// taken by the other) finds the winner's rows the next time. An error that
// is no race repeats and is returned. On SQLite fn runs once.
func (s *state) retryShared(ctx context.Context, log *slog.Logger, fn func() error) error {
	err := fn()
	for attempt := 1; err != nil && s.pg != nil && attempt < 4; attempt++ {
		log.Info("applying the configuration to the database again (another gateway may be applying it at once)", "attempt", attempt+1, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(50+rand.IntN(200)) * time.Millisecond):
		}
		err = fn()
	}
	return err
}

// checkDatabase is -check's test of the database: it connects (20 s at
// most) and returns a Problem saying why it could not, never with the
// password.
func (c *Config) checkDatabase(ctx context.Context) []Problem {
	dsn := c.Database.Reveal()
	if dsn == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		msg := err.Error()
		if u, perr := url.Parse(dsn); perr == nil {
			msg = scrub(msg, u)
		}
		return []Problem{{Key: "database", Message: "cannot connect: " + msg}}
	}
	pool.Close()
	return nil
}
