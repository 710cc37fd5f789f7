package console

import (
	"encoding/json"
	"fmt"

	"github.com/voicegw/voicegw/rbac"
)

// fieldScopes are the narrowest scopes allowed to set some fields, as the
// admin API's OpenAPI document marks them (x-voicegw-scope), by schema and
// property: {"Account": {"licensed_sessions": admin}}. The console reads them
// from the API rather than keeping its own table, to show those fields
// read-only to narrower members; the API refuses them anyway.
type fieldScopes map[string]map[string]rbac.Scope

// parseFieldScopes reads x-voicegw-scope marks of the document's schemas.
func parseFieldScopes(doc []byte) (fieldScopes, error) {
	var d struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Scope string `json:"x-voicegw-scope"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("console: the admin API's OpenAPI document: %w", err)
	}
	out := fieldScopes{}
	for name, s := range d.Components.Schemas {
		for prop, p := range s.Properties {
			if p.Scope == "" {
				continue
			}
			sc, err := rbac.ParseScope(p.Scope)
			if err != nil {
				return nil, fmt.Errorf("console: x-voicegw-scope of %s.%s: %w", name, prop, err)
			}
			if out[name] == nil {
				out[name] = map[string]rbac.Scope{}
			}
			out[name][prop] = sc
		}
	}
	return out, nil
}

// editable reports whether a member of scope may set schema.prop.
func (f fieldScopes) editable(scope rbac.Scope, schema, prop string) bool {
	need, ok := f[schema][prop]
	return !ok || scope >= need
}
