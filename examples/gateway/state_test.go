package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
)

// TestConfigKeyRemovedIsRevoked: an API key removed from the configuration
// file stops working at the next start (issue 14 item 10), while the keys
// still listed keep their secrets, and the state files are 0600.
func TestConfigKeyRemovedIsRevoked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	const kept, removed = "kept-reporting-key-0123456789", "removed-reporting-key-0123456789"
	start := func(keys string) *srsstate.State {
		t.Helper()
		cfg, err := parseConfig("x.yaml", []byte(fmt.Sprintf(`
data_dir: %s
accounts:
  - name: acme
    sip_realm: acme.test
    api_keys: [%s]
`, dir, keys)))
		if err != nil {
			t.Fatal(err)
		}
		st, err := openState(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := applyAccounts(ctx, st, cfg); err != nil {
			st.Close()
			t.Fatal(err)
		}
		return st
	}
	st := start(fmt.Sprintf(`{name: kept, secret: %s}, {name: removed, secret: %s}`, kept, removed))
	for _, k := range []string{kept, removed} {
		if _, err := st.Keys.VerifyKey(ctx, secret.String(k)); err != nil {
			t.Fatalf("configured key: %v", err)
		}
	}
	st.Close()

	st = start(fmt.Sprintf(`{name: kept, secret: %s}`, kept))
	defer st.Close()
	if _, err := st.Keys.VerifyKey(ctx, secret.String(kept)); err != nil {
		t.Fatalf("the key still configured: %v", err)
	}
	if _, err := st.Keys.VerifyKey(ctx, secret.String(removed)); !errors.Is(err, rbac.ErrUnknownKey) {
		t.Fatalf("the key removed from the file: %v, want ErrUnknownKey", err)
	}
	for _, f := range []string{stateDBName, stateDBName + ".key", insightsDBName} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}
