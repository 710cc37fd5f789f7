package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// readBody reads the request body (at most MaxBodyBytes) after checking its
// media type: application/json, or application/merge-patch+json for PATCH.
// An empty body reads as nil when allowEmpty.
func (rc *reqCtx) readBody(allowEmpty bool) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(rc.r.Body, rc.h.cfg.MaxBodyBytes+1))
	if err != nil {
		rc.badRequest("reading the request body: " + err.Error())
		return nil, false
	}
	if int64(len(b)) > rc.h.cfg.MaxBodyBytes {
		rc.problem(newProblem(http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the request body exceeds %d bytes", rc.h.cfg.MaxBodyBytes)), nil)
		return nil, false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if allowEmpty {
			return nil, true
		}
		rc.badRequest("the request needs a JSON body")
		return nil, false
	}
	ct := rc.r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !(mt == "application/json" || (mt == "application/merge-patch+json" && rc.r.Method == http.MethodPatch)) {
		want := "application/json"
		if rc.r.Method == http.MethodPatch {
			want += " or application/merge-patch+json"
		}
		rc.problem(newProblem(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type "+fmt.Sprintf("%q", ct)+" is not accepted; send "+want), nil)
		return nil, false
	}
	return b, true
}

// decodeStrict decodes b into v, refusing unknown fields and trailing data;
// the problem names the field at fault.
func (rc *reqCtx) decodeStrict(b []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON value")
	}
	if err == nil {
		return true
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(body)"
		}
		rc.badRequest("a field has the wrong type", FieldProblem{Field: field, Detail: "want " + jsonKind(te.Type.String()) + ", got " + te.Value})
	case errors.As(err, &se):
		rc.badRequest(fmt.Sprintf("the body is not valid JSON (at byte %d): %v", se.Offset, se))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		rc.badRequest("the body has a field this resource does not have", FieldProblem{Field: name, Detail: "unknown field"})
	default:
		// Errors of a field's own UnmarshalJSON/UnmarshalText (an unknown
		// scope, entity or privilege name) say what is wrong.
		rc.badRequest("the body cannot be read: " + err.Error())
	}
	return false
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "an object or string"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "a boolean"
	case goType == "string":
		return "a string"
	}
	return goType
}

// mergePatch applies an RFC 7396 JSON merge patch to the JSON document cur
// and returns the result: members of the patch replace those of cur, null
// removes them, objects merge recursively, anything else (arrays included)
// replaces.
func mergePatch(cur, patch []byte) ([]byte, error) {
	var c, p any
	if err := json.Unmarshal(cur, &c); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	return json.Marshal(mergeValue(c, p))
}

func mergeValue(cur, patch any) any {
	po, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	co, ok := cur.(map[string]any)
	if !ok {
		co = map[string]any{}
	}
	for k, v := range po {
		if v == nil {
			delete(co, k)
			continue
		}
		co[k] = mergeValue(co[k], v)
	}
	return co
}

// patchInto applies the request's merge patch to the JSON view of cur and
// decodes the result into next (strictly). readOnly lists top-level members
// the patch may not change (they are reset from cur: their values in the
// patch are ignored). It answers the problem and returns false on failure.
func (rc *reqCtx) patchInto(cur, next any, readOnly ...string) bool {
	body, ok := rc.readBody(false)
	if !ok {
		return false
	}
	var top any
	if err := json.Unmarshal(body, &top); err != nil {
		rc.badRequest("the body is not valid JSON: " + err.Error())
		return false
	}
	obj, isObj := top.(map[string]any)
	if !isObj {
		rc.badRequest("a merge patch (RFC 7396) must be a JSON object")
		return false
	}
	curJSON, err := json.Marshal(cur)
	if err != nil {
		rc.problem(newProblem(http.StatusInternalServerError, CodeInternal, "internal error"), err)
		return false
	}
	for _, f := range readOnly {
		delete(obj, f) // read-only members are ignored
	}
	patch, _ := json.Marshal(obj)
	merged, err := mergePatch(curJSON, patch)
	if err != nil {
		rc.badRequest("the body is not valid JSON: " + err.Error())
		return false
	}
	return rc.decodeStrict(merged, next)
}
