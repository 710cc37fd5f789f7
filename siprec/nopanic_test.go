package siprec

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// The library does not panic (the project's rule for library code): no
// non-test file of the package, or of siprec/metadata, calls panic, and no
// exported function is a Must helper (those live in the tests).
func TestNoPanicInLibrary(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join("metadata", "*.go"))
	files = append(files, more...)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "panic" {
					t.Errorf("%s: library code calls panic", fset.Position(n.Pos()))
				}
			case *ast.FuncDecl:
				if n.Name.IsExported() && strings.HasPrefix(n.Name.Name, "Must") {
					t.Errorf("%s: %s is exported library API that panics by convention; keep Must helpers in tests", fset.Position(n.Pos()), n.Name.Name)
				}
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("checked only %d files: run from the package directory", checked)
	}
}

// Every exported field of an exported struct type of the package has a doc
// comment (above it, or at the end of its line).
func TestExportedFieldsDocumented(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	fields := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, spec := range g.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok || !ts.Name.IsExported() {
					continue
				}
				for _, fd := range st.Fields.List {
					for _, n := range fd.Names {
						if !n.IsExported() {
							continue
						}
						fields++
						if fd.Doc == nil && fd.Comment == nil {
							t.Errorf("%s: %s.%s has no doc comment", fset.Position(n.Pos()), ts.Name.Name, n.Name)
						}
					}
				}
			}
		}
	}
	if fields < 20 {
		t.Fatalf("checked only %d fields: run from the package directory", fields)
	}
}
