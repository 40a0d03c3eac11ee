package tracing

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSpansOnlyUnderARecordingSpan proves the helpers make children of the recording span in
// the context, and nothing without one (or under a span that was not sampled).
func TestSpansOnlyUnderARecordingSpan(t *testing.T) {
	tests := []struct {
		name    string
		sampler sdktrace.Sampler
		parent  bool
		want    int // spans exported besides the parent
	}{
		{"no span in context", sdktrace.AlwaysSample(), false, 0},
		{"sampled parent", sdktrace.AlwaysSample(), true, 3},
		{"unsampled parent", sdktrace.NeverSample(), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(tt.sampler))
			ctx := context.Background()
			var parentEnd func()
			if tt.parent {
				c, p := tp.Tracer("test").Start(ctx, "parent")
				ctx, parentEnd = c, func() { p.End() }
			}
			start := time.Now().Add(-time.Second)
			Since(ctx, "since", start)
			Span(ctx, "span")()
			c2, sp := Start(ctx, "start")
			sp.End()
			if !tt.parent && c2 != ctx {
				t.Error("Start without a span returned a new context")
			}
			parents := 0
			if parentEnd != nil {
				parentEnd()
				if tt.want > 0 {
					parents = 1
				}
			}
			got := exp.GetSpans()
			if len(got) != tt.want+parents {
				t.Fatalf("%d spans exported, want %d", len(got), tt.want+parents)
			}
			for _, s := range got {
				if s.Name == "since" && !s.StartTime.Equal(start) {
					t.Errorf("Since span starts at %v, want %v", s.StartTime, start)
				}
				if s.Name != "parent" && s.Parent.SpanID() != got[len(got)-1].SpanContext.SpanID() {
					t.Errorf("%s is not a child of the parent", s.Name)
				}
			}
		})
	}
}
