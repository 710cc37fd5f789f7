package pgnotify_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/internal/pgdb"
	"github.com/voicegw/voicegw/internal/pgnotify"
	"github.com/voicegw/voicegw/internal/pgtest"
)

// patience bounds every wait for a notification: far above the delivery
// time (milliseconds) so a loaded machine does not fail the test, and
// above HealthInterval+PingTimeout of the options the tests use.
const patience = 20 * time.Second

var table = pgnotify.Table{Name: "things", Resource: "thing", ID: "id", Account: "account_sid", ServiceProvider: "sp", Realm: "realm"}

func setup(t *testing.T) (dsn string, pool *pgxpool.Pool) {
	t.Helper()
	dsn = pgtest.Shared(t).NewDatabase(t)
	pool, err := pgdb.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(t.Context(), pool, pgnotify.SchemaName, pgnotify.Schema); err != nil {
		t.Fatal(err)
	}
	if err := pgdb.Migrate(t.Context(), pool, "things", []string{`CREATE TABLE things (
		id text PRIMARY KEY, account_sid text NOT NULL, sp text NOT NULL, realm text, revoked_at timestamptz);` +
		pgnotify.Trigger(table)}); err != nil {
		t.Fatal(err)
	}
	return dsn, pool
}

// watch runs Listen with the configuration of dsn until the test ends and
// returns the changes it delivers.
func watch(t *testing.T, dsn string, opts *pgnotify.Options) <-chan pgnotify.Change {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan pgnotify.Change, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pgnotify.Listen(ctx, cfg, func(c pgnotify.Change) { ch <- c }, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen = %v, want context.Canceled", err)
		}
	})
	return ch
}

func next(t *testing.T, ch <-chan pgnotify.Change) pgnotify.Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(patience):
		t.Fatalf("no change delivered within %v", patience)
		return pgnotify.Change{}
	}
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(t.Context(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// TestChangesAcrossPools: a watcher on one pool sees, in order, what
// another pool (another gateway) commits — creation, update with both
// realms, revocation, deletion — and nothing of a rolled-back transaction.
func TestChangesAcrossPools(t *testing.T) {
	dsn, writer := setup(t)
	ch := watch(t, dsn, nil)
	if c := next(t, ch); !c.All {
		t.Fatalf("first change %+v, want All (subscribed)", c)
	}
	exec(t, writer, `INSERT INTO things VALUES ('k1', 'AC1', 'sp1', 'a.example.com', NULL)`)
	exec(t, writer, `UPDATE things SET realm = 'b.example.com' WHERE id = 'k1'`)
	exec(t, writer, `UPDATE things SET revoked_at = now() WHERE id = 'k1'`)
	tx, err := writer.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `INSERT INTO things VALUES ('rolled-back', 'AC1', 'sp1', NULL, NULL)`); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(t.Context())
	exec(t, writer, `DELETE FROM things WHERE id = 'k1'`)
	for _, want := range []pgnotify.Change{
		{Resource: "thing", Op: "create", ID: "k1", Account: "AC1", ServiceProvider: "sp1", Realms: []string{"a.example.com"}},
		{Resource: "thing", Op: "update", ID: "k1", Account: "AC1", ServiceProvider: "sp1", Realms: []string{"a.example.com", "b.example.com"}},
		{Resource: "thing", Op: "revoke", ID: "k1", Account: "AC1", ServiceProvider: "sp1", Realms: []string{"b.example.com"}},
		{Resource: "thing", Op: "delete", ID: "k1", Account: "AC1", ServiceProvider: "sp1", Realms: []string{"b.example.com"}},
	} {
		got := next(t, ch)
		slices.Sort(got.Realms)
		if got.Resource != want.Resource || got.Op != want.Op || got.ID != want.ID || got.Account != want.Account ||
			got.ServiceProvider != want.ServiceProvider || !slices.Equal(got.Realms, want.Realms) || got.All {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	}
}

// TestTerminatedListenerResubscribes: the server ends the listening
// connection (pg_terminate_backend, as a restart or a failover does): the
// watcher reconnects, says that changes may have been missed (All), and
// sees the changes committed after.
func TestTerminatedListenerResubscribes(t *testing.T) {
	dsn, writer := setup(t)
	ch := watch(t, dsn, &pgnotify.Options{HealthInterval: time.Hour}) // only the socket can tell
	if c := next(t, ch); !c.All {
		t.Fatalf("first change %+v, want All", c)
	}
	var n int
	if err := writer.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`, pgnotify.ListenerApplicationName).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d listeners, %v; want 1", n, err)
	}
	// Changes committed while nobody listens are lost: All says so.
	if c := next(t, ch); !c.All {
		t.Fatalf("after the connection was terminated: %+v, want All", c)
	}
	exec(t, writer, `INSERT INTO things VALUES ('k2', 'AC2', 'sp', NULL, NULL)`)
	if c := next(t, ch); c.Op != "create" || c.ID != "k2" || c.Realms != nil {
		t.Fatalf("after resubscribing: %+v", c)
	}
}

// TestSilentConnectionDetected: the network drops the listening
// connection's packets without closing it (a half-open TCP connection, as
// after a NAT or firewall timeout): the health check notices within
// HealthInterval + PingTimeout, the watcher reconnects and says All.
func TestSilentConnectionDetected(t *testing.T) {
	dsn, writer := setup(t)
	srv := pgtest.Shared(t)
	p := newProxy(t, fmt.Sprintf("127.0.0.1:%d", srv.Port))
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxied := fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", p.addr, cfg.Database)
	ch := watch(t, proxied, &pgnotify.Options{HealthInterval: 300 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
	if c := next(t, ch); !c.All {
		t.Fatalf("first change %+v, want All", c)
	}
	p.blackhole() // every connection so far: bytes vanish both ways
	if c := next(t, ch); !c.All {
		t.Fatalf("after the connection went silent: %+v, want All", c)
	}
	exec(t, writer, `INSERT INTO things VALUES ('k3', 'AC3', 'sp', NULL, NULL)`)
	if c := next(t, ch); c.ID != "k3" {
		t.Fatalf("after reconnecting: %+v", c)
	}
}

func TestDecode(t *testing.T) {
	for _, bad := range []string{"", "not json", `{"op":"create"}`, `[1,2]`} {
		if c := pgnotify.Decode(bad); !c.All {
			t.Errorf("Decode(%q) = %+v, want All", bad, c)
		}
	}
	c := pgnotify.Decode(`{"resource":"account","op":"update","id":"x","account":"x","service_provider":null,"realms":["r"]}`)
	if c.All || c.Resource != "account" || c.ID != "x" || len(c.Realms) != 1 {
		t.Fatalf("Decode = %+v", c)
	}
}

// proxy forwards TCP connections to a server; blackhole makes the
// connections open so far drop every byte both ways, without closing them.
type proxy struct {
	addr  string
	mu    sync.Mutex
	dead  []*atomic.Bool
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		_ = l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			dead := new(atomic.Bool)
			p.mu.Lock()
			p.dead = append(p.dead, dead)
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				defer conns.Done()
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 && !dead.Load() {
						if _, werr := dst.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				_ = dst.Close()
				_ = src.Close()
			}
			conns.Add(2)
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return p
}

func (p *proxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.dead {
		d.Store(true)
	}
}
