package pgstore_test

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/pgstore"
	"github.com/voicegw/voicegw/tenancy/storetest"
)

// secretsOf lists the secrets of the full account, and what the store
// derives from them, that must never lie in the database in clear.
func secretsOf(a *tenancy.Account) map[string]string {
	realm := a.SIPRealm
	return map[string]string{
		"the webhook secret":              a.WebhookSecret.Reveal(),
		"the S3 secret access key":        a.Recording.Bucket.S3.SecretAccessKey.Reveal(),
		"the first SIP password":          a.SIP.Users[0].Password.Reveal(),
		"the second SIP password":         a.SIP.Users[1].Password.Reveal(),
		"the first SIP user's HA1 MD5":    tenancy.NewDigestHA1(a.SIP.Users[0].Username, realm, a.SIP.Users[0].Password).MD5.Reveal(),
		"the second SIP user's HA1":       tenancy.NewDigestHA1(a.SIP.Users[1].Username, realm, a.SIP.Users[1].Password).SHA256.Reveal(),
		"the second SIP user's HA1 (512)": tenancy.NewDigestHA1(a.SIP.Users[1].Username, realm, a.SIP.Users[1].Password).SHA512256.Reveal(),
	}
}

// rawTables returns every row of the tables, each as PostgreSQL's text
// form of the whole row (every column; bytea as \x hex).
func rawTables(t *testing.T, pool *pgxpool.Pool, tables ...string) string {
	t.Helper()
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := pool.Query(t.Context(), `SELECT t::text FROM `+tbl+` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			b.WriteString(s)
			b.WriteByte('\n')
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// noSecrets fails when any of secrets appears in raw, in clear or in the
// hex form bytea columns print.
func noSecrets(t *testing.T, raw string, secrets map[string]string) {
	t.Helper()
	for what, s := range secrets {
		if strings.Contains(raw, s) || strings.Contains(raw, hex.EncodeToString([]byte(s))) {
			t.Fatalf("the database holds %s in clear", what)
		}
	}
}

// TestSecretsAtRest: after storing an account with every kind of secret and
// rotating its webhook secret, no column of any row holds a secret or a SIP
// digest, in clear or hex; the secrets come back usable through another
// pool; a wrong key, no key, and a missing key file fail clearly at open
// and name no secret; a key file is made on first use (0600), reused, and
// never made anew for a database that holds sealed secrets.
func TestSecretsAtRest(t *testing.T) {
	ctx := t.Context()
	dsn := newDSN(t)
	keyFile := filepath.Join(t.TempDir(), "keys", "tenancy.key")
	s, err := pgstore.OpenStore(ctx, dsn, &pgstore.Options{KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	in := storetest.FullAccount()
	a, err := s.CreateAccount(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := s.RotateWebhookSecret(ctx, a.SID)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	secrets := secretsOf(in)
	secrets["the rotated webhook secret"] = rotated.WebhookSecret.Reveal()
	pool := newPool(t, dsn)
	raw := rawTables(t, pool, "tenancy_accounts", "tenancy_applications", "tenancy_sealing")
	if !strings.Contains(raw, a.SID.String()) {
		t.Fatal("the raw rows do not hold the account: the test reads the wrong thing")
	}
	noSecrets(t, raw, secrets)
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}

	// Another gateway with a copy of the key file.
	s, err = pgstore.NewStore(ctx, pool, &pgstore.Options{KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Account(ctx, a.SID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckRecordingSecrets(t, in, got)
	storetest.CheckSIPSecrets(t, in, got)
	if !got.WebhookSecret.Equal(rotated.WebhookSecret) || !got.PreviousWebhookSecret.Equal(in.WebhookSecret) {
		t.Fatal("webhook secrets did not come back usable")
	}

	missing := filepath.Join(t.TempDir(), "absent.key")
	for _, tc := range []struct {
		name string
		opts *pgstore.Options
		want error
	}{
		{"another key", &pgstore.Options{SealingKey: tenancy.NewRandomSealingKey()}, tenancy.ErrWrongSealingKey},
		{"no key at all", nil, tenancy.ErrNoSealingKey},
		{"a missing key file", &pgstore.Options{KeyFile: missing}, tenancy.ErrNoSealingKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := pgstore.NewStore(ctx, pool, tc.opts)
			if !errors.Is(err, tc.want) {
				if s != nil {
					_ = s.Close()
				}
				t.Fatalf("NewStore = %v, want %v", err, tc.want)
			}
			for what, v := range secrets {
				if strings.Contains(err.Error(), v) {
					t.Fatalf("the error shows %s: %v", what, err)
				}
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a new key file was made for a database holding sealed secrets")
	}
}
