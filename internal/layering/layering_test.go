package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleFollowsImportRules lists every package of the module (with its
// test imports) through `go list` and checks the rules of DESIGN.md.
func TestModuleFollowsImportRules(t *testing.T) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		imps := append(append(p.Imports, p.TestImports...), p.XTestImports...)
		pkgs = append(pkgs, Package{ImportPath: p.ImportPath, Imports: imps})
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages; the check would prove nothing", len(pkgs))
	}
	for _, v := range Check(pkgs) {
		t.Error(v)
	}
}

func TestLayer(t *testing.T) {
	for path, want := range map[string]string{
		Module:                          ".",
		Module + "/siprec":              "siprec",
		Module + "/siprec/metadata":     "siprec",
		Module + "/siprec/srs":          "siprec/srs",
		Module + "/siprec/srs/internal": "siprec/srs",
		Module + "/siprec/srs/srsstate": "siprec/srs/srsstate",
		Module + "/siprec/srsx":         "siprec",
		Module + "/rbac/secret":         "rbac/secret",
		Module + "/rbac/memstore":       "rbac",
		Module + "/examples/gateway":    "examples",
		"github.com/emiago/sipgo":       "",
	} {
		if got := Layer(path); got != want {
			t.Errorf("Layer(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	m := Module + "/"
	for _, tc := range []struct {
		name string
		pkgs []Package
		want []string
	}{
		{"allowed imports", []Package{
			{m + "recording", []string{m + "media", m + "storage", m + "internal/uuid", "fmt"}},
			{m + "siprec/metadata", []string{m + "siprec", m + "sip", m + "media/sdp"}},
			{m + "examples/gateway", []string{m + "recording", m + "insights", m + "tenancy"}},
			{m + "insights", []string{m + "rbac"}},
			{m + "tenancy", []string{m + "storage/bucketconfig"}},
		}, nil},
		{"tenancy takes storage's config types only", []Package{{m + "tenancy/sqlitestore", []string{m + "storage", m + "storage/storagetest", m + "storage/bucketconfig"}}},
			[]string{m + "tenancy/sqlitestore>" + m + "storage", m + "tenancy/sqlitestore>" + m + "storage/storagetest"}},
		{"a prefix is a path element, not a string prefix", []Package{{m + "tenancy", []string{m + "storage/bucketconfigx"}}},
			[]string{m + "tenancy>" + m + "storage/bucketconfigx"}},
		{"media may not import recording", []Package{{m + "media", []string{m + "recording"}}}, []string{m + "media>" + m + "recording"}},
		{"nothing imports examples", []Package{{m + "siprec", []string{m + "examples/gateway"}}}, []string{m + "siprec>" + m + "examples/gateway"}},
		{"internal imports nothing above", []Package{{m + "internal/x", []string{m + "media", m + "internal/y"}}}, []string{m + "internal/x>" + m + "media"}},
		{"sub-package follows its top level", []Package{{m + "storage/s3", []string{m + "tenancy"}}}, []string{m + "storage/s3>" + m + "tenancy"}},
		{"unknown top level is a violation", []Package{{m + "util", []string{m + "internal/x"}}}, []string{m + "util>" + m + "internal/x"}},
		{"the admin API under tenancy takes its own rule", []Package{
			{m + "tenancy/admin", []string{m + "tenancy", m + "rbac", m + "storage", m + "insights", m + "tenancy/admin/memstore"}},
			{m + "tenancy/admin/sqlitestore", []string{m + "tenancy/admin", m + "internal/sqlitedb"}},
		}, nil},
		{"tenancy may not import the admin API, nor the admin API sip", []Package{
			{m + "tenancy/memstore", []string{m + "tenancy/admin"}},
			{m + "tenancy/admin", []string{m + "sip"}},
		}, []string{m + "tenancy/admin>" + m + "sip", m + "tenancy/memstore>" + m + "tenancy/admin"}},
		{"the PostgreSQL drivers take their parent and internal", []Package{
			{m + "tenancy/pgstore", []string{m + "tenancy", m + "tenancy/storetest", m + "internal/pgdb"}},
			{m + "rbac/pgstore", []string{m + "rbac", m + "internal/pgnotify"}},
			{m + "insights/pgindex", []string{m + "insights", m + "insights/driver", m + "internal/pgdb"}},
			{m + "tenancy/admin/pgstore", []string{m + "tenancy/admin", m + "tenancy/pgstore", m + "tenancy"}},
		}, nil},
		{"the PostgreSQL drivers take nothing else", []Package{
			{m + "rbac/pgstore", []string{m + "tenancy/pgstore"}},
			{m + "insights/pgindex", []string{m + "rbac"}},
			{m + "tenancy/pgstore", []string{m + "storage"}},
			{m + "tenancy/admin/pgstore", []string{m + "rbac/pgstore"}},
		}, []string{m + "insights/pgindex>" + m + "rbac", m + "rbac/pgstore>" + m + "tenancy/pgstore",
			m + "tenancy/admin/pgstore>" + m + "rbac/pgstore", m + "tenancy/pgstore>" + m + "storage"}},
		{"insights may not import tenancy", []Package{{m + "insights", []string{m + "tenancy"}}}, []string{m + "insights>" + m + "tenancy"}},
		{"the recording server builds on the layers below it", []Package{
			{m + "siprec/srs", []string{m + "siprec", m + "siprec/metadata", m + "recording", m + "recording/spool", m + "storage",
				m + "tenancy", m + "rbac", m + "insights", m + "media", m + "sip", m + "internal/sqlitedb"}},
			{m + "siprec/srs/x", []string{m + "siprec/srs", m + "insights/memindex"}},
			{m + "examples/gateway", []string{m + "siprec/srs"}},
		}, nil},
		{"siprec may not import the recording server above it", []Package{
			{m + "siprec", []string{m + "siprec/srs"}},
			{m + "siprec/metadata", []string{m + "siprec/srs/x"}},
		}, []string{m + "siprec>" + m + "siprec/srs", m + "siprec/metadata>" + m + "siprec/srs/x"}},
		{"siprec keeps its own rule beside siprec/srs", []Package{{m + "siprec", []string{m + "tenancy", m + "recording"}}},
			[]string{m + "siprec>" + m + "recording", m + "siprec>" + m + "tenancy"}},
		{"every layer may import the secret leaf", []Package{
			{m + "media", []string{m + "rbac/secret"}},
			{m + "storage/bucketconfig", []string{m + "rbac/secret"}},
			{m + "sip", []string{m + "rbac/secret"}},
			{m + "rbac", []string{m + "rbac/secret"}},
			{m + "internal/x", []string{m + "rbac/secret"}},
			{m + "rbac/secret", []string{"crypto/subtle", "log/slog", m + "rbac/secret"}},
		}, nil},
		{"tenancy, sip and storage may import the egress leaf, which imports only the standard library", []Package{
			{m + "tenancy", []string{m + "storage/egress"}},
			{m + "sip", []string{m + "storage/egress"}},
			{m + "storage", []string{m + "storage/egress"}},
			{m + "storage/egress", []string{"net", m + "storage", m + "internal/uuid"}},
		}, []string{m + "storage/egress>" + m + "internal/uuid", m + "storage/egress>" + m + "storage"}},
		{"the secret leaf imports only the standard library", []Package{
			{m + "rbac/secret", []string{m + "internal/uuid", m + "rbac", "github.com/emiago/sipgo", "fmt"}},
		}, []string{m + "rbac/secret>github.com/emiago/sipgo", m + "rbac/secret>" + m + "internal/uuid", m + "rbac/secret>" + m + "rbac"}},
		{"only the leaf is open to all, not the rest of rbac", []Package{
			{m + "media", []string{m + "rbac", m + "rbac/secretx", m + "rbac/memstore"}},
		}, []string{m + "media>" + m + "rbac", m + "media>" + m + "rbac/memstore", m + "media>" + m + "rbac/secretx"}},
		{"the recording server may not import examples", []Package{{m + "siprec/srs", []string{m + "examples/gateway"}}},
			[]string{m + "siprec/srs>" + m + "examples/gateway"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range Check(tc.pkgs) {
				got = append(got, v.From+">"+v.To)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("Check = %v, want %v", got, tc.want)
			}
		})
	}
}
