package srsstate

import (
	"context"
	"errors"
	"fmt"
	"github.com/voicegw/voicegw/internal/redact"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/voicegw/voicegw/insights/pgindex"
	"github.com/voicegw/voicegw/internal/pgdb"
	rbacpg "github.com/voicegw/voicegw/rbac/pgstore"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
	adminpg "github.com/voicegw/voicegw/tenancy/admin/pgstore"
	tenancypg "github.com/voicegw/voicegw/tenancy/pgstore"
)

// DatabaseURLError is CheckDatabaseURL's error (and Open's for a URL that
// does not parse): Reason says what is wrong, naming the URL without its
// password, never the password. It matches ErrBadDatabaseURL.
type DatabaseURLError struct {
	Reason string
}

func (e *DatabaseURLError) Error() string { return ErrBadDatabaseURL.Error() + ": " + e.Reason }

// Unwrap makes the error match ErrBadDatabaseURL.
func (e *DatabaseURLError) Unwrap() error { return ErrBadDatabaseURL }

// CheckDatabaseURL reports whether dsn is a postgres:// (or postgresql://)
// URL that the PostgreSQL drivers accept, without connecting: nil, or a
// *DatabaseURLError that says why (never with the password): why it does
// not parse as a URL (`invalid port ":x" after host`), the scheme it has
// instead (`scheme "mysql": want postgres:// or postgresql://`), or what
// the driver refuses.
func CheckDatabaseURL(dsn secret.String) error {
	u, err := url.Parse(dsn.Reveal())
	if err != nil {
		return &DatabaseURLError{Reason: parseFailure(dsn, err)}
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		scheme := "no scheme"
		if u.Scheme != "" {
			scheme = fmt.Sprintf("scheme %q", u.Scheme)
		}
		return &DatabaseURLError{Reason: scheme + ": want postgres:// or postgresql:// (postgres:// alone takes everything from the PG* environment variables)"}
	}
	if _, err := pgdb.ParseConfig(dsn.Reveal()); err != nil {
		return &DatabaseURLError{Reason: fmt.Sprintf("%s (in %s)", scrub(err.Error(), dsn), redact.URL(dsn.Reveal()))}
	}
	return nil
}

// parseFailure says why dsn, which url.Parse refused with err, is not a
// URL, never quoting its user information: url.Parse's *url.Error quotes
// the whole URL and its inner error may quote a piece of it (an escape
// such as "%zz", a port), so the reason is the inner error of parsing dsn
// without its user information — or, when that parses, that the user
// information is bad (not shown) — with the password and user
// information replaced by xxxxx should they still appear.
func parseFailure(dsn secret.String, err error) string {
	stripped, userinfo := stripUserinfo(dsn.Reveal())
	if userinfo != "" {
		_, err2 := url.Parse(stripped)
		if err2 == nil {
			return "bad user information (not shown)"
		}
		err = err2
	}
	msg := "not a URL"
	if ue := (*url.Error)(nil); errors.As(err, &ue) && ue.Err != nil {
		msg = ue.Err.Error()
	}
	if userinfo != "" {
		msg = strings.ReplaceAll(msg, userinfo, "xxxxx")
		if _, pw, ok := strings.Cut(userinfo, ":"); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return scrub(msg, dsn)
}

// stripUserinfo returns raw without the user information of its authority
// (what url.Parse would take as such: after "://", before the last '@'
// ahead of the first '/', '?' or '#'), and that user information; raw and
// "" when it has none.
func stripUserinfo(raw string) (stripped, userinfo string) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw, ""
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return raw, ""
	}
	return raw[:i+3] + rest[at+1:], rest[:at]
}

// PingDatabase connects to the database of dsn once, as Open would, and
// returns why it could not (never with the password); nil when the server
// answered. It bounds nothing itself: give ctx a deadline.
func PingDatabase(ctx context.Context, dsn secret.String) error {
	pool, err := tenancypg.OpenPool(ctx, dsn.Reveal())
	if err != nil {
		return errors.New(scrub(err.Error(), dsn))
	}
	pool.Close()
	return nil
}

// scrub removes dsn's secrets from msg, should a driver's message quote
// them: the URL whole (redact.URL: no user information, no query), then
// each password it carries on its own, in the user information or in the
// query (password=, sslpassword=).
func scrub(msg string, dsn secret.String) string {
	raw := dsn.Reveal()
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, redact.URL(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return msg
	}
	pws := []string{u.Query().Get("password"), u.Query().Get("sslpassword")}
	if pw, ok := u.User.Password(); ok {
		pws = append(pws, pw)
	}
	for _, pw := range pws {
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// dbErr wraps an error of the database's stores, scrubbed of the URL's
// password (the chain is kept for errors.Is only when nothing was
// scrubbed).
func (s *State) dbErr(err error) error {
	if msg := scrub(err.Error(), s.opts.DatabaseURL); msg != err.Error() {
		return errors.New("srsstate: database: " + msg)
	}
	return fmt.Errorf("srsstate: database: %w", err)
}

// openPostgres opens the stores on the database of DatabaseURL (one pool
// for all) and brings their schemas up to date.
func (s *State) openPostgres(ctx context.Context) (err error) {
	if err := CheckDatabaseURL(s.opts.DatabaseURL); err != nil {
		return err
	}
	if s.pool, err = tenancypg.OpenPool(ctx, s.opts.DatabaseURL.Reveal()); err != nil {
		return s.dbErr(err)
	}
	keyFile := s.opts.KeyFile
	if keyFile == "" {
		keyFile = s.path(SealingKeyFile)
	}
	if s.Tenants, err = tenancypg.NewStore(ctx, s.pool, &tenancypg.Options{
		StoreOptions: tenancy.StoreOptions{Logger: s.log.With("component", "tenancy")},
		KeyFile:      keyFile,
	}); err != nil {
		return s.dbErr(err)
	}
	ko, pepperFrom, err := s.keyStoreOptions()
	if err != nil {
		return err
	}
	if s.Keys, err = rbacpg.NewKeyStore(ctx, s.pool, ko); err != nil {
		return s.dbErr(err)
	}
	if err := rbacpg.CheckPepper(ctx, s.pool, s.Keys); errors.Is(err, rbacpg.ErrPepperMismatch) {
		return fmt.Errorf("srsstate: database: this process's API key pepper (%s) is not the one of the database's other processes: %w", pepperFrom, err)
	} else if err != nil {
		return s.dbErr(err)
	}
	if s.Members, err = rbacpg.NewMemberStore(ctx, s.pool, nil); err != nil {
		return s.dbErr(err)
	}
	if s.Admin, err = adminpg.NewStore(ctx, s.pool, &adminpg.Options{KeyFile: keyFile}); err != nil {
		return s.dbErr(err)
	}
	if s.Limiter, err = tenancypg.NewLimiter(ctx, s.pool, &tenancypg.LimiterOptions{
		TTL: s.opts.LeaseTTL, Logger: s.log.With("component", "limiter"),
	}); err != nil {
		return s.dbErr(err)
	}
	if s.Index, err = pgindex.NewIndex(ctx, s.pool); err != nil {
		return s.dbErr(err)
	}
	return nil
}

// Change is what Watch reports: accounts whose row or applications changed
// in the database, or — All — that changes may have been missed, so
// everything cached of every account must be dropped.
type Change struct {
	// All: drop everything cached; Accounts then lists every account the
	// database holds (none when they could not be listed).
	All bool
	// Accounts are the accounts to drop from caches.
	Accounts []tenancy.SID
}

// Watch reports to fn the changes to accounts and applications committed
// to a PostgreSQL database by any process (this one included), until ctx
// ends or Close: fn drops what it cached of them (an srs.Server's
// Invalidate). It returns at once; the watch runs in the background. fn
// must return quickly and may be called from two goroutines at once.
//
// Bound (tenancy/pgstore.Watch's): milliseconds after the commit; after a
// lost connection, a Change with All set once it is back (at most 15 s for
// a silently dropped connection). Watch reports All once when it starts
// listening. API keys and members need no watch: their stores read the
// database on every request.
//
// On SQLite Watch does nothing and returns nil: the state is this
// process's own. A second call returns ErrWatching; after Close, ErrClosed.
func (s *State) Watch(ctx context.Context, fn func(Change)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.watching:
		return ErrWatching
	case s.pool == nil:
		return nil
	}
	s.watching = true
	ctx, s.stop = context.WithCancel(ctx)
	log := s.log.With("component", "database")
	s.wg.Go(func() {
		_ = tenancypg.Watch(ctx, s.pool, func(c tenancypg.Change) {
			switch {
			case c.All:
				log.Info("watching the database's changes (from the start, or again after a lost connection): cached accounts dropped")
				s.wg.Go(func() { fn(Change{All: true, Accounts: s.allAccounts(ctx)}) }) // listing them takes a query
			case (c.Resource == tenancypg.ResourceAccount || c.Resource == tenancypg.ResourceApplication) && c.Account != "":
				log.Debug("database change", "resource", c.Resource, "op", c.Op, "account", c.Account)
				fn(Change{Accounts: []tenancy.SID{tenancy.SID(c.Account)}})
			}
		}, &tenancypg.WatchOptions{Logger: log})
	})
	return nil
}

// allAccounts lists every account's SID (nil when they cannot be listed).
func (s *State) allAccounts(ctx context.Context) []tenancy.SID {
	all, err := s.Tenants.Accounts(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("could not list the accounts to drop what was cached of them", "component", "database", "error", err)
		}
		return nil
	}
	sids := make([]tenancy.SID, 0, len(all))
	for _, a := range all {
		sids = append(sids, a.SID)
	}
	return sids
}

// retry runs fn until it succeeds, up to 4 times on PostgreSQL: processes
// starting at the same moment apply the same declarations to one
// database, and the loser of a race (a revision conflict, a name or
// secret just taken by the other) finds the winner's rows the next time.
// An error that is no race repeats and is returned. On SQLite fn runs
// once.
func (s *State) retry(ctx context.Context, fn func() error) error {
	err := fn()
	for attempt := 1; err != nil && s.pool != nil && attempt < 4; attempt++ {
		s.log.Info("applying the configuration to the database again (another gateway may be applying it at once)", "attempt", attempt+1, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(50+rand.IntN(200)) * time.Millisecond):
		}
		err = fn()
	}
	return err
}
