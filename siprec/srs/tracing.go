package srs

import (
	"context"
	"net/http"
	"sync"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/voicegw/voicegw/sip"
)

// Tracing: with Config.TracerProvider set, each recording session is one
// trace. Its root span "srs.session" starts when the INVITE arrived and
// ends once the session is completed (document stored, webhook sent); its
// children are
//
//	srs.authentication      the Guard's check of the INVITE (allowlist, digest)
//	srs.admission           INVITE received → the 200 OK about to be sent
//	srs.stream              one per recorded stream (label), added → removed
//	srs.recording.finalize  the file finalized and handed to the spool
//	srs.session.document    the session document stored
//	srs.webhook             the session webhook, every try
//	srs.upload              the spool → the bucket confirmed it (may end after the root)
//
// Spans carry sip.call_id, voicegw.session_id and voicegw.account (the
// SID). The webhook's request context holds srs.webhook's span: a
// WebhookSender whose Client uses TraceContextTransport sends it as W3C
// traceparent (the Server's default sender does).

// Attribute keys of the spans.
const (
	AttrCallID    = attribute.Key("sip.call_id")
	AttrSessionID = attribute.Key("voicegw.session_id")
	AttrAccount   = attribute.Key("voicegw.account")
	AttrLabel     = attribute.Key("voicegw.stream.label")
	AttrKey       = attribute.Key("voicegw.recording.key")
)

// tracerName is the instrumentation scope of the Server's spans.
const tracerName = "github.com/voicegw/voicegw/siprec/srs"

// newTracer returns the Server's tracer: tp's, or one that records nothing.
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(tracerName)
}

// sessionTrace is what a live Session keeps of its trace.
type sessionTrace struct {
	root trace.Span

	mu      sync.Mutex
	streams map[string]trace.Span // by label
}

// authTiming is when the Guard's check of a request started and ended: the
// Server's wrapper of the Guard puts it in the request's context, the
// Guard's OnDecision sets its end, the session's trace reads it.
type authTiming struct {
	start, end time.Time
}

type authTimingKey struct{}

// timeGuard wraps the Guard's handler wrapper so that each request's
// context carries an authTiming (only when tracing).
func (s *Server) timeGuard(wrap func(sip.Handler) sip.Handler) func(sip.Handler) sip.Handler {
	if s.cfg.TracerProvider == nil {
		return wrap
	}
	return func(next sip.Handler) sip.Handler {
		guarded := wrap(next)
		return func(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
			guarded(context.WithValue(ctx, authTimingKey{}, &authTiming{start: time.Now()}), req, tx)
		}
	}
}

// authDecided notes the end of the Guard's check (OnDecision).
func authDecided(ctx context.Context) {
	if at, ok := ctx.Value(authTimingKey{}).(*authTiming); ok {
		at.end = time.Now()
	}
}

// startSessionTrace starts the root span of ss, back-dated to the INVITE
// (to the Guard's check of it, when known), with its authentication span
// and its admission span, which ends now (the answer is being sent).
func (s *Server) startSessionTrace(ctx context.Context, ss *Session) {
	attrs := trace.WithAttributes(AttrCallID.String(ss.entry.CallID), AttrSessionID.String(ss.entry.SessionID),
		AttrAccount.String(ss.entry.Account))
	start := ss.entry.Start
	at, _ := ctx.Value(authTimingKey{}).(*authTiming)
	if at != nil && !at.end.IsZero() && at.start.Before(start) {
		start = at.start
	}
	ctx, root := s.tracer.Start(ctx, "srs.session", trace.WithTimestamp(start), attrs, trace.WithSpanKind(trace.SpanKindServer))
	if at != nil && !at.end.IsZero() {
		id, _ := sip.IdentityFrom(ctx)
		_, auth := s.tracer.Start(ctx, "srs.authentication", trace.WithTimestamp(at.start),
			trace.WithAttributes(attribute.String("sip.auth.passed_by", id.PassedBy.String()), attribute.String("sip.auth.username", id.User)))
		auth.End(trace.WithTimestamp(at.end))
	}
	_, adm := s.tracer.Start(ctx, "srs.admission", trace.WithTimestamp(ss.entry.Start), attrs)
	adm.End()
	ss.trace = &sessionTrace{root: root, streams: map[string]trace.Span{}}
}

// spanContext returns ctx with the session's root span, so that spans
// started from it are its children.
func (ss *Session) spanContext(ctx context.Context) context.Context {
	if ss == nil || ss.trace == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, ss.trace.root)
}

// streamSpan starts (add) or ends the span of a stream.
func (s *Server) streamSpan(ss *Session, label string, add bool) {
	if ss.trace == nil {
		return
	}
	t := ss.trace
	t.mu.Lock()
	defer t.mu.Unlock()
	if add {
		_, sp := s.tracer.Start(ss.spanContext(context.Background()), "srs.stream",
			trace.WithAttributes(AttrLabel.String(label), AttrSessionID.String(ss.entry.SessionID)))
		t.streams[label] = sp
		return
	}
	if sp, ok := t.streams[label]; ok {
		sp.End()
		delete(t.streams, label)
	}
}

// endSessionTrace ends what is left of the session's trace: streams still
// open and the root.
func (ss *Session) endSessionTrace(err error) {
	if ss == nil || ss.trace == nil {
		return
	}
	t := ss.trace
	t.mu.Lock()
	for label, sp := range t.streams {
		sp.End()
		delete(t.streams, label)
	}
	t.mu.Unlock()
	endSpan(t.root, err)
}

// endSpan ends sp, marked as failed when err is not nil.
func endSpan(sp trace.Span, err error) {
	if err != nil {
		sp.RecordError(err)
		sp.SetStatus(codes.Error, err.Error())
	}
	sp.End()
}

// noteUpload remembers the span context of the session whose recording
// is at key, for the upload's span.
func (s *Server) noteUpload(ss *Session, key string) {
	if ss.trace == nil || key == "" {
		return
	}
	s.uploadSpans.Store(key, ss.trace.root.SpanContext())
}

// uploadSpan records the span of an upload the bucket confirmed (err nil)
// or that failed for good, from when the spool took the recording.
func (s *Server) uploadSpan(key string, size int64, enqueued time.Time, attempts int) {
	v, ok := s.uploadSpans.LoadAndDelete(key)
	if !ok {
		return
	}
	ctx := trace.ContextWithSpanContext(context.Background(), v.(trace.SpanContext))
	_, sp := s.tracer.Start(ctx, "srs.upload", trace.WithTimestamp(enqueued),
		trace.WithAttributes(AttrKey.String(key), attribute.Int64("voicegw.recording.size", size), attribute.Int("voicegw.upload.attempts", attempts)))
	sp.End()
}

// TraceContextTransport returns a RoundTripper that adds the W3C Trace
// Context headers (traceparent, tracestate) of the request's context to
// each request, then sends it with base (nil: http.DefaultTransport). Give
// it to a tenancy.WebhookSender's Client so that webhooks carry the
// session's trace.
func TraceContextTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return traceTransport{base}
}

type traceTransport struct{ base http.RoundTripper }

func (t traceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if sc := trace.SpanContextFromContext(req.Context()); sc.IsValid() {
		req = req.Clone(req.Context())
		propagation.TraceContext{}.Inject(req.Context(), propagation.HeaderCarrier(req.Header))
	}
	return t.base.RoundTrip(req)
}
