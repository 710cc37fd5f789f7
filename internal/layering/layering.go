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

// Allowed returns, for each top-level package, the packages of the module it
// may import besides itself (its own sub-packages included), as paths
// relative to the module: an entry allows that package and the packages
// under it ("storage" allows storage/bucketconfig; "storage/bucketconfig"
// allows only that one). "internal" is the internal/... tree; "*" means
// anything. A top-level name missing here is a violation: new top-level
// packages must be added to DESIGN.md and here.
//
// A key may also be a sub-package ("tenancy/admin", the top floor of
// DESIGN.md living under a lower package): its rule then governs it and the
// packages under it instead of its top level's. The most specific key wins,
// and packages governed by different keys are checked against each other
// like different top levels (tenancy may not import tenancy/admin, siprec
// may not import siprec/srs).
func Allowed() map[string][]string {
	return map[string][]string{
		"media":     {"internal"},
		"recording": {"media", "storage", "internal"},
		"storage":   {"internal"},
		"sip":       {"internal"},
		"siprec":    {"media", "sip", "internal"},
		"tenancy":   {"storage/bucketconfig", "internal"}, // storage's config types only
		"rbac":      {"internal"},
		"insights":  {"rbac", "internal"},
		// The top floor of DESIGN.md: the admin API lives under tenancy, the
		// recording server under siprec.
		"tenancy/admin": {"tenancy", "rbac", "storage", "insights", "internal"},
		// The console: built only on the admin and Insights APIs (their
		// types come from tenancy, rbac and storage's bucket configuration);
		// its tests use storage's test servers.
		"tenancy/admin/console": {"tenancy/admin", "insights", "tenancy", "rbac", "storage/bucketconfig", "storage/storagetest", "internal"},
		"siprec/srs":            {"media", "sip", "siprec", "recording", "storage", "tenancy", "rbac", "insights", "internal"},
		// The recording server's Prometheus metrics: above siprec/srs (it
		// observes the Server), a layer of its own so that siprec/srs, and
		// every program that embeds it, needs no metrics library; its tests
		// run a real Server (accounts, index and bucket of the lower floors).
		"siprec/srs/srsprom": {"siprec/srs", "media", "sip", "siprec", "recording", "storage", "tenancy", "rbac", "insights", "internal"},
		// The state a recording gateway opens (srsstate): every store of
		// tenancy, rbac, insights and tenancy/admin on SQLite or PostgreSQL,
		// and siprec/srs's journal (the demo's console member through
		// tenancy/admin/console.FirstSignIn); above them all, so none may
		// import it.
		"siprec/srs/srsstate": {"siprec/srs", "tenancy", "rbac", "insights", "storage/bucketconfig", "internal"},
		// The PostgreSQL drivers (DESIGN.md): their parent package and
		// internal; the admin API's shares the sealing key of tenancy's.
		"tenancy/pgstore":       {"tenancy", "internal"},
		"rbac/pgstore":          {"rbac", "internal"},
		"insights/pgindex":      {"insights", "internal"},
		"tenancy/admin/pgstore": {"tenancy/admin", "tenancy/pgstore", "tenancy", "internal"},
		"internal":              {"internal"},
		"examples":              {"*"},
		// The public leaves (see Leaves): nothing of the module.
		"rbac/secret":    {},
		"storage/egress": {},
		"sip/connlimit":  {},
	}
}

// Leaves returns the public leaf packages, relative to the module: every
// package of the module may import them (media, storage and sip included,
// whatever their rule in Allowed says), and they import only the standard
// library, nothing of the module and no other module. rbac/secret, the one
// secret type, sits under rbac because secrets are what
// access control is made of, and is a leaf so that storage, sip and media use
// it without depending on rbac. storage/egress, the outbound address policy
// against server-side request forgery, sits under storage (buckets are the
// first endpoints tenants choose) and is a leaf so that tenancy's webhooks
// and every layer above use the same one. sip/connlimit, the connection
// caps in total and per source, sits under sip (whose TCP listener counts
// with it) and is a leaf so that any layer's HTTP server (the admin and
// Insights APIs of a gateway) caps its connections the same way.
func Leaves() []string { return []string{"rbac/secret", "storage/egress", "sip/connlimit"} }

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
	leaves := Leaves()
	for _, p := range pkgs {
		from := ruleKey(rules, p.ImportPath)
		if from == "" {
			continue
		}
		allowed, known := rules[from]
		leaf := permits(leaves, strings.TrimPrefix(p.ImportPath, Module+"/"))
		for _, imp := range p.Imports {
			to := ruleKey(rules, imp)
			if leaf && to == "" && !isStd(imp) {
				out = append(out, Violation{From: p.ImportPath, To: imp})
				continue
			}
			if to == "" || (known && to == from) {
				continue
			}
			if permits(leaves, strings.TrimPrefix(imp, Module+"/")) {
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

// Layer returns the key of Allowed that governs a package of the module
// (see ruleKey): "siprec/srs" for siprec/srs/x, "siprec" for
// siprec/metadata; "" outside the module, "." for its root.
func Layer(importPath string) string { return ruleKey(Allowed(), importPath) }

// ruleKey returns the key of rules that governs importPath: the longest
// key that is the package's path relative to the module or a path prefix of
// it, else its top level; "" outside the module.
func ruleKey(rules map[string][]string, importPath string) string {
	top := TopLevel(importPath)
	if top == "" || top == "." {
		return top
	}
	rel := strings.TrimPrefix(importPath, Module+"/")
	best := top
	for k := range rules {
		if len(k) > len(best) && (rel == k || strings.HasPrefix(rel, k+"/")) {
			best = k
		}
	}
	return best
}

// isStd reports whether an import path outside the module is of the
// standard library: its first element has no dot.
func isStd(importPath string) bool {
	first, _, _ := strings.Cut(importPath, "/")
	return !strings.Contains(first, ".")
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
