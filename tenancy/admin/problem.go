package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ProblemContentType is the media type of every error body (RFC 9457).
const ProblemContentType = "application/problem+json"

// ProblemTypePrefix starts the type URI of every problem document the
// handler writes; the rest is the problem's Code ("urn:voicegw:problem:invalid").
const ProblemTypePrefix = "urn:voicegw:problem:"

// Errors a client matches a *Problem against with errors.Is, one per status.
var (
	// ErrBadRequest: 400, the request is malformed (not JSON, a field of the
	// wrong type, an unknown field, a bad query parameter).
	ErrBadRequest = errors.New("admin: bad request")
	// ErrUnauthorized: 401, no API key or a key that is unknown, revoked or
	// expired.
	ErrUnauthorized = errors.New("admin: unauthorized")
	// ErrForbidden: 403, the caller's role or scope does not allow it.
	ErrForbidden = errors.New("admin: forbidden")
	// ErrPreconditionFailed: 412, If-Match names another revision.
	ErrPreconditionFailed = errors.New("admin: precondition failed (the resource changed)")
	// ErrPreconditionRequired: 428, the handler requires If-Match on
	// updates (Config.RequireIfMatch) and the request had none.
	ErrPreconditionRequired = errors.New("admin: precondition required (send If-Match)")
	// ErrUnavailable: 503, a store the handler needs did not answer.
	ErrUnavailable = errors.New("admin: service unavailable")
	// ErrUnsupported: 405 or 415, a method or content type the route does
	// not take.
	ErrUnsupported = errors.New("admin: unsupported method or media type")
)

// Problem codes: the last part of Problem.Type.
const (
	CodeBadRequest           = "bad_request"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodeForbiddenField       = "forbidden_field"
	CodeNotFound             = "not_found"
	CodeNoRoute              = "no_route"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeUnsupportedMedia     = "unsupported_media_type"
	CodeTooLarge             = "too_large"
	CodeExists               = "exists"
	CodeInUse                = "in_use"
	CodeConflict             = "conflict"
	CodePreconditionFailed   = "precondition_failed"
	CodePreconditionRequired = "precondition_required"
	CodeInvalid              = "invalid"
	CodeTooManyRequests      = "too_many_requests"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
)

// Problem is an RFC 9457 problem document: every error the handler answers,
// and the error the Client returns for it. Errors lists the fields at fault
// (the "errors" extension member), each named by its path in the request
// body ("recording.bucket.s3.region", "sip.users[0].password").
type Problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Code     string         `json:"code"`
	Errors   []FieldProblem `json:"errors,omitempty"`
}

// FieldProblem is one field at fault.
type FieldProblem struct {
	// Field is the field's path in the request body (or the query
	// parameter's name).
	Field string `json:"field"`
	// Detail says what is wrong with it.
	Detail string `json:"detail"`
	// Value is the refused value; never a secret.
	Value string `json:"value,omitempty"`
}

// newProblem builds a problem of status with code and detail.
func newProblem(status int, code, detail string, fields ...FieldProblem) *Problem {
	return &Problem{Type: ProblemTypePrefix + code, Title: http.StatusText(status), Status: status, Code: code, Detail: detail, Errors: fields}
}

// Error implements error: the status, the detail and the fields.
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "admin: %d %s", p.Status, p.Title)
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	for i, f := range p.Errors {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Detail)
		if i == len(p.Errors)-1 {
			b.WriteString(")")
		}
	}
	return b.String()
}

// Unwrap returns the sentinel of the status, so errors.Is(err, ErrNotFound)
// works on what the Client returns.
func (p *Problem) Unwrap() error {
	switch p.Status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return ErrBadRequest
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType:
		return ErrUnsupported
	case http.StatusConflict:
		if p.Code == CodeExists {
			return ErrExists
		}
		return ErrConflict
	case http.StatusPreconditionFailed:
		return ErrPreconditionFailed
	case http.StatusUnprocessableEntity:
		return ErrInvalid
	case http.StatusPreconditionRequired:
		return ErrPreconditionRequired
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	}
	return nil
}

// Field returns the problem of the field named path, if listed.
func (p Problem) Field(path string) (FieldProblem, bool) {
	for _, f := range p.Errors {
		if f.Field == path {
			return f, true
		}
	}
	return FieldProblem{}, false
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"type":"` + ProblemTypePrefix + CodeInternal + `","title":"Internal Server Error","status":500,"code":"internal"}`)
		p.Status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(b, '\n'))
}
