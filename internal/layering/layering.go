// Package layering holds the import rules of DESIGN.md as data and a checker
// for them; its test runs the checker over the whole module.
package layering

import (
	"fmt"
	"sort"
	"strings"
)

// Module is the module path the rules apply to.
const Module = "github.com/voicegw/voicegw"

// Allowed returns, for each layer, the packages of the module it may import
// besides itself (its own sub-packages included), as paths relative to the
// module: an entry allows that package and the packages under it ("storage"
// allows storage/bucketconfig; "storage/bucketconfig" allows only that one).
// "internal" is the internal/... tree; "*" means anything.
//
// A layer is a top-level package, or a sub-package that sits above its
// top level (siprec/srs, the recording server, builds on siprec and more):
// a package belongs to the longest layer its path starts with, and a layer
// inside another is not part of it (siprec may not import siprec/srs unless
// its rule says so). A top-level name missing here is a violation: new
// top-level packages must be added to DESIGN.md and here.
func Allowed() map[string][]string {
	return map[string][]string{
		"media":      {"internal"},
		"recording":  {"media", "storage", "internal"},
		"storage":    {"internal"},
		"sip":        {"internal"},
		"siprec":     {"media", "sip", "internal"},
		"siprec/srs": {"media", "sip", "siprec", "recording", "storage", "tenancy", "rbac", "insights", "internal"},
		"tenancy":    {"storage/bucketconfig", "internal"}, // storage's config types only
		"rbac":       {"internal"},
		"insights":   {"rbac", "internal"},
		"internal":   {"internal"},
		"examples":   {"*"},
	}
}

// Layer returns the layer (a key of Allowed) a package inside the module
// belongs to: the longest key its path relative to the module is or starts
// with, else its top-level name. It returns "" for a path outside the
// module, "." for the module root.
func Layer(importPath string) string {
	top := TopLevel(importPath)
	if top == "" || top == "." {
		return top
	}
	rel := strings.TrimPrefix(importPath, Module+"/")
	best := top
	for k := range Allowed() {
		if len(k) > len(best) && (rel == k || strings.HasPrefix(rel, k+"/")) {
			best = k
		}
	}
	return best
}

// Package is what the checker needs to know of one package.
type Package struct {
	ImportPath string
	// Imports holds every import of the package and of its tests.
	Imports []string
}

// Violation is one import that breaks the rules.
type Violation struct {
	From, To string
}

// String says which import breaks the rules.
func (v Violation) String() string {
	return fmt.Sprintf("%s imports %s, which DESIGN.md does not allow", v.From, v.To)
}

// TopLevel returns the first path element of a package inside the module, or
// "" when the path is outside the module. The module root itself is ".".
func TopLevel(importPath string) string {
	if importPath == Module {
		return "."
	}
	rest, ok := strings.CutPrefix(importPath, Module+"/")
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(rest, "/")
	return top
}

// Check returns every import among pkgs that breaks the rules, sorted.
func Check(pkgs []Package) []Violation {
	var out []Violation
	rules := Allowed()
	for _, p := range pkgs {
		from := Layer(p.ImportPath)
		if from == "" {
			continue
		}
		allowed, known := rules[from]
		for _, imp := range p.Imports {
			to := Layer(imp)
			if to == "" || (known && to == from) {
				continue
			}
			if !known || !permits(allowed, strings.TrimPrefix(imp, Module+"/")) {
				out = append(out, Violation{From: p.ImportPath, To: imp})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		return out[i].To < out[j].To
	})
	return out
}

// permits reports whether rel, an import path relative to the module, is
// one of allowed or under one of them.
func permits(allowed []string, rel string) bool {
	for _, a := range allowed {
		if a == "*" || rel == a || strings.HasPrefix(rel, a+"/") {
			return true
		}
	}
	return false
}
