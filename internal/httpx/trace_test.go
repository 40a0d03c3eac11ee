package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestOutboundRequestSpan proves an outbound request made under a recording span is a child
// span "upstream.http" naming the method, host and path but never the query (codes, tokens),
// and that a request without a span makes none.
func TestOutboundRequestSpan(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	defer up.Close()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	c := BoundedClient(&http.Client{})
	for _, traced := range []bool{false, true} {
		ctx := context.Background()
		var end func()
		if traced {
			c2, sp := tp.Tracer("test").Start(ctx, "POST /callback/{connector}")
			ctx, end = c2, func() { sp.End() }
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, up.URL+"/token?code=secret-code", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if end != nil {
			end()
		}
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the upstream span and its parent", len(spans))
	}
	s := spans[0]
	if s.Name != "upstream.http" || s.Parent.SpanID() != spans[1].SpanContext.SpanID() {
		t.Fatalf("span %q parent %v", s.Name, s.Parent.SpanID())
	}
	attrs := map[string]string{}
	for _, a := range s.Attributes {
		attrs[string(a.Key)] = a.Value.String()
	}
	if attrs["url.path"] != "/token" || attrs["http.request.method"] != "POST" || attrs["http.response.status_code"] != "418" ||
		attrs["server.address"] != strings.TrimPrefix(up.URL, "http://") {
		t.Errorf("attributes = %v", attrs)
	}
	for _, v := range attrs {
		if strings.Contains(v, "secret-code") {
			t.Errorf("the query leaked into the span: %v", attrs)
		}
	}
}
