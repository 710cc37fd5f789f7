package srs_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/tenancy/memstore"
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

// A recording server's /readyz: the Server's own checks (SIP served, its
// spool and recording directory writable), with a program's store checks
// added. Before Serve the "sip" check fails.
func ExampleServer_ReadyChecks() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "readychecks-example-")
	defer os.RemoveAll(dir)
	server, err := srs.New(ctx, srs.Config{Tenants: memstore.NewStore(nil),
		RecordingDir: filepath.Join(dir, "recordings"), SpoolDir: filepath.Join(dir, "spool")})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	checks := append(server.ReadyChecks(), srs.ReadyCheck{Name: "database", Check: func(context.Context) error { return nil }})
	ready := srs.NewReadiness(srs.ReadinessConfig{Checks: checks})
	rep := ready.Report(ctx)
	fmt.Println(rep.Status)
	for _, name := range []string{"database", "recordings", "sip", "spool"} {
		fmt.Println(name+":", rep.Checks[name])
	}
	// Output:
	// not_ready
	// database: ok
	// recordings: ok
	// sip: not serving yet (repairing and uploading what the last run left)
	// spool: ok
}
