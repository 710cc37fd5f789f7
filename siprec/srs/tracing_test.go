package srs

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
)

// TestServerTracesSession: with a TracerProvider, a recorded call makes one
// trace (the SDK's in-memory exporter): the root srs.session with the
// call's Call-ID, session ID and account, and as its children the
// authentication (the Guard's check of the INVITE that passed), the
// admission, one srs.stream per label, the finalize, the session document,
// the webhook and the upload; the webhook request carries the webhook
// span's W3C traceparent.
func TestServerTracesSession(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })

	var mu sync.Mutex
	var traceparents []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("traceparent"))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	acct := recordingAccount("traced", t.TempDir(), hook.URL)
	acct.WebhookSecret = secret.String("whsec_srs_trace_secret_0123456789")
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Default: "traced", ContactIP: true,
		Edit: func(c *Config) { c.TracerProvider = tp }})

	c, res, err := ts.dial(t, "traced.test", "src", "traced-password-1", "")
	if err != nil {
		t.Fatalf("Start: %v %v", res, err)
	}
	c.send(300 * time.Millisecond)
	c.stop(t)
	byName := func() map[string][]tracetest.SpanStub {
		m := map[string][]tracetest.SpanStub{}
		for _, s := range exp.GetSpans() {
			m[s.Name] = append(m[s.Name], s)
		}
		return m
	}
	waitFor(t, "the session's spans", func() bool {
		m := byName()
		return len(m["srs.session"]) == 1 && len(m["srs.upload"]) == 1 && len(m["srs.webhook"]) == 1
	})
	spans := byName()
	root := spans["srs.session"][0]
	attrs := map[string]string{}
	for _, a := range root.Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["sip.call_id"] == "" || attrs["voicegw.session_id"] == "" || attrs["voicegw.account"] != string(acct.SID) {
		t.Errorf("root attributes %v", attrs)
	}
	if root.Parent.IsValid() {
		t.Errorf("the session span has a parent: %v", root.Parent)
	}
	for name, n := range map[string]int{"srs.authentication": 1, "srs.admission": 1, "srs.stream": 2, "srs.recording.finalize": 1,
		"srs.session.document": 1, "srs.webhook": 1, "srs.upload": 1} {
		if got := len(spans[name]); got != n {
			t.Errorf("%d %s spans, want %d", got, name, n)
			continue
		}
		for _, s := range spans[name] {
			if s.Parent.SpanID() != root.SpanContext.SpanID() || s.SpanContext.TraceID() != root.SpanContext.TraceID() {
				t.Errorf("%s: parent %v, want the session span %v", name, s.Parent.SpanID(), root.SpanContext.SpanID())
			}
		}
	}
	auth := spans["srs.authentication"][0]
	if auth.StartTime.Before(root.StartTime) || auth.EndTime.Before(auth.StartTime) {
		t.Errorf("authentication %v–%v outside the session from %v", auth.StartTime, auth.EndTime, root.StartTime)
	}
	var user string
	for _, a := range auth.Attributes {
		if a.Key == "sip.auth.username" {
			user = a.Value.AsString()
		}
	}
	if user != "src" {
		t.Errorf("authentication's sip.auth.username = %q, want src", user)
	}
	labels := map[string]bool{}
	for _, s := range spans["srs.stream"] {
		for _, a := range s.Attributes {
			if a.Key == AttrLabel {
				labels[a.Value.AsString()] = true
			}
		}
	}
	if !labels["1"] || !labels["2"] {
		t.Errorf("stream span labels %v, want 1 and 2", labels)
	}
	if adm := spans["srs.admission"][0]; adm.StartTime.Before(auth.EndTime) || adm.EndTime.Before(adm.StartTime) {
		t.Errorf("admission %v–%v, want after the authentication (ended %v)", adm.StartTime, adm.EndTime, auth.EndTime)
	}
	mu.Lock()
	defer mu.Unlock()
	wh := spans["srs.webhook"][0].SpanContext
	want := "00-" + wh.TraceID().String() + "-" + wh.SpanID().String() + "-01"
	if len(traceparents) != 1 || traceparents[0] != want {
		t.Errorf("webhook traceparent %q, want %q", traceparents, want)
	}
}
