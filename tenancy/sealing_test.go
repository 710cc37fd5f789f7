package tenancy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/voicegw/voicegw/tenancy"
)

func TestSealingKey(t *testing.T) {
	k := tenancy.NewRandomSealingKey()
	secret := []byte("whsec_the_webhook_secret_0123456789")
	sealed := k.Seal(secret, "tenancy_accounts.webhook_secret/acct-1")
	if bytes.Contains(sealed, secret) {
		t.Fatal("the sealed value holds the secret")
	}
	if again := k.Seal(secret, "tenancy_accounts.webhook_secret/acct-1"); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal (the nonce repeats)")
	}
	plain, err := k.Open(sealed, "tenancy_accounts.webhook_secret/acct-1")
	if err != nil || !bytes.Equal(plain, secret) {
		t.Fatalf("Open = %q, %v", plain, err)
	}
	altered := bytes.Clone(sealed)
	altered[len(altered)-1] ^= 1
	for _, tc := range []struct {
		name   string
		key    *tenancy.SealingKey
		sealed []byte
		where  string
	}{
		{"another key", tenancy.NewRandomSealingKey(), sealed, "tenancy_accounts.webhook_secret/acct-1"},
		{"another account", k, sealed, "tenancy_accounts.webhook_secret/acct-2"},
		{"another column", k, sealed, "tenancy_accounts.sip/acct-1"},
		{"altered", k, altered, "tenancy_accounts.webhook_secret/acct-1"},
		{"truncated", k, sealed[:10], "tenancy_accounts.webhook_secret/acct-1"},
		{"empty", k, nil, "tenancy_accounts.webhook_secret/acct-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.key.Open(tc.sealed, tc.where)
			if !errors.Is(err, tenancy.ErrWrongSealingKey) || strings.Contains(err.Error(), string(secret)) {
				t.Fatalf("Open = %v, want ErrWrongSealingKey without the secret", err)
			}
		})
	}
	if _, err := tenancy.NewRandomSealingKey().Open(sealed, "x"); err == nil || !strings.Contains(err.Error(), k.ID()) {
		t.Fatalf("a value of another key: the error %v does not name the key that sealed it", err)
	}
	if _, err := tenancy.NewSealingKey(make([]byte, 16)); !errors.Is(err, tenancy.ErrWrongSealingKey) {
		t.Fatalf("a 16-byte key: %v", err)
	}
	if _, err := tenancy.ParseSealingKey("bm90IGEga2V5"); !errors.Is(err, tenancy.ErrWrongSealingKey) {
		t.Fatalf("ParseSealingKey of a short value: %v", err)
	}
}

// TestSealingKeyFile: a key file is made 0600 under a 0755 directory with a
// 022 umask, never overwritten, read back as the same key, narrowed to
// 0600 when found wider, and a missing one is ErrNoSealingKey.
func TestSealingKeyFile(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tenancy.key")
	if _, err := tenancy.LoadSealingKey(path); !errors.Is(err, tenancy.ErrNoSealingKey) || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadSealingKey of a missing file = %v", err)
	}
	k, err := tenancy.CreateSealingKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != tenancy.SealingKeyFileMode {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	if _, err := tenancy.CreateSealingKey(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateSealingKey over an existing file = %v, want fs.ErrExist", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := tenancy.LoadSealingKey(path)
	if err != nil || back.ID() != k.ID() {
		t.Fatalf("LoadSealingKey = %v, %v", back, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != tenancy.SealingKeyFileMode {
		t.Fatalf("a world-readable key file was left %v", fi.Mode().Perm())
	}
	plain, err := back.Open(k.Seal([]byte("x"), "w"), "w")
	if err != nil || string(plain) != "x" {
		t.Fatalf("the key read back does not open what the key made sealed: %v", err)
	}
}

func ExampleSealingKey() {
	dir, err := os.MkdirTemp("", "sealing-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	// Made once, mode 0600, kept away from the database (or give the 32
	// bytes of a secrets manager to NewSealingKey).
	key, err := tenancy.CreateSealingKey(filepath.Join(dir, "tenancy.key"))
	if err != nil {
		fmt.Println(err)
		return
	}
	sealed := key.Seal([]byte("whsec_example_secret_0123456789"), "tenancy_accounts.webhook_secret/AC1")
	plain, err := key.Open(sealed, "tenancy_accounts.webhook_secret/AC1")
	fmt.Println(string(plain), err)
	_, err = key.Open(sealed, "tenancy_accounts.webhook_secret/AC2") // moved to another account
	fmt.Println(errors.Is(err, tenancy.ErrWrongSealingKey))
	// Output:
	// whsec_example_secret_0123456789 <nil>
	// true
}
