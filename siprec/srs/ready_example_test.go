package srs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"

	"github.com/voicegw/voicegw/siprec/srs"
)

// A gateway's /readyz: the recording directory can be written, the
// database cannot be reached. A program adds server.ReadyCheck() (SIP
// served, not shutting down) and its own stores' checks (SQLiteFile for
// SQLite files), and mounts the Readiness at GET /readyz.
func ExampleNewReadiness() {
	dir, _ := os.MkdirTemp("", "readyz-example-")
	defer os.RemoveAll(dir)
	ready := srs.NewReadiness(srs.ReadinessConfig{Checks: []srs.ReadyCheck{
		srs.DirWritable("recordings", dir),
		{Name: "database", Check: func(ctx context.Context) error { return errors.New("postgres: connection refused") }},
	}})
	rec := httptest.NewRecorder()
	ready.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output: 503 {"status":"not_ready","checks":{"database":"postgres: connection refused","recordings":"ok"}}
}
