package srs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/voicegw/voicegw/internal/redact"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ErrBadOTLPEndpoint is matched by the error of OTLPConfig.Validate and
// NewOTLPTracerProvider for an endpoint that is not an http:// or
// https:// URL.
var ErrBadOTLPEndpoint = errors.New("srs: bad OTLP endpoint")

// OTLPEndpointError is the error of OTLPConfig.Validate (and
// NewOTLPTracerProvider) for a bad endpoint: Endpoint is the value
// redacted (see redactEndpoint: never its user information, password or
// query), Reason what is wrong. It matches ErrBadOTLPEndpoint.
type OTLPEndpointError struct {
	Endpoint, Reason string
}

func (e *OTLPEndpointError) Error() string {
	return fmt.Sprintf("%s %q: %s", ErrBadOTLPEndpoint, e.Endpoint, e.Reason)
}

// Unwrap makes the error match ErrBadOTLPEndpoint.
func (e *OTLPEndpointError) Unwrap() error { return ErrBadOTLPEndpoint }

// OTLPConfig configures NewOTLPTracerProvider.
type OTLPConfig struct {
	// Endpoint is the OTLP/HTTP URL spans are exported to, for example
	// http://127.0.0.1:4318/v1/traces. Required.
	Endpoint string
	// ServiceName is the service.name of the spans; default "voicegw".
	ServiceName string
	// ServiceVersion is their service.version; default none.
	ServiceVersion string
}

// Validate returns an *OTLPEndpointError (matching ErrBadOTLPEndpoint),
// naming the endpoint without its credentials, when it is not an http:// or https:// URL with a
// host.
func (c OTLPConfig) Validate() error {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &OTLPEndpointError{Endpoint: redactEndpoint(c.Endpoint), Reason: "want an http:// or https:// URL (http://collector:4318/v1/traces)"}
	}
	return nil
}

// NewOTLPTracerProvider returns a TracerProvider for Config.TracerProvider
// that batches the Server's spans (see the package's tracing) and exports
// them over OTLP/HTTP to c.Endpoint. Nothing is sent until the first span
// ends; the caller calls its Shutdown at exit, which exports what is still
// buffered.
func NewOTLPTracerProvider(ctx context.Context, c OTLPConfig) (*sdktrace.TracerProvider, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.Endpoint))
	if err != nil {
		return nil, fmt.Errorf("srs: OTLP exporter: %w", redact.Error(err, c.Endpoint))
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(cmp.Or(c.ServiceName, "voicegw"))}
	if c.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(c.ServiceVersion))
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, attrs...)
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// redactEndpoint is raw as an error may show it: redact.URL, except that
// a value that does not parse is shown as redact.Opaque leaves it (no user
// information, query or fragment) rather than not at all.
func redactEndpoint(raw string) string {
	if _, err := url.Parse(raw); err != nil {
		return redact.Opaque(raw)
	}
	return redact.URL(raw)
}
