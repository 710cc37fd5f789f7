package srs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/voicegw/voicegw/tenancy"
)

// Defaults of ReadinessConfig.
const (
	DefaultReadyCacheFor = time.Second
	DefaultReadyTimeout  = 2 * time.Second
)

// The Status of a ReadyReport.
const (
	StatusReady    = "ready"
	StatusNotReady = "not_ready"
)

// ReadyCheck is one thing a recording server needs to take calls: Check
// returns nil when it is usable, else an error that says what is wrong
// (the readiness report shows it; keep secrets out of it).
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// ReadinessConfig configures a Readiness. The zero value checks nothing
// (always ready).
type ReadinessConfig struct {
	// Checks are run at once, each on its own goroutine.
	Checks []ReadyCheck
	// CacheFor is how long a report is reused, so that probes (or anyone
	// who reaches the HTTP listener) cannot make it query the databases at
	// will. Default DefaultReadyCacheFor (1 s); negative: never reused.
	CacheFor time.Duration
	// Timeout bounds each check. Default DefaultReadyTimeout (2 s).
	Timeout time.Duration
}

// ReadyReport is what a readiness probe answers: Status StatusReady (HTTP
// 200) when every check passed, else StatusNotReady (503); Checks holds
// each check's "ok" or what is wrong, by name.
type ReadyReport struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Readiness answers a readiness probe (GET /readyz of a gateway) from its
// checks: liveness says the process runs, readiness that it can take calls
// — a load balancer or Kubernetes sends calls elsewhere meanwhile.
// It is an http.Handler and safe for concurrent use.
type Readiness struct {
	cfg  ReadinessConfig
	mu   sync.Mutex
	at   time.Time
	last ReadyReport
}

// NewReadiness returns a Readiness running cfg's checks.
func NewReadiness(cfg ReadinessConfig) *Readiness {
	if cfg.CacheFor == 0 {
		cfg.CacheFor = DefaultReadyCacheFor
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultReadyTimeout
	}
	return &Readiness{cfg: cfg}
}

// Report runs the checks (at once, each bounded by Timeout), or returns
// the last report when it is more recent than CacheFor.
func (r *Readiness) Report(ctx context.Context) ReadyReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < r.cfg.CacheFor {
		return r.last
	}
	checks := r.cfg.Checks
	rep := ReadyReport{Status: StatusReady, Checks: make(map[string]string, len(checks))}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			// Not cancelled with ctx: the report is cached for every
			// prober, so one whose client hung up must not make it
			// "context canceled" for the others.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
			defer cancel()
			errs[i] = c.Check(cctx)
		})
	}
	wg.Wait()
	for i, c := range checks {
		rep.Checks[c.Name] = "ok"
		if errs[i] != nil {
			rep.Status, rep.Checks[c.Name] = StatusNotReady, errs[i].Error()
		}
	}
	r.at, r.last = time.Now(), rep
	return rep
}

// Ready reports whether every check passes (Report's Status).
func (r *Readiness) Ready(ctx context.Context) bool { return r.Report(ctx).Status == StatusReady }

// ServeHTTP answers the report as JSON: 200 when ready, 503 otherwise.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rep := r.Report(req.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if rep.Status != StatusReady {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(rep)
}

// Health is what a liveness probe (GET /healthz of a gateway) answers:
// the process runs; Status is "ok", or "shutting_down" once Shutdown or
// Close was called (HTTP 503, so a load balancer stops sending calls while
// the sessions in progress finish). Unlike readiness it checks nothing
// outside the process: a database down is no reason to restart it.
type Health struct {
	Status         string `json:"status"`
	SessionsActive int    `json:"sessions_active"`
	Spooled        int    `json:"recordings_spooled"` // recordings waiting for their bucket
	UptimeSeconds  int64  `json:"uptime_seconds"`     // since New
}

// Health returns the Server's liveness report.
func (s *Server) Health() Health {
	h := Health{Status: "ok", SessionsActive: s.ActiveSessions(), Spooled: s.spool.Len(),
		UptimeSeconds: int64(time.Since(s.created) / time.Second)}
	if s.ShuttingDown() {
		h.Status = "shutting_down"
	}
	return h
}

// HealthHandler answers Health as JSON: 200 while "ok", else 503.
func (s *Server) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := s.Health()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
}

// ReadyCheck is the check named "sip": the Server serves SIP (Serve has
// recovered what the last run left) and is not shutting down.
func (s *Server) ReadyCheck() ReadyCheck {
	return ReadyCheck{Name: "sip", Check: func(context.Context) error {
		select {
		case <-s.Ready():
		default:
			return errors.New("not serving yet (repairing and uploading what the last run left)")
		}
		if s.ShuttingDown() {
			return errors.New("shutting down")
		}
		return nil
	}}
}

// ReadyChecks are the Server's own readiness checks, derived from its
// Config: ReadyCheck ("sip"), then DirWritable of SpoolDir ("spool") and
// of RecordingDir ("recordings"), which a full or read-only disk fails.
// A program adds its stores' checks (srsstate.State.ReadyChecks) and makes
// a Readiness of them all.
func (s *Server) ReadyChecks() []ReadyCheck {
	return []ReadyCheck{s.ReadyCheck(), DirWritable("spool", s.cfg.SpoolDir), DirWritable("recordings", s.cfg.RecordingDir)}
}

// DirWritable returns a check that a file can be made (and removed) in
// dir: a recording directory or spool on a full or read-only disk fails it.
func DirWritable(name, dir string) ReadyCheck {
	return ReadyCheck{Name: name, Check: func(context.Context) error {
		f, err := os.CreateTemp(dir, ".readyz-*")
		if err != nil {
			return err
		}
		tmp := f.Name()
		err = f.Close()
		if rerr := os.Remove(tmp); err == nil {
			err = rerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(dir), err)
		}
		return nil
	}}
}

// SQLiteFile returns a check that the SQLite database db, opened from
// path, answers a query and is still the file opened: a file moved,
// deleted or replaced under a running server would be created anew,
// empty, by the next connection of the pool. Make it right after opening
// db (it records the file then; a file not there yet is recorded by the
// first check that finds it).
func SQLiteFile(name string, db *sql.DB, path string) ReadyCheck {
	var mu sync.Mutex
	opened, _ := os.Stat(path)
	return ReadyCheck{Name: name, Check: func(ctx context.Context) error {
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		mu.Lock()
		if opened == nil {
			opened = fi
		}
		same := os.SameFile(opened, fi)
		mu.Unlock()
		if !same {
			return fmt.Errorf("%s: replaced since the start (restart the server)", path)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}}
}

// SessionsOf returns the IDs of account's sessions in progress.
func (s *Server) SessionsOf(account tenancy.SID) []string {
	var ids []string
	for _, sess := range s.rec.Sessions() {
		if id, ok := sess.Identity(); ok && id.Tenant == string(account) {
			ids = append(ids, sess.ID())
		}
	}
	return ids
}
