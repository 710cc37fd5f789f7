package admin_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/tenancy/admin"
)

type openAPIOp struct {
	Privilege string `yaml:"x-voicegw-privilege"`
	Security  *[]any `yaml:"security"`
}

func loadOpenAPI(t *testing.T) map[string]map[string]openAPIOp {
	t.Helper()
	var doc struct {
		OpenAPI string                          `yaml:"openapi"`
		Paths   map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(admin.OpenAPIYAML, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	out := map[string]map[string]openAPIOp{}
	for path, item := range doc.Paths {
		for method, node := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
			default:
				continue
			}
			var op openAPIOp
			if err := node.Decode(&op); err != nil {
				t.Fatal(err)
			}
			if out[path] == nil {
				out[path] = map[string]openAPIOp{}
			}
			out[path][strings.ToUpper(method)] = op
		}
	}
	return out
}

// TestOpenAPIMatchesRoutes: every route is documented with the privilege it
// checks, and every documented operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	var routes, documented []string
	for _, r := range admin.Routes() {
		key := r.Method + " " + r.Path
		routes = append(routes, key)
		op, ok := doc[r.Path][r.Method]
		if !ok {
			t.Errorf("route %s is not in openapi.yaml", key)
			continue
		}
		want := ""
		if r.Action != 0 {
			want = r.Entity.String() + "." + r.Action.String()
		}
		if op.Privilege != want {
			t.Errorf("%s: openapi.yaml says privilege %q, the handler checks %q", key, op.Privilege, want)
		}
		public := op.Security != nil && len(*op.Security) == 0
		if public != r.Public {
			t.Errorf("%s: openapi.yaml public=%v, handler public=%v", key, public, r.Public)
		}
	}
	for path, ops := range doc {
		for method := range ops {
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(routes)
	sort.Strings(documented)
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.yaml documents %s, which is not a route", d)
		}
	}
}

// TestOpenAPIRoutesServed sends every documented operation to the handler
// over HTTP (with placeholder path parameters) and checks the router takes
// it: no answer says "no such endpoint" or "method not allowed".
func TestOpenAPIRoutesServed(t *testing.T) {
	e := newEnv(t)
	for path, ops := range loadOpenAPI(t) {
		for method := range ops {
			p := strings.NewReplacer("{sid}", "00000000-0000-4000-8000-000000000000", "{app}", "00000000-0000-4000-8000-000000000001",
				"{id}", "x", "{username}", "u").Replace(strings.TrimPrefix(path, admin.BasePath))
			r := e.do(method, p, e.admin, nil)
			if r.status == http.StatusMethodNotAllowed || r.status == http.StatusNotFound && strings.Contains(string(r.body), `"code":"no_route"`) {
				t.Errorf("%s %s: %d %s", method, path, r.status, r.body)
			}
		}
	}
	// And an undocumented one is refused as such.
	r := e.do(http.MethodGet, "/nowhere", e.admin, nil).must(t, http.StatusNotFound)
	if p := r.problem(t); p.Code != admin.CodeNoRoute {
		t.Fatalf("unknown path: %+v", p)
	}
	r = e.do(http.MethodPut, "/accounts", e.admin, nil).must(t, http.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); allow != "GET, POST" {
		t.Fatalf("Allow %q", allow)
	}
}

// TestOpenAPIServed: both forms at the well-known paths, without a key, and
// the JSON one is the YAML one.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	j := e.do(http.MethodGet, "/openapi.json", "", nil).must(t, http.StatusOK)
	y := e.do(http.MethodGet, "/openapi.yaml", "", nil).must(t, http.StatusOK)
	if string(y.body) != string(admin.OpenAPIYAML) {
		t.Fatal("openapi.yaml served differs from the embedded document")
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(j.body, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(y.body, &fromYAML); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromJSON)
	b, _ := json.Marshal(fromYAML)
	if string(a) != string(b) {
		t.Fatal("openapi.json and openapi.yaml differ")
	}
}

// TestOpenAPIValid checks the document against the OpenAPI 3.1 schema with
// an independent validator (openapi-spec-validator, Python).
func TestOpenAPIValid(t *testing.T) {
	testenv.Short(t, "runs an external validator (about 15 s)")
	py := ""
	for _, cand := range []string{"python3", "python3.11", "/usr/bin/python3"} {
		if exec.Command(cand, "-c", "import openapi_spec_validator").Run() == nil {
			py = cand
			break
		}
	}
	if py == "" {
		testenv.Missing(t, "python module openapi_spec_validator", "pip install openapi-spec-validator")
	}
	f := filepath.Join(t.TempDir(), "openapi.yaml")
	if err := os.WriteFile(f, admin.OpenAPIYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-m", "openapi_spec_validator", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("openapi-spec-validator: %v\n%s", err, out)
	}
}
