package srsstate_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/pgtest"
	rbacpg "github.com/voicegw/voicegw/rbac/pgstore"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"github.com/voicegw/voicegw/tenancy"
)

// TestTwoStatesOnPostgres: two processes' states on one database (each its
// own data directory, the same key file and pepper) share the accounts,
// keys and leases, keep their journals apart, apply the same declarations
// at once without failing, and each hears the other's changes through
// Watch (All first, then the account changed); a third given another
// pepper is refused with ErrPepperMismatch, never quoting it.
func TestTwoStatesOnPostgres(t *testing.T) {
	ctx := t.Context()
	dsn := secret.String(pgtest.Shared(t).NewDatabase(t))
	keyFile := filepath.Join(t.TempDir(), "sealing-key")
	const pepper = "two-processes-shared-pepper-1"
	opts := func() srsstate.Options {
		return srsstate.Options{DataDir: t.TempDir(), DatabaseURL: dsn, KeyFile: keyFile, Pepper: pepper, LeaseTTL: 10 * time.Second}
	}
	a := open(t, opts())
	b := open(t, opts())
	if !a.Shared() || a.Pool() == nil || a.IndexDB() != nil || a.DB() == nil {
		t.Fatalf("PostgreSQL state: shared %v, pool %v, index db %v, db %v", a.Shared(), a.Pool(), a.IndexDB(), a.DB())
	}
	if checks := a.ReadyChecks(); len(checks) != 2 || checks[0].Name != "state_db" || checks[1].Name != "database" {
		t.Fatalf("ready checks on PostgreSQL: %+v, want state_db and database", checks)
	} else if err := checks[1].Check(ctx); err != nil {
		t.Fatalf("database check: %v", err)
	}

	changes := make(chan srsstate.Change, 64)
	if err := b.Watch(ctx, func(c srsstate.Change) { changes <- c }); err != nil {
		t.Fatal(err)
	}
	if err := b.Watch(ctx, func(srsstate.Change) {}); !errors.Is(err, srsstate.ErrWatching) {
		t.Fatalf("second Watch: %v, want ErrWatching", err)
	}
	if c := next(t, changes); !c.All {
		t.Fatalf("first change %+v, want All", c)
	}

	d := declaration(t.TempDir(), srsstate.DeclaredKey{Name: "kept", Secret: keptKey})
	errc := make(chan error, 2)
	for _, st := range []*srsstate.State{a, b} {
		go func() { _, err := st.Apply(ctx, d); errc <- err }()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatalf("applying at once: %v", err)
		}
	}
	acct, err := b.Tenants.AccountByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := b.Keys.VerifyKey(ctx, keptKey); err != nil || p.Account != string(acct.SID) {
		t.Fatalf("the key applied through a, verified through b: %+v, %v", p, err)
	}
	// heard through the NOTIFY naming the account, not a reconnect's
	// "everything changed" (which lists every account too)
	for c := next(t, changes); c.All || !slices.Contains(c.Accounts, acct.SID); c = next(t, changes) {
	}

	// one licensed session across both
	if err := a.Limiter.Acquire(ctx, acct.SID, "s1", 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Limiter.Acquire(ctx, acct.SID, "s2", 1); !errors.Is(err, tenancy.ErrLimitReached) {
		t.Fatalf("the second session through b: %v, want ErrLimitReached", err)
	}
	if a.Journal == b.Journal || a.DB() == b.DB() {
		t.Fatal("the two processes share a journal")
	}

	o := opts()
	o.Pepper = "not-the-pepper-of-the-others"
	_, err = srsstate.Open(ctx, o)
	if !errors.Is(err, rbacpg.ErrPepperMismatch) || strings.Contains(err.Error(), string(o.Pepper)) {
		t.Fatalf("another pepper: %v, want ErrPepperMismatch without the pepper", err)
	}
}

func next(t *testing.T, ch <-chan srsstate.Change) srsstate.Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("no change reported within 15 s")
		return srsstate.Change{}
	}
}

// TestDatabaseURLNeverInErrors: a URL that does not parse (the reason is
// url.Parse's inner error, never the *url.Error that quotes the URL), one
// of another scheme (named), one the driver refuses, a server that does
// not answer: errors say why and never hold the password, even when the
// password is what url.Parse would quote (a port, a bad escape).
func TestDatabaseURLNeverInErrors(t *testing.T) {
	const pw = "s3cret-db-pw"
	for _, tc := range []struct{ dsn, want string }{
		{"db.example.net:5432", `scheme "db.example.net": want postgres:// or postgresql://`},
		{"/var/run/postgresql", "no scheme: want postgres:// or postgresql://"},
		{"mysql://u:" + pw + "@db/x", `scheme "mysql": want postgres:// or postgresql://`},
		{"postgres://u:" + pw + "@db.example.net:notaport/x", `invalid port ":notaport" after host`},
		{"postgresql://u:" + pw + "@db.example.net:" + pw + "/x", `invalid port ":xxxxx" after host`},
		{"postgres://u:" + pw + "%zz@db.example.net/x", "bad user information (not shown)"},
		{"postgres://u:" + pw + "@db.exa mple.net/x", `invalid character " " in host name`},
		{"postgres://u:" + pw + "@db.example.net/x%zz", `invalid URL escape "%zz"`},
		{"postgres://u:" + pw + "@db\x7f/x", "invalid control character in URL"},
		{"postgres://u:" + pw + "@db.example.net/x?sslmode=sometimes", "sslmode"},
		{"postgres://u@db.example.net/x?password=" + pw + "&sslmode=bogus", "sslmode"},
		{"postgres://u@db.example.net/x?sslpassword=" + pw + "&sslmode=bogus", "sslmode"},
	} {
		err := srsstate.CheckDatabaseURL(secret.String(tc.dsn))
		var ue *srsstate.DatabaseURLError
		if !errors.Is(err, srsstate.ErrBadDatabaseURL) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), pw) ||
			!errors.As(err, &ue) || !strings.Contains(ue.Reason, tc.want) || strings.Contains(ue.Reason, pw) {
			t.Errorf("CheckDatabaseURL(%q) = %v, want ErrBadDatabaseURL saying %q without the password", tc.dsn, err, tc.want)
		}
		if _, err := srsstate.Open(t.Context(), srsstate.Options{DataDir: t.TempDir(), DatabaseURL: secret.String(tc.dsn)}); !errors.Is(err, srsstate.ErrBadDatabaseURL) {
			t.Errorf("Open(%q) = %v, want ErrBadDatabaseURL", tc.dsn, err)
		}
	}
	for _, ok := range []string{"postgres://", "postgresql://voicegw:pw@db.example.net:5433/voicegw?sslmode=verify-full"} {
		if err := srsstate.CheckDatabaseURL(secret.String(ok)); err != nil {
			t.Errorf("CheckDatabaseURL(%q) = %v", ok, err)
		}
	}
	down := secret.String("postgres://voicegw@127.0.0.1:1/voicegw?connect_timeout=5&password=" + pw)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := srsstate.PingDatabase(ctx, down); err == nil || !strings.Contains(err.Error(), "127.0.0.1") || strings.Contains(err.Error(), pw) {
		t.Errorf("PingDatabase to a closed port: %v, want an error naming the server without the password", err)
	}
	if _, err := srsstate.Open(ctx, srsstate.Options{DataDir: t.TempDir(), DatabaseURL: down}); err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("Open to a closed port: %v, want an error without the password", err)
	}
}
