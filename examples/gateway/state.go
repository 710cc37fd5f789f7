package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	rbacpg "github.com/voicegw/voicegw/rbac/pgstore"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"github.com/voicegw/voicegw/tenancy"
)

// The files and directories under data_dir.
const (
	stateDBName     = srsstate.StateDB         // accounts, API keys, licence leases, session journal
	insightsDBName  = srsstate.IndexDB         // session documents
	recordingsDir   = "recordings"             // recording.Dir: files being recorded
	spoolDir        = "spool"                  // storage.Spool: files waiting for their bucket
	demoAccountName = srsstate.DemoAccountName // its local bucket: "bucket" (srsstate.DemoOptions)
)

// openState opens (creating them on first start) the state cfg names
// (srsstate: SQLite under data_dir, or the PostgreSQL database of
// `database` for everything but the journal). A gateway given another
// pepper than the database's other gateways refuses to start, naming the
// key.
func openState(ctx context.Context, cfg *Config, log *slog.Logger) (*srsstate.State, error) {
	st, err := srsstate.Open(ctx, srsstate.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.Database, KeyFile: cfg.DatabaseKeyFile,
		Pepper: cfg.APIKeyPepper, LeaseTTL: cfg.Limiter.LeaseTTL, Logger: log})
	if errors.Is(err, rbacpg.ErrPepperMismatch) {
		return nil, fmt.Errorf("database: give every gateway of the database the same pepper (api_key_pepper, or the file DATA_DIR/%s): %w", srsstate.PepperFile, err)
	} else if err != nil {
		return nil, err
	}
	return st, nil
}

// applyAccounts applies the configured accounts and API keys
// (srsstate.State.Apply); their problems are a *ConfigError naming the
// file's keys (a realm taken by an account made through the admin API, an
// API key secret already used by another key).
func applyAccounts(ctx context.Context, st *srsstate.State, cfg *Config) ([]*tenancy.Account, error) {
	applied, err := st.Apply(ctx, cfg.declaration())
	if probs := fieldProblems(err); len(probs) > 0 {
		return nil, &ConfigError{Problems: probs}
	}
	accounts := make([]*tenancy.Account, len(applied))
	for i, a := range applied {
		accounts[i] = a.Account
	}
	return accounts, err
}

// databaseProblems checks the database keys; messages never hold the
// password.
func (c *Config) databaseProblems() []Problem {
	if c.Database.Reveal() == "" {
		if c.DatabaseKeyFile != "" {
			return []Problem{{Key: "database_key_file", Message: "set without database (it is the sealing key of a PostgreSQL database)"}}
		}
		return nil
	}
	var ue *srsstate.DatabaseURLError
	if errors.As(srsstate.CheckDatabaseURL(c.Database), &ue) {
		return []Problem{{Key: "database", Message: ue.Reason}}
	}
	return nil
}

// checkDatabase is -check's test of the database: it connects (20 s at
// most) and says why it could not, never with the password.
func (c *Config) checkDatabase(ctx context.Context) []Problem {
	if c.Database.Reveal() == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := srsstate.PingDatabase(ctx, c.Database); err != nil {
		return []Problem{{Key: "database", Message: "cannot connect: " + err.Error()}}
	}
	return nil
}
