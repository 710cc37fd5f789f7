package srs

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestOTLPConfigValidate: an endpoint that is not an http(s) URL with a
// host is refused with ErrBadOTLPEndpoint, naming it.
func TestOTLPConfigValidate(t *testing.T) {
	for _, bad := range []string{"", "collector:4318", "ftp://collector/v1/traces", "http:///v1/traces"} {
		err := OTLPConfig{Endpoint: bad}.Validate()
		var oe *OTLPEndpointError
		if !errors.Is(err, ErrBadOTLPEndpoint) || !strings.Contains(err.Error(), `"`+bad+`"`) || !errors.As(err, &oe) || oe.Endpoint != bad || oe.Reason == "" {
			t.Errorf("Validate(%q) = %v, want ErrBadOTLPEndpoint naming it", bad, err)
		}
		if _, err := NewOTLPTracerProvider(t.Context(), OTLPConfig{Endpoint: bad}); !errors.Is(err, ErrBadOTLPEndpoint) {
			t.Errorf("NewOTLPTracerProvider(%q) = %v, want ErrBadOTLPEndpoint", bad, err)
		}
	}
	if err := (OTLPConfig{Endpoint: "https://collector:4318/v1/traces"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestOTLPEndpointErrorRedacted: an endpoint carrying credentials (a
// password in a URL's user information, a token before an '@' in a value
// that is not a URL with an authority, a query token) is refused without
// them, in Error() and in the Endpoint field, still naming the host.
func TestOTLPEndpointErrorRedacted(t *testing.T) {
	const tok = "tok3n"
	for _, tc := range []struct{ endpoint, want string }{
		{"http://u:" + tok + "@/v1", "http:///v1"},
		{"user:" + tok + "@collector:4318", "collector:4318"},
		{"ftp://u:" + tok + "@collector/v1/traces", "ftp://collector/v1/traces"},
		{"ftp://collector/v1/traces?token=" + tok, "ftp://collector/v1/traces?REDACTED"},
		{"http://u:" + tok + "@coll ector:4318/v1", "coll ector:4318/v1"},
		{"u:" + tok + "@collector:4318?token=" + tok, "collector:4318"},
	} {
		err := OTLPConfig{Endpoint: tc.endpoint}.Validate()
		var oe *OTLPEndpointError
		if !errors.As(err, &oe) || !errors.Is(err, ErrBadOTLPEndpoint) {
			t.Errorf("Validate(%q) = %v, want an *OTLPEndpointError", tc.endpoint, err)
			continue
		}
		if strings.Contains(err.Error(), tok) || strings.Contains(oe.Endpoint, tok) || oe.Endpoint != tc.want {
			t.Errorf("Validate(%q): Error() %q, Endpoint %q; want Endpoint %q and no %q", tc.endpoint, err, oe.Endpoint, tc.want, tok)
		}
		if _, err := NewOTLPTracerProvider(t.Context(), OTLPConfig{Endpoint: tc.endpoint}); err == nil || strings.Contains(err.Error(), tok) {
			t.Errorf("NewOTLPTracerProvider(%q) = %v, want an error without %q", tc.endpoint, err, tok)
		}
	}
}

// TestNewOTLPTracerProvider: a span ended is exported, at Shutdown at the
// latest, to the endpoint over OTLP/HTTP, with the service's name and
// version.
func TestNewOTLPTracerProvider(t *testing.T) {
	got := make(chan *coltracepb.ExportTraceServiceRequest, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var msg coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &msg); err != nil || req.URL.Path != "/v1/traces" {
			t.Errorf("OTLP request %s: %v", req.URL.Path, err)
		}
		got <- &msg
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	tp, err := NewOTLPTracerProvider(t.Context(), OTLPConfig{Endpoint: srv.URL + "/v1/traces", ServiceName: "gw", ServiceVersion: "v9"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := newTracer(tp).Start(t.Context(), "srs.session")
	span.End()
	if err := tp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	msg := <-got
	if len(msg.ResourceSpans) != 1 || len(msg.ResourceSpans[0].ScopeSpans) != 1 || msg.ResourceSpans[0].ScopeSpans[0].Spans[0].Name != "srs.session" {
		t.Fatalf("exported %v, want the one span", msg)
	}
	attrs := map[string]string{}
	for _, kv := range msg.ResourceSpans[0].Resource.Attributes {
		attrs[kv.Key] = kv.Value.GetStringValue()
	}
	if attrs["service.name"] != "gw" || attrs["service.version"] != "v9" {
		t.Fatalf("resource %v, want service gw v9", attrs)
	}
}
