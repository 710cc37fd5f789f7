package sqlitestore_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/sqlitestore"
	"github.com/voicegw/voicegw/tenancy/storetest"
)

// rawFiles returns the bytes of the database and its -wal and -shm files.
func rawFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

// noSecretBytes fails when any of secrets appears in the database files.
func noSecretBytes(t *testing.T, path string, secrets map[string]string) {
	t.Helper()
	for f, b := range rawFiles(t, path) {
		for what, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("%s holds %s in clear", filepath.Base(f), what)
			}
		}
	}
}

func wantMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", filepath.Base(path), fi.Mode().Perm())
	}
}

// secretsOf lists the secrets of the full account, and what the store
// derives from them, that must never lie in the database in clear.
func secretsOf(a *tenancy.Account, realm string) map[string]string {
	out := map[string]string{
		"the webhook secret":           a.WebhookSecret.Reveal(),
		"the S3 secret access key":     a.Recording.Bucket.S3.SecretAccessKey.Reveal(),
		"the first SIP password":       a.SIP.Users[0].Password.Reveal(),
		"the second SIP password":      a.SIP.Users[1].Password.Reveal(),
		"the first SIP user's HA1 MD5": tenancy.NewDigestHA1(a.SIP.Users[0].Username, realm, a.SIP.Users[0].Password).MD5.Reveal(),
		"the second SIP user's HA1":    tenancy.NewDigestHA1(a.SIP.Users[1].Username, realm, a.SIP.Users[1].Password).SHA256.Reveal(),
	}
	return out
}

// TestSecretsAtRest: after storing an account with every kind of secret,
// the raw database files hold none of them (nor the SIP digests); the
// database, its -wal and -shm and the key file are 0600 under a 0755
// directory with a 022 umask; the secrets come back usable after a reopen;
// a wrong key, a damaged key file and a missing key file fail clearly at
// open, and a missing key is never replaced by a new one.
func TestSecretsAtRest(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.db")
	s, err := sqlitestore.OpenStore(ctx, path, nil)
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
	secrets := secretsOf(in, in.SIPRealm)
	secrets["the rotated webhook secret"] = rotated.WebhookSecret.Reveal()
	// While the store is open, with the WAL in use.
	noSecretBytes(t, path, secrets)
	for _, f := range []string{path, path + "-wal", path + "-shm", path + ".key"} {
		wantMode(t, f)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	noSecretBytes(t, path, secrets)

	s, err = sqlitestore.OpenStore(ctx, path, nil)
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
	_ = s.Close()

	for _, tc := range []struct {
		name string
		opts *sqlitestore.Options
		prep func(t *testing.T)
		want error
	}{
		{"another key", &sqlitestore.Options{SealingKey: tenancy.NewRandomSealingKey()}, nil, tenancy.ErrWrongSealingKey},
		{"a damaged key file", nil, func(t *testing.T) {
			if err := os.WriteFile(path+".key", []byte("not a key\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, tenancy.ErrWrongSealingKey},
		{"no key file", nil, func(t *testing.T) {
			if err := os.Remove(path + ".key"); err != nil {
				t.Fatal(err)
			}
		}, tenancy.ErrNoSealingKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keyFile, _ := os.ReadFile(path + ".key")
			defer func() {
				if err := os.WriteFile(path+".key", keyFile, 0o600); err != nil {
					t.Fatal(err)
				}
			}()
			if tc.prep != nil {
				tc.prep(t)
			}
			s, err := sqlitestore.OpenStore(ctx, path, tc.opts)
			if !errors.Is(err, tc.want) {
				if s != nil {
					_ = s.Close()
				}
				t.Fatalf("OpenStore = %v, want %v", err, tc.want)
			}
			for what, v := range secrets {
				if strings.Contains(err.Error(), v) {
					t.Fatalf("the error shows %s: %v", what, err)
				}
			}
			if errors.Is(err, tenancy.ErrNoSealingKey) {
				if !strings.Contains(err.Error(), path+".key") {
					t.Fatalf("the error does not name the key file: %v", err)
				}
				if _, err := os.Stat(path + ".key"); !errors.Is(err, fs.ErrNotExist) {
					t.Fatal("a new key was made for a database holding sealed secrets")
				}
			}
		})
	}

	// The key given by the caller, or kept elsewhere.
	elsewhere := filepath.Join(t.TempDir(), "keys", "tenancy.key")
	other := filepath.Join(dir, "other.db")
	s, err = sqlitestore.OpenStore(ctx, other, &sqlitestore.Options{KeyFile: elsewhere})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	wantMode(t, elsewhere)
	if _, err := os.Stat(other + ".key"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a key file was made beside the database although KeyFile names another place")
	}
	key, err := tenancy.LoadSealingKey(elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	if s, err = sqlitestore.OpenStore(ctx, other, &sqlitestore.Options{SealingKey: key}); err != nil {
		t.Fatalf("the same key given by the caller: %v", err)
	}
	_ = s.Close()
}

// schemaV2 is the second schema step as released, before sealing.
const schemaV2 = `
ALTER TABLE tenancy_accounts ADD COLUMN session_webhook TEXT NOT NULL DEFAULT '';
ALTER TABLE tenancy_accounts ADD COLUMN sip TEXT NOT NULL DEFAULT '';
ALTER TABLE tenancy_accounts ADD COLUMN rec_bucket_url TEXT NOT NULL DEFAULT '';`

// TestMigrationSealsClearSecrets opens a database written before sealing,
// whose secrets and SIP passwords are in clear (mode 0644, as the gateway
// left it): the driver seals them, replaces the passwords by their digests,
// leaves none of the old bytes in the files and narrows the mode; the
// account reads back the same.
func TestMigrationSealsClearSecrets(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.Migrate(ctx, db, sqlitestore.SchemaName, append(append([]string(nil), schemaV1...), schemaV2)); err != nil {
		t.Fatal(err)
	}
	in := storetest.FullAccount()
	bucket, err := in.Recording.Bucket.MarshalStored()
	if err != nil {
		t.Fatal(err)
	}
	sip := `{"stored_format":1,"users":[{"username":"sbc-1","password":"first-sip-password-1"},{"username":"pbx.main","password":"second-sip-password-2"}],"allowlist":["203.0.113.7"]}`
	if _, err := db.ExecContext(ctx, `INSERT INTO tenancy_accounts(sid, name, unit, max_units, licensed_sessions,
		sip_realm, webhook_secret, prev_webhook_secret, rec_enabled, rec_format, rec_bucket, rec_all_calls, revision, created_at, updated_at, sip)
		VALUES('2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4', 'old', 'sessions', 0, 3, 'sip.full.example.com',
		?, 'whsec_previous_clear_secret_0123', 1, 'wav', ?, 0, 1, 0, 0, ?)`, in.WebhookSecret.Reveal(), string(bucket), sip); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		_ = os.Chmod(f, 0o644)
	}
	secrets := secretsOf(in, in.SIPRealm)
	secrets["the previous webhook secret"] = "whsec_previous_clear_secret_0123"
	delete(secrets, "the first SIP user's HA1 MD5") // not derived yet
	delete(secrets, "the second SIP user's HA1")
	seen := 0
	for _, b := range rawFiles(t, path) {
		if bytes.Contains(b, []byte("first-sip-password-1")) {
			seen++
		}
	}
	if seen == 0 {
		t.Fatal("the test database does not hold the clear password it should migrate")
	}

	s, err := sqlitestore.OpenStore(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.AccountByName(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if !got.WebhookSecret.Equal(in.WebhookSecret) || got.PreviousWebhookSecret.Reveal() != "whsec_previous_clear_secret_0123" {
		t.Fatal("webhook secrets changed in the migration")
	}
	storetest.CheckRecordingSecrets(t, in, got)
	storetest.CheckSIPSecrets(t, in, got)
	wantMode(t, path)
	_ = s.Close()
	secrets["the first SIP user's HA1 MD5"] = got.SIP.Users[0].HA1.MD5.Reveal()
	noSecretBytes(t, path, secrets)
}
