// Package pgnotify carries the changes voicegw's PostgreSQL stores commit to
// every process that shares the database, with LISTEN/NOTIFY.
//
// Writes notify through triggers (Trigger, on each table of a store), so a
// change is announced by the transaction that makes it, whatever path made
// it (a store's method, a migration, an operator's UPDATE in psql), and the
// notification is delivered when, and only when, the transaction commits.
// Listen keeps one connection LISTENing, checks it when idle, and when it
// breaks connects again and tells its caller to drop everything (Change.All):
// notifications sent while nobody listened are lost, so what a cache holds
// can no longer be trusted.
package pgnotify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channel is the notification channel every voicegw store notifies on.
// Channels are per database (not per schema): two deployments sharing a
// database in different schemas see each other's changes, which costs them
// only needless cache drops.
const Channel = "voicegw_changes"

// SchemaName versions Schema in schema_versions (see internal/pgdb).
const SchemaName = "voicegw_notify"

// Schema creates the trigger function that Trigger's triggers call.
var Schema = []string{`
CREATE OR REPLACE FUNCTION voicegw_notify_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
-- TG_ARGV: resource, id column, account column, service provider column,
-- realm column ('' for none).
DECLARE
	cur jsonb;
	prev jsonb;
	op text;
	realms jsonb;
BEGIN
	IF TG_OP = 'DELETE' THEN
		cur := to_jsonb(OLD);
		op := 'delete';
	ELSE
		cur := to_jsonb(NEW);
		op := CASE TG_OP WHEN 'INSERT' THEN 'create' ELSE 'update' END;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		prev := to_jsonb(OLD);
		IF cur ? 'revoked_at' AND jsonb_typeof(prev->'revoked_at') = 'null' AND jsonb_typeof(cur->'revoked_at') <> 'null' THEN
			op := 'revoke';
		END IF;
	END IF;
	IF TG_ARGV[4] <> '' THEN
		SELECT jsonb_agg(DISTINCT v) INTO realms
		FROM (VALUES (prev->>TG_ARGV[4]), (cur->>TG_ARGV[4])) AS r(v) WHERE v IS NOT NULL AND v <> '';
	END IF;
	PERFORM pg_notify('` + Channel + `', jsonb_build_object(
		'resource', TG_ARGV[0],
		'op', op,
		'id', cur->>TG_ARGV[1],
		'account', CASE WHEN TG_ARGV[2] <> '' THEN cur->>TG_ARGV[2] END,
		'service_provider', CASE WHEN TG_ARGV[3] <> '' THEN cur->>TG_ARGV[3] END,
		'realms', realms)::text);
	RETURN NULL;
END
$fn$;`}

// Table says how a table's rows are announced.
type Table struct {
	// Name is the table.
	Name string
	// Resource names what a row is in a Change ("account", "api_key", …).
	Resource string
	// ID, Account, ServiceProvider and Realm are the columns holding the
	// row's identifier, its account, its service provider and its SIP
	// realm; all but ID may be "" (none).
	ID, Account, ServiceProvider, Realm string
}

// Trigger returns the SQL that makes the table of t notify every inserted,
// updated and deleted row (for a migration step).
func Trigger(t Table) string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	return fmt.Sprintf(`CREATE TRIGGER %[1]s_notify AFTER INSERT OR UPDATE OR DELETE ON %[1]s
	FOR EACH ROW EXECUTE FUNCTION voicegw_notify_change(%s, %s, %s, %s, %s);`,
		t.Name, q(t.Resource), q(t.ID), q(t.Account), q(t.ServiceProvider), q(t.Realm))
}

// Change is one committed change of a row, or (All) the news that changes
// may have been missed.
type Change struct {
	Resource        string   `json:"resource"`
	Op              string   `json:"op"`
	ID              string   `json:"id"`
	Account         string   `json:"account"`
	ServiceProvider string   `json:"service_provider"`
	Realms          []string `json:"realms"`
	All             bool     `json:"-"`
}

// Decode reads a notification's payload. An unreadable payload is a
// Change with All set (drop everything: something changed).
func Decode(payload string) Change {
	var c Change
	if err := json.Unmarshal([]byte(payload), &c); err != nil || c.Resource == "" {
		return Change{All: true}
	}
	return c
}

// Options configures Listen. The zero value (or nil) works.
type Options struct {
	// HealthInterval is how long the listening connection may stay silent
	// before Listen checks it with a round trip; a connection that fails
	// the check (or any other way) is replaced. Default: 10 s.
	HealthInterval time.Duration
	// PingTimeout bounds that check. Default: 5 s.
	PingTimeout time.Duration
	// Logger receives the connection's losses and recoveries. Default:
	// discard.
	Logger *slog.Logger
}

func (o *Options) defaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.HealthInterval <= 0 {
		out.HealthInterval = 10 * time.Second
	}
	if out.PingTimeout <= 0 {
		out.PingTimeout = 5 * time.Second
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

// ListenerApplicationName is the application_name of the listening
// connection (so it can be told apart in pg_stat_activity).
const ListenerApplicationName = "voicegw-watch"

// Listen connects with cfg (a copy is used), LISTENs on Channel and calls
// fn with every change, in commit order, on the calling goroutine, until
// ctx is done; it returns ctx's error. Each time it starts listening — the
// first time and after every reconnection — it first calls fn with a
// Change whose All is set. fn must return quickly.
//
// Bound: a change reaches fn as soon as its transaction commits and the
// server delivers the notification (milliseconds). When the connection
// breaks, Listen notices at once if the socket reports it, else at the
// latest after HealthInterval + PingTimeout of silence; it connects again
// (retrying with a backoff up to HealthInterval) and calls fn with All.
func Listen(ctx context.Context, cfg *pgx.ConnConfig, fn func(Change), opts *Options) error {
	o := opts.defaults()
	const firstBackoff = 100 * time.Millisecond
	backoff := firstBackoff
	for {
		conn, err := subscribe(ctx, cfg)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			o.Logger.WarnContext(ctx, "pgnotify: cannot listen for changes; retrying", "in", backoff, "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, o.HealthInterval)
			continue
		}
		if backoff != firstBackoff {
			o.Logger.InfoContext(ctx, "pgnotify: listening for changes again")
		}
		backoff = firstBackoff
		fn(Change{All: true})
		err = o.receive(ctx, conn, fn)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = conn.Close(cctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.Logger.WarnContext(ctx, "pgnotify: the listening connection broke; reconnecting", "err", err)
	}
}

func subscribe(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	c := cfg.Copy()
	c.RuntimeParams["application_name"] = ListenerApplicationName
	conn, err := pgx.ConnectConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// receive delivers notifications until the connection fails or ctx ends.
func (o *Options) receive(ctx context.Context, conn *pgx.Conn, fn func(Change)) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, o.HealthInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			fn(Decode(n.Payload))
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if conn.IsClosed() || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// Silent for HealthInterval: make sure the connection still works.
		pctx, cancel := context.WithTimeout(ctx, o.PingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return fmt.Errorf("pgnotify: health check: %w", err)
		}
	}
}
