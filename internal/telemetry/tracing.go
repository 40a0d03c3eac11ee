package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/internal/tracing"
)

// TracingOptions configures the OpenTelemetry tracer.
type TracingOptions struct {
	// Endpoint is the collector's OTLP/HTTP URL; with no path, /v1/traces.
	Endpoint string
	// SampleRatio is the share of new traces sampled (ParentBased(TraceIDRatioBased)).
	SampleRatio float64
	// TrustedProxies are the addresses whose traceparent header is believed.
	TrustedProxies []netip.Prefix
	// Version is the service.version resource attribute.
	Version string
	// QueueSize bounds the spans waiting for export (default 2048); more are dropped and
	// counted in gatehouse_trace_spans_dropped_total.
	QueueSize int
	// ExportTimeout bounds one export (default 5s).
	ExportTimeout time.Duration
	// Logger receives the exporter's errors (a collector that is down: at most one line per
	// batch); nil leaves OpenTelemetry's global error handler as it is. The handler is
	// process-wide: the last tracer built sets it.
	Logger *slog.Logger
}

// Tracer is Gatehouse's TracerProvider with its HTTP instrumentation. A nil *Tracer traces
// nothing.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	trusted  []netip.Prefix
	queue    *dropQueue
}

// NewTracer builds the provider: a bounded, non-blocking queue in front of a BatchSpanProcessor
// that exports over OTLP/HTTP in the background. A collector that is down or slow fills the
// queue; spans that do not fit are dropped and counted (on m), never waited for.
func NewTracer(o TracingOptions, m *Metrics) (*Tracer, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("tracing.otlp_endpoint: %w", err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 2048
	}
	if o.ExportTimeout <= 0 {
		o.ExportTimeout = 5 * time.Second
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(u.String()),
		otlptracehttp.WithTimeout(o.ExportTimeout),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond,
			MaxInterval: 2 * time.Second, MaxElapsedTime: 2 * o.ExportTimeout}))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	// The batch processor blocks only the queue's drain goroutine, never a request.
	bsp := sdktrace.NewBatchSpanProcessor(exp, sdktrace.WithMaxQueueSize(o.QueueSize), sdktrace.WithBlocking(),
		sdktrace.WithExportTimeout(o.ExportTimeout), sdktrace.WithBatchTimeout(time.Second))
	var dropped prometheus.Counter
	if m != nil {
		dropped = m.spansDropped
	}
	q := newDropQueue(bsp, o.QueueSize, dropped)
	if o.Logger != nil {
		logger := o.Logger
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			logger.Warn("tracing: span export failed; spans are dropped while the collector is unreachable", "err", err)
		}))
	}
	res := sdkresource.NewSchemaless(attribute.String("service.name", "gatehouse"), attribute.String("service.version", o.Version))
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(q),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))))
	return &Tracer{provider: tp, tracer: tp.Tracer(tracing.Scope), trusted: o.TrustedProxies, queue: q}, nil
}

// Provider is the TracerProvider (a no-op one for a nil Tracer).
func (t *Tracer) Provider() trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// Shutdown flushes the queued spans (bounded by ctx) and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

var propagator = propagation.TraceContext{}

// Instrument wraps the handler of a route pattern: each request is one span named after the
// pattern, a child of the request's W3C traceparent when it comes from a trusted proxy, else a
// new root. The request ID is an attribute; the status code is recorded.
func (t *Tracer) Instrument(pattern string, h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.parent(r)
		ctx, sp := t.tracer.Start(ctx, pattern, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", r.Method), attribute.String("http.route", pattern),
			attribute.String("gatehouse.request_id", logctx.RequestID(r.Context()))))
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			sp.SetAttributes(attribute.Int("http.response.status_code", rw.code))
			if rw.code >= 500 {
				sp.SetStatus(codes.Error, http.StatusText(rw.code))
			}
			sp.End()
		}()
		h.ServeHTTP(rw, r.WithContext(ctx))
	})
}

// parent is the request's context with the remote span context of its traceparent when the
// request comes from a trusted proxy; from anyone else the header is ignored (a new root).
func (t *Tracer) parent(r *http.Request) context.Context {
	ctx := r.Context()
	if len(t.trusted) == 0 || !httpx.FromTrustedProxy(r, t.trusted) {
		return ctx
	}
	return propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
}

// dropQueue is a SpanProcessor with a bounded channel in front of a blocking batch
// processor: OnEnd never waits; a span that does not fit is dropped and counted.
type dropQueue struct {
	next    sdktrace.SpanProcessor
	ch      chan sdktrace.ReadOnlySpan
	dropped prometheus.Counter
	done    chan struct{}
	once    sync.Once
	mu      sync.RWMutex // held for reading by OnEnd, for writing when closing ch
	closed  bool
}

func newDropQueue(next sdktrace.SpanProcessor, size int, dropped prometheus.Counter) *dropQueue {
	q := &dropQueue{next: next, ch: make(chan sdktrace.ReadOnlySpan, size), dropped: dropped, done: make(chan struct{})}
	go q.drain()
	return q
}

func (q *dropQueue) drain() {
	defer close(q.done)
	for s := range q.ch {
		q.next.OnEnd(s)
	}
}

// OnStart passes the span on.
func (q *dropQueue) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) { q.next.OnStart(ctx, s) }

// OnEnd queues the span for export, or drops and counts it when the queue is full.
func (q *dropQueue) OnEnd(s sdktrace.ReadOnlySpan) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return
	}
	select {
	case q.ch <- s:
	default:
		if q.dropped != nil {
			q.dropped.Inc()
		}
	}
}

// Shutdown stops queueing, hands what is queued to the batch processor and shuts it down,
// all bounded by ctx.
func (q *dropQueue) Shutdown(ctx context.Context) error {
	q.once.Do(func() {
		q.mu.Lock()
		q.closed = true
		close(q.ch)
		q.mu.Unlock()
	})
	select {
	case <-q.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return q.next.Shutdown(ctx)
}

// ForceFlush exports what the batch processor holds (spans still in the channel may follow).
func (q *dropQueue) ForceFlush(ctx context.Context) error { return q.next.ForceFlush(ctx) }
