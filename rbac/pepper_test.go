package rbac_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/memstore"
)

// TestPepperFile: the first call makes a pepper (0600, in a 0700
// directory), later calls read the same one, so keys made before a restart
// still verify; a file too short to be a pepper is refused, not replaced.
func TestPepperFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "api-key-pepper")
	p1, err := rbac.PepperFile(path)
	if err != nil || len(p1.Reveal()) < rbac.MinPepperLen {
		t.Fatalf("made %d characters, %v", len(p1.Reveal()), err)
	}
	for name, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, %v; want mode %v", name, fi.Mode().Perm(), err, want)
		}
	}
	ctx := context.Background()
	ks := rbac.NewKeyStore(memstore.NewDriver(), &rbac.KeyStoreOptions{Pepper: p1})
	ck, err := ks.Create(ctx, rbac.NewAPIKey{Name: "k", ServiceType: "insights", Account: "a", CreatorEmail: "ops@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ks.Key(ctx, ck.ID)
	p2, err := rbac.PepperFile(path)
	if err != nil || !p2.Equal(p1) {
		t.Fatalf("read again: %v", err)
	}
	if rbac.NewKeyStore(memstore.NewDriver(), &rbac.KeyStoreOptions{Pepper: p2}).HashSecret(ck.Secret.Reveal()) != k.Hash {
		t.Fatal("the pepper read again hashes keys differently")
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.PepperFile(path); !errors.Is(err, rbac.ErrBadPepper) {
		t.Fatalf("short file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "short\n" {
		t.Fatal("a bad pepper file was replaced")
	}
}
