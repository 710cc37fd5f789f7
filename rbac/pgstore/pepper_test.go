package pgstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/pgstore"
	"github.com/voicegw/voicegw/rbac/secret"
)

// TestCheckPepper: gateways of one database with the same pepper pass;
// one with another pepper is refused (its keys would fail on the others);
// the database never holds the pepper.
func TestCheckPepper(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	const pepper = secret.String("the gateways' shared pepper")
	keys := func(p secret.String) (*rbac.KeyStore, *pgxpool.Pool) {
		pool := newPool(t, dsn)
		ks, err := pgstore.NewKeyStore(ctx, pool, &rbac.KeyStoreOptions{Pepper: p})
		if err != nil {
			t.Fatal(err)
		}
		return ks, pool
	}
	a, aPool := keys(pepper)
	if err := pgstore.CheckPepper(ctx, aPool, a); err != nil {
		t.Fatalf("first gateway: %v", err)
	}
	b, bPool := keys(pepper)
	if err := pgstore.CheckPepper(ctx, bPool, b); err != nil {
		t.Fatalf("second gateway, same pepper: %v", err)
	}
	c, cPool := keys("another pepper, not shared")
	if err := pgstore.CheckPepper(ctx, cPool, c); !errors.Is(err, pgstore.ErrPepperMismatch) {
		t.Fatalf("gateway with another pepper: %v, want ErrPepperMismatch", err)
	} else if strings.Contains(err.Error(), "pepper, not shared") || strings.Contains(err.Error(), pepper.Reveal()) {
		t.Fatalf("the error %q quotes a pepper", err)
	}
	// The refused pepper did not replace the recorded one.
	if err := pgstore.CheckPepper(ctx, aPool, a); err != nil {
		t.Fatalf("first gateway again: %v", err)
	}
	var row string
	if err := aPool.QueryRow(ctx, `SELECT p::text FROM rbac_pepper p`).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, pepper.Reveal()) || strings.Contains(row, "7065707065") /* hex of "peppe" */ {
		t.Fatalf("the database holds the pepper: %s", row)
	}
}
