package srs

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/tenancy"
)

// TestReadinessHTTP: 200 and every check "ok" when all pass; 503 naming
// the failing check and saying why when one fails; a check that hangs is
// cut at Timeout and reported as such.
func TestReadinessHTTP(t *testing.T) {
	var broken atomic.Bool
	r := NewReadiness(ReadinessConfig{CacheFor: -1, Timeout: 50 * time.Millisecond, Checks: []ReadyCheck{
		{"disk", func(context.Context) error { return nil }},
		{"db", func(context.Context) error {
			if broken.Load() {
				return errors.New("db: connection refused")
			}
			return nil
		}},
	}})
	srv := httptest.NewServer(r)
	defer srv.Close()
	get := func() (int, ReadyReport) {
		t.Helper()
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var rep ReadyReport
		if err := json.NewDecoder(res.Body).Decode(&rep); err != nil {
			t.Fatal(err)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		return res.StatusCode, rep
	}
	if code, rep := get(); code != 200 || rep.Status != StatusReady || rep.Checks["disk"] != "ok" || rep.Checks["db"] != "ok" {
		t.Fatalf("all checks pass: %d %+v", code, rep)
	}
	broken.Store(true)
	if code, rep := get(); code != 503 || rep.Status != StatusNotReady || rep.Checks["db"] != "db: connection refused" || rep.Checks["disk"] != "ok" {
		t.Fatalf("one check fails: %d %+v", code, rep)
	}
	hang := NewReadiness(ReadinessConfig{Timeout: 10 * time.Millisecond, Checks: []ReadyCheck{
		{"hang", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
	}})
	if rep := hang.Report(context.Background()); rep.Status != StatusNotReady || !strings.Contains(rep.Checks["hang"], "deadline exceeded") {
		t.Fatalf("a hanging check: %+v", rep)
	}
}

// TestReadinessCached: within CacheFor the checks are not run again (a
// probe flood does not query the databases); the zero config is ready.
func TestReadinessCached(t *testing.T) {
	var runs atomic.Int32
	r := NewReadiness(ReadinessConfig{CacheFor: time.Hour, Checks: []ReadyCheck{
		{"count", func(context.Context) error { runs.Add(1); return nil }},
	}})
	for range 100 {
		if !r.Ready(context.Background()) {
			t.Fatal("not ready")
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("100 reports within CacheFor ran the check %d times, want 1", n)
	}
	if !NewReadiness(ReadinessConfig{}).Ready(context.Background()) {
		t.Fatal("no checks: not ready")
	}
}

// A prober that hung up does not make the cached report "context
// canceled" for the others: the checks run on a context of their own.
func TestReadinessProberGone(t *testing.T) {
	r := NewReadiness(ReadinessConfig{CacheFor: time.Hour, Checks: []ReadyCheck{
		{"db", func(ctx context.Context) error { return ctx.Err() }},
	}})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if rep := r.Report(gone); rep.Status != StatusReady {
		t.Fatalf("report for a prober that hung up: %+v, want ready", rep)
	}
	if !r.Ready(context.Background()) {
		t.Fatal("the next prober got a cached not_ready")
	}
}

func TestDirWritable(t *testing.T) {
	dir := t.TempDir()
	c := DirWritable("spool", dir)
	if err := c.Check(context.Background()); err != nil {
		t.Fatalf("a writable directory: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("the check left %d files", len(left))
	}
	gone := filepath.Join(dir, "gone")
	if err := DirWritable("spool", gone).Check(context.Background()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing directory: %v, want ErrNotExist", err)
	}
}

// TestSQLiteFile: the database answers; once its file is replaced (moved
// away and another put in its place) the check says so.
func TestSQLiteFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	c := SQLiteFile("state_db", db, path)
	if err := c.Check(ctx); err != nil {
		t.Fatalf("the database as opened: %v", err)
	}
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctx); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file moved away: %v, want ErrNotExist", err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctx); err == nil || !strings.Contains(err.Error(), "replaced since the start") {
		t.Fatalf("another file in its place: %v", err)
	}

	// made before the file was there: the first check that finds it
	// records it, and a replacement after that is still told
	later := filepath.Join(t.TempDir(), "later.db")
	c = SQLiteFile("later_db", db, later)
	if err := c.Check(ctx); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no file yet: %v, want ErrNotExist", err)
	}
	if err := os.WriteFile(later, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatalf("the file once there: %v", err)
	}
	// another file (made while the first exists: another inode) moved over it
	if err := os.WriteFile(later+".new", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(later+".new", later); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctx); err == nil || !strings.Contains(err.Error(), "replaced since the start") {
		t.Fatalf("replaced after the first check found it: %v", err)
	}
}

// TestServerReadyCheck: "sip" passes while the Server serves and fails
// once it shuts down; its Health turns 503 "shutting_down" then.
func TestServerReadyCheck(t *testing.T) {
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{recordingAccount("acme", t.TempDir(), "")}, Default: "acme"})
	c := ts.ReadyCheck()
	if err := c.Check(context.Background()); c.Name != "sip" || err != nil {
		t.Fatalf("serving: %s %v", c.Name, err)
	}
	health := func() (int, Health) {
		t.Helper()
		srv := httptest.NewServer(ts.HealthHandler())
		defer srv.Close()
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var h Health
		if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, h
	}
	if code, h := health(); code != 200 || h.Status != "ok" || h.SessionsActive != 0 || h.UptimeSeconds < 0 {
		t.Fatalf("health while serving: %d %+v", code, h)
	}
	if err := ts.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background()); err == nil || err.Error() != "shutting down" {
		t.Fatalf("after Shutdown: %v, want shutting down", err)
	}
	if code, h := health(); code != 503 || h.Status != "shutting_down" {
		t.Fatalf("health after Shutdown: %d %+v", code, h)
	}
}

// TestServerReadyChecks: the Server's checks are "sip" and its two
// directories, all passing while it serves; the recording directory gone
// (a disk unmounted under it) fails "recordings" alone, naming it.
func TestServerReadyChecks(t *testing.T) {
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{recordingAccount("acme", t.TempDir(), "")}, Default: "acme"})
	rep := NewReadiness(ReadinessConfig{Checks: ts.ReadyChecks(), CacheFor: -1}).Report(context.Background())
	want := map[string]string{"sip": "ok", "spool": "ok", "recordings": "ok"}
	if rep.Status != StatusReady || !maps.Equal(rep.Checks, want) {
		t.Fatalf("serving: %+v, want ready with %v", rep, want)
	}
	if err := os.RemoveAll(filepath.Join(ts.dataDir, "recordings")); err != nil {
		t.Fatal(err)
	}
	rep = NewReadiness(ReadinessConfig{Checks: ts.ReadyChecks(), CacheFor: -1}).Report(context.Background())
	if rep.Status != StatusNotReady || rep.Checks["sip"] != "ok" || rep.Checks["spool"] != "ok" ||
		!strings.Contains(rep.Checks["recordings"], "recordings") {
		t.Fatalf("recording directory removed: %+v, want recordings failing alone", rep)
	}
}
