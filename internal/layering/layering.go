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

// Allowed returns, for each top-level package, the top-level packages of the
// module it may import besides itself (its own sub-packages included).
// "internal" is the internal/... tree; "*" means anything. A top-level name
// missing here is a violation: new top-level packages must be added to
// DESIGN.md and here.
func Allowed() map[string][]string {
	return map[string][]string{
		"media":     {"internal"},
		"recording": {"media", "storage", "internal"},
		"storage":   {"internal"},
		"sip":       {"internal"},
		"siprec":    {"media", "sip", "internal"},
		"tenancy":   {"storage", "internal"},
		"rbac":      {"internal"},
		"insights":  {"rbac", "internal"},
		"internal":  {"internal"},
		"examples":  {"*"},
	}
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
		from := TopLevel(p.ImportPath)
		if from == "" {
			continue
		}
		allowed, known := rules[from]
		for _, imp := range p.Imports {
			to := TopLevel(imp)
			if to == "" || (known && to == from) {
				continue
			}
			if !known || !permits(allowed, to) {
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

func permits(allowed []string, to string) bool {
	for _, a := range allowed {
		if a == "*" || a == to {
			return true
		}
	}
	return false
}
