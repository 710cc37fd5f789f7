package pgstore

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/internal/pgnotify"
)

// Resources of a Change: the same names as tenancy/admin's Resource*
// constants.
const (
	ResourceAccount         = "account"
	ResourceApplication     = "application"
	ResourceAPIKey          = "api_key"
	ResourceMember          = "member"
	ResourceRole            = "role"
	ResourceServiceProvider = "service_provider"
	ResourceSMTP            = "smtp"
)

// Operations of a Change.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
	// OpRevoke: an API key's revoked_at was set.
	OpRevoke = "revoke"
)

// Change is one change committed to the database by any process (a
// gateway, an admin API, an operator's SQL), or — All — the news that
// changes may have been missed, so everything cached must be dropped.
type Change struct {
	// Resource is what changed: ResourceAccount, ResourceApplication (this
	// package), ResourceAPIKey, ResourceMember, ResourceRole
	// (rbac/pgstore), ResourceServiceProvider, ResourceSMTP
	// (tenancy/admin/pgstore). "" when All is set.
	Resource string
	// Op is OpCreate, OpUpdate, OpDelete or OpRevoke.
	Op string
	// ID identifies the row: an account or application SID, an API key,
	// member or role ID, a service provider ID, an SMTP owner ("" for the
	// platform's).
	ID string
	// Account is the account the row belongs to ("" for none); for an
	// account, its own SID.
	Account string
	// ServiceProvider is the row's service provider, where it has one
	// (accounts, API keys, members).
	ServiceProvider string
	// Realms are an account's SIP realms before and after the change (one
	// when it did not change), for caches keyed by realm.
	Realms []string
	// All: drop everything cached. Watch delivers it first, when it starts
	// listening, and again each time it had to reconnect (changes
	// committed while it was not listening are unknown), and for a
	// notification it cannot read.
	All bool
}

// WatchOptions configures Watch. The zero value (or nil) works.
type WatchOptions struct {
	// HealthInterval is how long the listening connection may stay silent
	// before Watch checks it with a round trip. Default: 10 s.
	HealthInterval time.Duration
	// PingTimeout bounds that check. Default: 5 s.
	PingTimeout time.Duration
	// Logger receives the connection's losses and recoveries. Default:
	// discard.
	Logger *slog.Logger
}

// Watch calls fn with every change committed to the accounts, applications,
// API keys, members, roles, service providers and SMTP settings of the
// database of pool — by this process or any other, through voicegw's
// PostgreSQL stores or by hand — in commit order, on the calling
// goroutine, until ctx is done; it returns ctx's error. Run it in a
// goroutine for the life of the gateway, and drop what each Change names
// from the caches (tenants by realm, verified keys, buckets); fn must
// return quickly. One Watch serves every store of a database: the stores
// notify on one channel.
//
// It holds one connection of its own (not one of the pool's), made from
// the pool's configuration, LISTENing on the channel; the stores' writes
// notify through triggers in the same transaction, so a change is announced
// when, and only when, it commits.
//
// Bound: a change reaches fn milliseconds after its commit (the server
// sends the notification to every listener at commit). If the listening
// connection breaks, Watch notices at once when the socket says so (a
// server restart, a failover, pg_terminate_backend), and otherwise (a
// connection silently dropped by the network) after at most HealthInterval
// + PingTimeout of silence — 15 s by default; it then reconnects (retrying
// with a backoff of up to HealthInterval) and delivers a Change with All
// set before any other. Changes made while it was disconnected are never
// delivered one by one: All stands for them. A cache that must not serve a
// stale entry for longer than the bound even while the database is
// unreachable should also expire its entries (a TTL).
func Watch(ctx context.Context, pool *pgxpool.Pool, fn func(Change), opts *WatchOptions) error {
	if pool == nil {
		return errors.New("pgstore: Watch: nil pool")
	}
	var o pgnotify.Options
	if opts != nil {
		o = pgnotify.Options{HealthInterval: opts.HealthInterval, PingTimeout: opts.PingTimeout, Logger: opts.Logger}
	}
	return pgnotify.Listen(ctx, pool.Config().ConnConfig, func(c pgnotify.Change) {
		fn(Change{Resource: c.Resource, Op: c.Op, ID: c.ID, Account: c.Account, ServiceProvider: c.ServiceProvider,
			Realms: c.Realms, All: c.All})
	}, &o)
}
