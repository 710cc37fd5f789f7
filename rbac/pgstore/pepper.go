package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/rbac"
)

// ErrPepperMismatch: the KeyStore's pepper is not the one the database's
// API keys were hashed with (another gateway of the database was given
// another pepper), so keys made through either would fail on the other.
var ErrPepperMismatch = errors.New("rbac/pgstore: the API key pepper differs from the one of the database's other gateways")

// pepperCheckText is what the check value is the HMAC of.
const pepperCheckText = "voicegw rbac/pgstore pepper check v1"

// CheckPepper makes sure every process of the database hashes API keys
// with the same pepper (rbac.KeyStoreOptions.Pepper): the first call on a
// database records the HMAC of a fixed text under ks's pepper (never the
// pepper itself); later calls, from any process, compare theirs with it and
// return ErrPepperMismatch when it differs. Call it at start, before the
// key store serves, so that a gateway given another pepper refuses to start
// instead of failing every key of the others (and having its own fail
// there). ks must be the key store of pool's database.
func CheckPepper(ctx context.Context, pool *pgxpool.Pool, ks *rbac.KeyStore) error {
	if err := migrate(ctx, pool); err != nil {
		return err
	}
	mine := ks.HashSecret(pepperCheckText)
	if _, err := pool.Exec(ctx, `INSERT INTO rbac_pepper(id, check_hmac) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, mine[:]); err != nil {
		return fmt.Errorf("rbac/pgstore: pepper check: %w", err)
	}
	var recorded []byte
	if err := pool.QueryRow(ctx, `SELECT check_hmac FROM rbac_pepper WHERE id = 1`).Scan(&recorded); err != nil {
		return fmt.Errorf("rbac/pgstore: pepper check: %w", err)
	}
	if !bytes.Equal(recorded, mine[:]) {
		return ErrPepperMismatch
	}
	return nil
}
