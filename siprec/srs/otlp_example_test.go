package srs_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/voicegw/voicegw/siprec/srs"
)

// Trace each recording session to an OpenTelemetry collector over
// OTLP/HTTP: the provider goes in Config.TracerProvider, and its Shutdown
// at exit exports the spans still buffered.
func ExampleNewOTLPTracerProvider() {
	ctx := context.Background()
	_, err := srs.NewOTLPTracerProvider(ctx, srs.OTLPConfig{Endpoint: "collector:4318"})
	fmt.Println(errors.Is(err, srs.ErrBadOTLPEndpoint))

	tp, err := srs.NewOTLPTracerProvider(ctx, srs.OTLPConfig{Endpoint: "http://127.0.0.1:4318/v1/traces",
		ServiceName: "my-recorder", ServiceVersion: "v1.2.3"})
	if err != nil {
		log.Fatal(err)
	}
	defer tp.Shutdown(ctx) // nothing was traced here: nothing is sent
	cfg := srs.Config{TracerProvider: tp}
	fmt.Println(cfg.TracerProvider != nil)
	// Output:
	// true
	// true
}

// Report a bad endpoint under a configuration's own key.
func ExampleOTLPEndpointError() {
	var oe *srs.OTLPEndpointError
	if err := (srs.OTLPConfig{Endpoint: "ftp://collector/v1/traces"}).Validate(); errors.As(err, &oe) {
		fmt.Printf("tracing.otlp_endpoint: %q: %s\n", oe.Endpoint, oe.Reason)
	}
	// Output: tracing.otlp_endpoint: "ftp://collector/v1/traces": want an http:// or https:// URL (http://collector:4318/v1/traces)
}
