package admin

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"gopkg.in/yaml.v3"
)

// OpenAPIYAML is the OpenAPI 3.1 document of the API, as checked in
// (openapi.yaml). The handler serves it at BasePath+"/openapi.yaml" and, as
// JSON, at BasePath+"/openapi.json", without authentication.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(OpenAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("admin: openapi.yaml: %w", err)
	}
	return json.Marshal(doc)
})

// OpenAPIJSON returns the OpenAPI document as JSON.
func OpenAPIJSON() ([]byte, error) { return openAPIJSON() }

func (h *Handler) openAPIJSON(rc *reqCtx) {
	b, err := openAPIJSON()
	if err != nil {
		rc.problem(newProblem(http.StatusInternalServerError, CodeInternal, "internal error"), err)
		return
	}
	rc.done = true
	rc.w.Header().Set("Content-Type", "application/json")
	rc.w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = rc.w.Write(b)
}

func (h *Handler) openAPIYAML(rc *reqCtx) {
	rc.done = true
	rc.w.Header().Set("Content-Type", "application/yaml")
	rc.w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = rc.w.Write(OpenAPIYAML)
}
