package portability

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleBuildsElsewhere builds every package of the module, without
// cgo, for a macOS, a Windows, a 32-bit Linux and a BSD target: the
// non-Linux files of a package (a stub per Linux-only piece), the 32-bit
// system call numbers and the BSDs' int64 rlimits are otherwise never
// compiled here. -short skips it.
func TestModuleBuildsElsewhere(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no cross builds")
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	// go test caches a passing result by the files the test itself
	// consulted: stat every Go file, so that an edit anywhere runs it again
	// (the builds below read them in other processes, which it cannot see).
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".s") || d.Name() == "go.mod") {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"darwin/arm64", "windows/amd64", "linux/386", "freebsd/amd64"} {
		goos, goarch, _ := strings.Cut(target, "/")
		cmd := exec.Command("go", "build", "./...")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=%s GOARCH=%s go build ./...: %v\n%s", goos, goarch, err, out)
		}
	}
}
