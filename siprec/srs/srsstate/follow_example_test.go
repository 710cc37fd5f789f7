package srsstate_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// Keep a recording server's caches true to the state: changes made
// through this process's admin API (AdminNotifier as admin.Config.Notifier)
// and those other gateways commit to a shared database (Follow).
func ExampleAdminNotifier() {
	dir, _ := os.MkdirTemp("", "gw")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := srsstate.Open(ctx, srsstate.Options{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	server, err := srs.New(ctx, srs.Config{Tenants: st.Tenants, Limiter: st.Limiter, Index: st.Index, Journal: st.Journal,
		RecordingDir: filepath.Join(dir, "recordings"), SpoolDir: filepath.Join(dir, "spool")})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	if err := st.Follow(ctx, server); err != nil {
		log.Fatal(err)
	}
	handler, err := admin.NewHandler(admin.Config{Tenants: st.Tenants, Keys: st.Keys, Members: st.Members, Store: st.Admin,
		Notifier: srsstate.AdminNotifier(server, nil)})
	fmt.Println(handler != nil, err)
	// Output: true <nil>
}
