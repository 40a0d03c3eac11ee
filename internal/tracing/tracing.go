// Package tracing starts OpenTelemetry spans as children of the span in a context, from that
// span's own TracerProvider: no global provider, and nothing at all (not even an allocation
// beyond the closure) when the context carries no recording span, so packages that must not
// know about the broker's wiring (connectors, storage backends, tokens) trace with one line:
//
//	defer tracing.Span(ctx, "ldap.bind")()
package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope name of Gatehouse's spans.
const Scope = "github.com/gatehouse-id/gatehouse"

func nop() {}

// Start starts a child span of the recording span in ctx; without one it returns ctx and the
// non-recording span in it.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(Scope).Start(ctx, name, trace.WithAttributes(attrs...))
}

// Span starts a leaf child span of the recording span in ctx and returns the function that
// ends it (a no-op without a recording span).
func Span(ctx context.Context, name string, attrs ...attribute.KeyValue) (end func()) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return nop
	}
	_, sp := parent.TracerProvider().Tracer(Scope).Start(ctx, name, trace.WithAttributes(attrs...))
	return func() { sp.End() }
}

// Since records an operation that started at start and has just ended as a child span of
// the recording span in ctx (nothing without one).
func Since(ctx context.Context, name string, start time.Time, attrs ...attribute.KeyValue) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return
	}
	_, sp := parent.TracerProvider().Tracer(Scope).Start(ctx, name, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	sp.End()
}
