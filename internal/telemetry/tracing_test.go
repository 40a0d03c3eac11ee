package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-id/gatehouse/internal/otlptest"
	"github.com/gatehouse-id/gatehouse/internal/tracing"
)

const (
	parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpan  = "00f067aa0ba902b7"
)

// serveTraced sends one request through an instrumented route (with a storage-like child
// span) from remote, with traceparent when not empty, then shuts the tracer down so every
// span is exported.
func serveTraced(t *testing.T, rc *otlptest.Receiver, ratio float64, remote, traceparent string) []otlptest.Span {
	t.Helper()
	tr, err := NewTracer(TracingOptions{Endpoint: rc.URL, SampleRatio: ratio,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, newTest())
	if err != nil {
		t.Fatal(err)
	}
	h := tr.Instrument("POST /token", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tracing.Since(r.Context(), "storage.select grants", time.Now())
	}))
	req := httptest.NewRequest(http.MethodPost, "/token", nil)
	req.RemoteAddr = remote
	if traceparent != "" {
		req.Header.Set("Traceparent", traceparent)
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rc.Spans()
}

// TestTracerSamplingAndTraceparentTrust proves the sampling rules: ParentBased(ratio), and a
// W3C traceparent believed only from web.trusted_proxies (anyone else starts a new root, so a
// client can neither force sampling nor graft spans into someone's trace).
func TestTracerSamplingAndTraceparentTrust(t *testing.T) {
	sampled := "00-" + parentTrace + "-" + parentSpan + "-01"
	unsampled := "00-" + parentTrace + "-" + parentSpan + "-00"
	tests := []struct {
		name        string
		ratio       float64
		remote      string
		traceparent string
		wantSpans   int  // route span + child
		wantParent  bool // the route span continues the given trace
	}{
		{"ratio 1, no parent: new root", 1, "192.0.2.1:1234", "", 2, false},
		{"ratio 0, no parent: not sampled", 0, "192.0.2.1:1234", "", 0, false},
		{"trusted proxy, sampled parent: child of it", 0, "10.1.2.3:1234", sampled, 2, true},
		{"trusted proxy, unsampled parent: not sampled", 1, "10.1.2.3:1234", unsampled, 0, false},
		{"untrusted, sampled parent: ignored, new root", 1, "192.0.2.1:1234", sampled, 2, false},
		{"untrusted, sampled parent, ratio 0: ignored, not sampled", 0, "192.0.2.1:1234", sampled, 0, false},
		{"untrusted, unsampled parent, ratio 1: ignored, sampled", 1, "192.0.2.1:1234", unsampled, 2, false},
		{"trusted, malformed parent: new root", 1, "10.1.2.3:1234", "00-zz-" + parentSpan + "-01", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := otlptest.New()
			defer rc.Close()
			spans := serveTraced(t, rc, tt.ratio, tt.remote, tt.traceparent)
			if errs := rc.Errors(); len(errs) > 0 {
				t.Fatalf("receiver refused exports: %v", errs)
			}
			if len(spans) != tt.wantSpans {
				t.Fatalf("%d spans exported, want %d:\n%s", len(spans), tt.wantSpans, otlptest.Tree(spans))
			}
			if tt.wantSpans == 0 {
				return
			}
			var route, child otlptest.Span
			for _, s := range spans {
				switch s.Name {
				case "POST /token":
					route = s
				case "storage.select grants":
					child = s
				}
			}
			if child.ParentID != route.SpanID || child.TraceID != route.TraceID {
				t.Errorf("storage span not under the route span:\n%s", otlptest.Tree(spans))
			}
			continues := route.TraceID == parentTrace && route.ParentID == parentSpan
			if continues != tt.wantParent {
				t.Errorf("route span trace=%s parent=%s; continues the given trace = %v, want %v",
					route.TraceID, route.ParentID, continues, tt.wantParent)
			}
			if !tt.wantParent && route.ParentID != "" {
				t.Errorf("route span has parent %s, want a root", route.ParentID)
			}
			if route.Attrs["http.route"] != "POST /token" {
				t.Errorf("route attributes = %v", route.Attrs)
			}
		})
	}
}

// TestTracerCollectorDownDoesNotSlowRequests proves a collector that never answers (or is not
// there) costs a request nothing: spans beyond the bounded queue are dropped and counted,
// and Shutdown returns within its deadline.
func TestTracerCollectorDownDoesNotSlowRequests(t *testing.T) {
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer slow.Close()
	defer close(hang)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused
	for _, tc := range []struct{ name, url string }{{"hanging collector", slow.URL}, {"no collector", deadURL}} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTest()
			tr, err := NewTracer(TracingOptions{Endpoint: tc.url, SampleRatio: 1, QueueSize: 64, ExportTimeout: time.Second}, m)
			if err != nil {
				t.Fatal(err)
			}
			h := tr.Instrument("POST /login/{connector}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for range 5 {
					tracing.Since(r.Context(), "storage.select users", time.Now())
				}
			}))
			const n = 2000
			var worst time.Duration
			start := time.Now()
			for range n {
				t0 := time.Now()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login/ldap", nil))
				worst = max(worst, time.Since(t0))
			}
			total := time.Since(start)
			t.Logf("%d traced requests (6 spans each) in %v, worst %v, %v spans dropped", n, total, worst,
				testutil.ToFloat64(m.spansDropped))
			// A request that waited for the collector would take at least the export timeout
			// (1s) or hang; half of it leaves room for GC pauses and a loaded machine under
			// -race (a worst case of 68ms was seen), and still fails on any wait for export.
			if worst > 500*time.Millisecond || total > 5*time.Second {
				t.Errorf("requests waited for the collector: worst %v, total %v", worst, total)
			}
			if d := testutil.ToFloat64(m.spansDropped); d == 0 {
				t.Error("no span counted as dropped although the queue (64) was far smaller than the spans (12000)")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			t0 := time.Now()
			_ = tr.Shutdown(ctx) //nolint:errcheck // a collector that is down makes the flush fail; only its bound matters
			if d := time.Since(t0); d > 3*time.Second {
				t.Errorf("Shutdown took %v with a 2s deadline", d)
			}
		})
	}
}
