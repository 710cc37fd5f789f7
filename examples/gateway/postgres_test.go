package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/internal/pgnotify"
	"github.com/voicegw/voicegw/internal/pgtest"
	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/tenancy/admin"
	tenancypg "github.com/voicegw/voicegw/tenancy/pgstore"
)

// Two gateway processes on one PostgreSQL database (issue 18), through the
// built binary, with sipp as the SIPREC client.

const (
	pgAccountKey = "shared-insights-key-7fQ2mX9vL3pR8tN4"
	pgLeaseTTL   = 10 * time.Second
)

// pgGatewayConfig is the configuration both gateways share: the database,
// its sealing key file and API key pepper, a 10 s lease TTL, one account
// with 3 licensed sessions recording into a local directory.
func pgGatewayConfig(dsn, keyFile, bucket string) string {
	return fmt.Sprintf(`
database: '%s'
database_key_file: %s
api_key_pepper: two-gateways-shared-pepper-1
limiter: {lease_ttl: %s}
demo: false
admin:
  api_keys: [{name: ops, secret: %s}]
accounts:
  - name: shared
    sip_realm: shared.test
    licensed_sessions: 3
    sip: {users: [{username: sbc, password: shared-password-1}]}
    recording: {enabled: true, record_all_calls: true, bucket: {vendor: file, file: {dir: %s}}}
    api_keys: [{name: insights, secret: %s}]
`, dsn, keyFile, pgLeaseTTL, adminKey, bucket, pgAccountKey)
}

// TestTwoGatewaysOnPostgres: gateways A and B share one database. A call
// recorded by A is found through B's Insights API; an API key made and
// revoked through A's admin API is refused by B's Insights API on the very
// next request; an allowlist edited through A's admin API is applied by B's
// recording server at once (LISTEN/NOTIFY: B had the account cached, for
// 5 s); the account's 3 licensed sessions are shared (2 calls on A and 1
// on B: a 4th gets 486 on either); killing A (SIGKILL) frees its 2
// sessions within the lease TTL, and B takes calls again.
func TestTwoGatewaysOnPostgres(t *testing.T) {
	sipptest.Path(t)
	dsn := pgtest.Shared(t).NewDatabase(t)
	keyFile := filepath.Join(t.TempDir(), "database-sealing-key")
	bucket := t.TempDir()
	cfg := pgGatewayConfig(dsn, keyFile, bucket)
	a := startGateway(t, gwOptions{Config: cfg})
	b := startGateway(t, gwOptions{Config: cfg})
	ctx := context.Background()
	ops := a.client(adminKey)

	accts, err := ops.Accounts(ctx, nil)
	if err != nil || len(accts.Items) != 1 {
		t.Fatalf("accounts through A: %v, %v", accts, err)
	}
	sid := accts.Items[0].SID
	call := func(t *testing.T, gw *gwProc, scenario string, hold time.Duration) {
		t.Helper()
		if _, err := sippCall(t, gw, sippDir(t), scenario, "shared.test", "sbc", "shared-password-1", "-key", "hold", fmt.Sprint(hold.Milliseconds())); err != nil {
			t.Fatal(err)
		}
	}

	var session string
	t.Run("a call recorded by A is found through B", func(t *testing.T) {
		call(t, a, "siprec_src_auth.xml", 500*time.Millisecond)
		waitFor(t, 20*time.Second, "the recording in the bucket", func() bool { return len(recordings(t, bucket)) == 1 })
		for key := range recordings(t, bucket) {
			id, _, err := recording.ParseKey(key)
			if err != nil {
				t.Fatal(err)
			}
			session = id.Session
		}
		cl := insights.NewClient(b.url(""), secret.String(pgAccountKey))
		var s *insights.Session
		waitFor(t, 20*time.Second, "the session document through B", func() bool {
			s, err = cl.Find(ctx, session)
			return err == nil
		})
		if s.AccountID != string(sid) || s.Status != insights.StatusEnded {
			t.Fatalf("session through B: %+v", s)
		}
	})

	t.Run("a key revoked through A is refused by B at once", func(t *testing.T) {
		ck, err := ops.CreateAPIKey(ctx, admin.CreateAPIKeyRequest{Name: "temporary", ServiceType: "insights", Scope: rbac.ScopeAccount, AccountSID: string(sid)})
		if err != nil {
			t.Fatal(err)
		}
		cl := insights.NewClient(b.url(""), secret.String(ck.Secret))
		if _, err := cl.Find(ctx, session); err != nil {
			t.Fatalf("a key made through A, used on B: %v", err)
		}
		if _, err := ops.RevokeAPIKey(ctx, ck.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Find(ctx, session); !errors.Is(err, insights.ErrUnauthorized) {
			t.Fatalf("the key revoked through A, on B's next request: %v, want 401", err)
		}
		ck2, err := ops.CreateAPIKey(ctx, admin.CreateAPIKeyRequest{Name: "deleted", ServiceType: "insights", Scope: rbac.ScopeAccount, AccountSID: string(sid)})
		if err != nil {
			t.Fatal(err)
		}
		if err := ops.DeleteAPIKey(ctx, ck2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := insights.NewClient(b.url(""), secret.String(ck2.Secret)).Find(ctx, session); !errors.Is(err, insights.ErrUnauthorized) {
			t.Fatalf("the key deleted through A, on B's next request: %v, want 401", err)
		}
	})

	t.Run("an allowlist edited through A is applied by B at once", func(t *testing.T) {
		setAllowlist := func(list []string) {
			t.Helper()
			cur, err := ops.SIP(ctx, sid)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ops.UpdateSIP(ctx, sid, admin.SIPPatch{Allowlist: &list}, cur.Revision); err != nil {
				t.Fatal(err)
			}
		}
		// B reads the account for this call and keeps it 5 s (its tenant
		// cache): the 403 below, within those 5 s, is the notification's.
		call(t, b, "siprec_src_auth.xml", 0)
		before := strings.Count(b.stderr.String(), `msg="database change" component=database resource=account`)
		setAllowlist([]string{"10.0.0.0/8"})
		if _, err := sippCall(t, b, sippDir(t), "siprec_refused_403.xml", "shared.test", "", ""); err != nil {
			t.Fatalf("B after the allowlist change through A: %v", err)
		}
		if after := strings.Count(b.stderr.String(), `msg="database change" component=database resource=account`); after <= before {
			t.Fatalf("B logged no database change of the account (%d before, %d after)", before, after)
		}
		setAllowlist([]string{})
		call(t, b, "siprec_src_auth.xml", 0)
	})

	t.Run("licensed sessions across both gateways, and a dead gateway's freed", func(t *testing.T) {
		pool, err := tenancypg.OpenPool(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		leases, err := tenancypg.NewLimiter(ctx, pool, nil)
		if err != nil {
			t.Fatal(err)
		}
		inUse := func() int {
			n, err := leases.InUse(ctx, sid)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		hold := func(gw *gwProc) {
			dir := sippDir(t)
			sipptest.Start(t, sipptest.Options{
				Scenario: filepath.Join(dir, "siprec_src_auth.xml"), Remote: gw.sipAddr(), Transport: sipptest.TCP, Dir: dir,
				Args: append(sippKeys(t, "shared.test", "sbc", "shared-password-1"), "-key", "hold", "120000"), Timeout: 3 * time.Minute,
			})
		}
		hold(a)
		hold(a)
		hold(b)
		waitFor(t, 15*time.Second, "2 calls on A and 1 on B", func() bool {
			return a.metric(t, "voicegw_sessions_active") == 2 && b.metric(t, "voicegw_sessions_active") == 1
		})
		if n := inUse(); n != 3 {
			t.Fatalf("%d leases in the database, want 3", n)
		}
		call(t, a, "siprec_refused_486.xml", 0)
		call(t, b, "siprec_refused_486.xml", 0)
		a.waitMetric(t, `voicegw_calls_total{reason="licensed_sessions",result="refused"}`, 1)
		b.waitMetric(t, `voicegw_calls_total{reason="licensed_sessions",result="refused"}`, 1)

		a.kill()
		killed := time.Now()
		// A's leases expire at most one TTL after their last renewal,
		// which was before the kill; 3 s more for the polling on a loaded
		// machine (the figure is logged).
		waitFor(t, pgLeaseTTL+3*time.Second, "A's leases to expire", func() bool { return inUse() == 1 })
		t.Logf("A's 2 leases freed %s after its SIGKILL (lease TTL %s)", time.Since(killed).Round(100*time.Millisecond), pgLeaseTTL)
		// B holds 1 of 3: two more calls fit, a third does not.
		hold(b)
		hold(b)
		waitFor(t, 15*time.Second, "3 calls on B", func() bool { return b.metric(t, "voicegw_sessions_active") == 3 })
		call(t, b, "siprec_refused_486.xml", 0)
		b.waitMetric(t, `voicegw_calls_total{reason="licensed_sessions",result="refused"}`, 2)
	})
}

// TestDatabaseConfig: the database key takes postgres:// URLs (parts left
// out come from PG* variables); anything else is refused with a message
// that names the key and never holds the password.
func TestDatabaseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
	}{
		{"not a URL", "db.example.net:5432", "want postgres:// or postgresql://"},
		{"another scheme", "mysql://u:s3cret-pw@db/x", `scheme "mysql": want postgres:// or postgresql://`},
		{"bad port", "postgres://u:s3cret-pw@db.example.net:notaport/x", `invalid port ":notaport" after host`},
		{"bad sslmode", "postgres://u:s3cret-pw@db.example.net/x?sslmode=sometimes", "database:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("t.yaml", []byte("database: '"+tc.value+"'\n"))
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Key != "database" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one problem of key database saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("the error %q holds the password", err)
			}
		})
	}
	for _, ok := range []string{"postgres://", "postgresql://voicegw:pw@db.example.net:5433/voicegw?sslmode=verify-full", "postgres:///voicegw?host=/run/postgresql"} {
		c, err := parseConfig("t.yaml", []byte("database: '"+ok+"'\n"))
		if err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
		if c.Database.Reveal() != ok || c.DatabaseKeyFile != "" { // srsstate's default: DATA_DIR/database-sealing-key
			t.Fatalf("%s: database %q, key file %q", ok, c.Database.Reveal(), c.DatabaseKeyFile)
		}
	}
	_, err := parseConfig("t.yaml", []byte("database_key_file: /k\n"))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Problems[0].Key != "database_key_file" {
		t.Fatalf("a key file without a database: %v", err)
	}
	if _, err := parseConfig("t.yaml", nil); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

// TestPostgresStartRefused: a gateway that cannot share the database's state
// refuses to start, saying why, and never prints the database's password:
// the server unreachable; a pepper other than the one of the database's
// first gateway (its API keys would fail on the others); the sealing key
// file missing while the database holds secrets sealed with the first
// gateway's key.
func TestPostgresStartRefused(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	keyFile := filepath.Join(t.TempDir(), "database-sealing-key")
	first := startGateway(t, gwOptions{Config: pgGatewayConfig(dsn, keyFile, t.TempDir())})
	first.stop()

	run := func(t *testing.T, extra string) string {
		t.Helper()
		dir := t.TempDir()
		lo, hi := freeRTPRange(10)
		cfg := filepath.Join(dir, "gateway.yaml")
		writeFile(t, cfg, fmt.Sprintf("data_dir: %s\nsip: {listen: 127.0.0.1:%d}\nhttp: {listen: 127.0.0.1:%d}\nrtp: {address: 127.0.0.1, ports: %d-%d}\ndemo: false\n",
			filepath.Join(dir, "data"), testenv.FreePort(t), testenv.FreePort(t), lo, hi)+extra)
		code, _, stderr := runGateway(t, "-config", cfg)
		if code == 0 {
			t.Fatalf("the gateway started; stderr:\n%s", stderr)
		}
		t.Logf("refused (exit %d): %s", code, strings.TrimSpace(stderr))
		return stderr
	}
	t.Run("server unreachable", func(t *testing.T) {
		stderr := run(t, "database: 'postgres://voicegw:s3cret-db-pw@127.0.0.1:1/voicegw?connect_timeout=5'\n")
		if !strings.Contains(stderr, "database") || !strings.Contains(stderr, "127.0.0.1") || strings.Contains(stderr, "s3cret-db-pw") {
			t.Fatalf("stderr does not name the database, or holds its password:\n%s", stderr)
		}
	})
	t.Run("another pepper", func(t *testing.T) {
		stderr := run(t, fmt.Sprintf("database: '%s'\ndatabase_key_file: %s\napi_key_pepper: not-the-pepper-of-the-others\n", dsn, keyFile))
		if !strings.Contains(stderr, "api_key_pepper") || strings.Contains(stderr, "not-the-pepper-of-the-others") {
			t.Fatalf("stderr does not name the pepper, or quotes it:\n%s", stderr)
		}
	})
	t.Run("sealing key missing", func(t *testing.T) {
		stderr := run(t, fmt.Sprintf("database: '%s'\napi_key_pepper: two-gateways-shared-pepper-1\n", dsn))
		if !strings.Contains(stderr, "database-sealing-key is missing") {
			t.Fatalf("stderr does not say the key file is missing:\n%s", stderr)
		}
	})
}

// TestTwoGatewaysStartAtOnce: two gateways started at the same moment on
// an empty database both come up: the schemas are made once (migrations
// under an advisory lock), the declared account and keys once, and each
// serves the other's account. Without declared accounts, the demo account
// is made once, and only the gateway that made it prints its credentials.
func TestTwoGatewaysStartAtOnce(t *testing.T) {
	t.Run("declared accounts", func(t *testing.T) {
		dsn := pgtest.Shared(t).NewDatabase(t)
		procs := startAtOnce(t, pgGatewayConfig(dsn, filepath.Join(t.TempDir(), "database-sealing-key"), t.TempDir()))
		for i, p := range procs {
			cl := admin.NewClient(p.url, secret.String(adminKey))
			accts, err := cl.Accounts(context.Background(), nil)
			if err != nil || len(accts.Items) != 1 || accts.Items[0].Name != "shared" {
				t.Fatalf("accounts through gateway %d: %+v, %v; want the one declared account", i, accts, err)
			}
			keys, err := cl.APIKeys(context.Background(), admin.Owner{Scope: rbac.ScopeAccount, AccountSID: string(accts.Items[0].SID)}, nil)
			if err != nil || len(keys.Items) != 1 {
				t.Fatalf("account keys through gateway %d: %+v, %v; want the one declared key", i, keys, err)
			}
		}
	})
	t.Run("demo", func(t *testing.T) {
		dsn := pgtest.Shared(t).NewDatabase(t)
		procs := startAtOnce(t, fmt.Sprintf("database: '%s'\ndatabase_key_file: %s\napi_key_pepper: two-gateways-shared-pepper-1\ndemo: true\n",
			dsn, filepath.Join(t.TempDir(), "database-sealing-key")))
		var key string
		printed := 0
		for i, p := range procs { // healthy comes before the welcome is printed
			waitFor(t, 10*time.Second, fmt.Sprintf("gateway %d to print the demo's credentials or say it did not make them", i), func() bool {
				return reAdminKey.MatchString(p.stdout.String()) || strings.Contains(p.stderr.String(), "demo account ready")
			})
		}
		for _, p := range procs {
			if m := reAdminKey.FindStringSubmatch(p.stdout.String()); m != nil {
				printed++
				key = m[1]
			}
		}
		if printed != 1 {
			t.Fatalf("%d gateways printed the demo's credentials, want 1", printed)
		}
		for i, p := range procs {
			accts, err := admin.NewClient(p.url, secret.String(key)).Accounts(context.Background(), nil)
			if err != nil || len(accts.Items) != 1 || accts.Items[0].Name != demoAccountName {
				t.Fatalf("accounts through gateway %d: %+v, %v; want the demo account", i, accts, err)
			}
		}
	})
}

var reAdminKey = regexp.MustCompile(`Admin API key\s+(\S+)`)

// atOnce is a gateway of startAtOnce.
type atOnce struct {
	url            string
	stdout, stderr *syncBuffer
	done           chan error
}

// startAtOnce starts two gateways with cfg at the same moment and waits
// until both are healthy.
func startAtOnce(t *testing.T, cfg string) []*atOnce {
	var procs []*atOnce
	for range 2 {
		dir := t.TempDir()
		lo, hi := freeRTPRange(10)
		httpPort := testenv.FreePort(t)
		path := filepath.Join(dir, "gateway.yaml")
		writeFile(t, path, fmt.Sprintf("data_dir: %s\nsip: {listen: 127.0.0.1:%d}\nhttp: {listen: 127.0.0.1:%d}\nrtp: {address: 127.0.0.1, ports: %d-%d}\n",
			filepath.Join(dir, "data"), testenv.FreePort(t), httpPort, lo, hi)+cfg)
		p := &atOnce{url: fmt.Sprintf("http://127.0.0.1:%d", httpPort), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
		cmd := exec.Command(gatewayBin, "-config", path)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-p.done
			if t.Failed() {
				t.Logf("gateway stderr:\n%s", tail(p.stderr.String(), 4<<10))
			}
		})
		procs = append(procs, p)
	}
	for i, p := range procs {
		waitFor(t, 30*time.Second, fmt.Sprintf("gateway %d to be healthy", i), func() bool {
			select {
			case err := <-p.done:
				p.done <- err
				t.Fatalf("gateway %d exited at start: %v", i, err)
			default:
			}
			res, err := http.Get(p.url + "/healthz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == 200
		})
		t.Logf("gateway %d applied the configuration again %d times", i, strings.Count(p.stderr.String(), "applying the configuration to the database again"))
	}
	return procs
}

// TestPostgresCheck: -check connects to the database: "configuration OK"
// when it answers, a problem of the key database (without the password)
// when it does not.
func TestPostgresCheck(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, fmt.Sprintf("database: '%s'\n", dsn))
	if code, stdout, stderr := runGateway(t, "-config", path, "-check"); code != 0 || !strings.Contains(stdout, "configuration OK") {
		t.Fatalf("-check with the database up: exit %d\n%s%s", code, stdout, stderr)
	}
	writeFile(t, path, "database: 'postgres://voicegw:s3cret-db-pw@127.0.0.1:1/voicegw?connect_timeout=5'\n")
	code, stdout, stderr := runGateway(t, "-config", path, "-check")
	if code == 0 || !strings.Contains(stderr, "database: cannot connect") || strings.Contains(stdout+stderr, "s3cret-db-pw") {
		t.Fatalf("-check with the database down: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("refused: %s", strings.TrimSpace(stderr))
}

// TestConsoleSignInAcrossGateways: the console's members and their
// passwords (Argon2id hashes, rbac/pgstore's PasswordDriver) live in the
// database: the sign-in printed by gateway A's first start works on
// gateway B's console, and a wrong password fails there.
func TestConsoleSignInAcrossGateways(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	cfg := fmt.Sprintf("database: '%s'\ndatabase_key_file: %s\napi_key_pepper: two-gateways-shared-pepper-1\n",
		dsn, filepath.Join(t.TempDir(), "database-sealing-key"))
	a := startGateway(t, gwOptions{Config: cfg})
	waitFor(t, 10*time.Second, "the welcome text", func() bool { return strings.Contains(a.stdout.String(), "Manage accounts") })
	w := parseWelcome(t, a.stdout.String())
	b := startGateway(t, gwOptions{Config: cfg})
	if strings.Contains(b.stdout.String(), "password") {
		t.Fatalf("the second gateway printed a sign-in:\n%s", b.stdout.String())
	}
	cb := newConsoleClient(t, b)
	if r := cb.signIn(w.email, w.password+"x"); r.status == http.StatusSeeOther {
		t.Fatal("a wrong password signed in on B")
	}
	cb.mustSignIn(w.email, w.password)
	if r := cb.get("/console/"); r.status != http.StatusOK || !strings.Contains(r.body, "Dashboard") {
		t.Fatalf("B's dashboard after sign-in: %d %.300s", r.status, r.body)
	}
}

// TestWatchReconnects: when the gateways' listening connections are cut
// (pg_terminate_backend, as in a failover), each gateway listens again,
// drops what it cached (changes may have been missed meanwhile), and hears
// the next change made through the other.
func TestWatchReconnects(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	cfg := pgGatewayConfig(dsn, filepath.Join(t.TempDir(), "database-sealing-key"), t.TempDir())
	a := startGateway(t, gwOptions{Config: cfg})
	b := startGateway(t, gwOptions{Config: cfg})
	const watching = "watching the database's changes"
	waitFor(t, 10*time.Second, "B to watch the database", func() bool { return strings.Count(b.stderr.String(), watching) == 1 })

	pool, err := tenancypg.OpenPool(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var cut int
	if err := pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, pgnotify.ListenerApplicationName).Scan(&cut); err != nil || cut != 2 {
		t.Fatalf("cut %d listening connections, %v; want the 2 gateways'", cut, err)
	}
	waitFor(t, 20*time.Second, "B to watch the database again", func() bool { return strings.Count(b.stderr.String(), watching) >= 2 })

	ops := a.client(adminKey)
	accts, err := ops.Accounts(context.Background(), nil)
	if err != nil || len(accts.Items) != 1 {
		t.Fatalf("accounts: %v, %v", accts, err)
	}
	sid := accts.Items[0].SID
	cur, err := ops.SIP(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	list := []string{"10.0.0.0/8"}
	if _, err := ops.UpdateSIP(context.Background(), sid, admin.SIPPatch{Allowlist: &list}, cur.Revision); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "B to hear the change made through A", func() bool {
		return strings.Contains(b.stderr.String(), `msg="database change" component=database resource=account op=update account=`+string(sid))
	})
}

// TestDatabaseFromPGEnvironment: "database: postgres://" takes every part
// from the standard PG* variables: the gateway runs on the database they
// name (its declared account is there).
func TestDatabaseFromPGEnvironment(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(pgGatewayConfig(dsn, filepath.Join(t.TempDir(), "database-sealing-key"), t.TempDir()),
		"database: '"+dsn+"'", "database: 'postgres://'", 1)
	gw := startGateway(t, gwOptions{Config: cfg, Env: []string{"PGHOST=" + u.Hostname(), "PGPORT=" + u.Port(), "PGUSER=" + u.User.Username(),
		"PGDATABASE=" + strings.TrimPrefix(u.Path, "/"), "PGSSLMODE=disable"}})
	pool, err := tenancypg.OpenPool(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tenancy_accounts`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("accounts in the database the PG* variables name: %d, %v", n, err)
	}
	gw.stop()
}
