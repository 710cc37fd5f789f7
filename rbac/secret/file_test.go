package secret_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac/secret"
)

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir", "link-secret")
	s, err := secret.File(path, 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Reveal()) != 43 {
		t.Fatalf("made a secret of %d characters, want 43", len(s.Reveal()))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v, want 0600", fi.Mode(), err)
	}
	again, err := secret.File(path, 32)
	if err != nil || !again.Equal(s) {
		t.Fatalf("second read: %v, same secret %v", err, again.Equal(s))
	}
	if err := os.WriteFile(path, []byte("short-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = secret.File(path, 32)
	if !errors.Is(err, secret.ErrShortFile) || strings.Contains(err.Error(), "short-secret") {
		t.Fatalf("short file: %v, want ErrShortFile naming the path, not the secret", err)
	}
}

// A path that is a link to a missing file (a secret mount whose target is
// gone) is an error naming the path, not an endless retry: reading says it
// does not exist, making it says it exists.
func TestFileDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pepper")
	if err := os.Symlink(filepath.Join(dir, "..data", "pepper"), path); err != nil {
		t.Fatal(err)
	}
	s, err := secret.File(path, 16)
	if err == nil || s != "" || !strings.Contains(err.Error(), path) {
		t.Fatalf("File(dangling symlink) = %q, %v; want an error naming the path", s.Reveal(), err)
	}
}
