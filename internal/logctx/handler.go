package logctx

import (
	"context"
	"log/slog"
	"slices"

	"go.opentelemetry.io/otel/trace"
)

// Handler is a slog.Handler that adds the request ID (as request_id), the trace and span IDs
// of a traced request (trace_id, span_id) and the attributes
// attached with Add to every record logged with a request's context, then passes it to the
// wrapped handler. An attribute the log line (or the logger's With) already names is not
// repeated.
type Handler struct {
	base  slog.Handler // the wrapped handler before any WithAttrs/WithGroup
	inner slog.Handler // base with ops applied
	ops   []op         // the WithAttrs/WithGroup calls, in order
	keys  []string     // top-level keys given to WithAttrs before any group
}

// op is one WithAttrs or WithGroup call.
type op struct {
	group string
	attrs []slog.Attr
}

// NewHandler wraps h.
func NewHandler(h slog.Handler) *Handler { return &Handler{base: h, inner: h} }

// Enabled reports whether the wrapped handler handles records at level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// WithAttrs returns a handler whose records carry attrs.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := h.with(op{attrs: attrs})
	if !n.grouped() {
		for _, a := range attrs {
			n.keys = append(n.keys, a.Key)
		}
	}
	n.inner = h.inner.WithAttrs(attrs)
	return n
}

// WithGroup returns a handler that puts later attributes in the group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := h.with(op{group: name})
	n.inner = h.inner.WithGroup(name)
	return n
}

// with copies h with one more op.
func (h *Handler) with(o op) *Handler {
	return &Handler{base: h.base, ops: append(slices.Clip(h.ops), o), keys: slices.Clip(h.keys)}
}

// grouped reports whether a group is open, so record attributes are no longer top-level.
func (h *Handler) grouped() bool {
	return slices.ContainsFunc(h.ops, func(o op) bool { return o.group != "" })
}

// TraceKey and SpanKey are the log attributes of the OpenTelemetry trace and span IDs of the
// span in the context (when there is one), next to request_id.
const (
	TraceKey = "trace_id"
	SpanKey  = "span_id"
)

// Handle adds the request's ID, its trace and span IDs and its attributes from ctx to r and
// passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	f, ok := ctx.Value(ctxKey{}).(*fields)
	sc := trace.SpanContextFromContext(ctx)
	if !ok && !sc.IsValid() {
		return h.inner.Handle(ctx, r)
	}
	var id string
	var attrs []slog.Attr
	if ok {
		id, attrs = f.snapshot()
	}
	head := make([]slog.Attr, 0, 3)
	if ok {
		head = append(head, slog.String(Key, id))
	}
	if sc.IsValid() {
		head = append(head, slog.String(TraceKey, sc.TraceID().String()), slog.String(SpanKey, sc.SpanID().String()))
	}
	extra := make([]slog.Attr, 0, len(attrs)+len(head))
	for _, a := range append(head, attrs...) {
		if !h.names(r, a.Key) {
			extra = append(extra, a)
		}
	}
	if !h.grouped() {
		out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
		out.AddAttrs(extra...)
		r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
		return h.inner.Handle(ctx, out)
	}
	// A group is open: the request's attributes go before it, at the top level.
	inner := h.base.WithAttrs(extra)
	for _, o := range h.ops {
		if o.group != "" {
			inner = inner.WithGroup(o.group)
		} else {
			inner = inner.WithAttrs(o.attrs)
		}
	}
	return inner.Handle(ctx, r)
}

// names reports whether the logger's top-level attributes or, with no group open, the
// record already carry key.
func (h *Handler) names(r slog.Record, key string) bool {
	if slices.Contains(h.keys, key) {
		return true
	}
	if h.grouped() {
		return false
	}
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

// ReplaceAttr is the slog.HandlerOptions.ReplaceAttr of Gatehouse's loggers: it prints
// durations as time.Duration.String ("1.5s") in JSON as in text (slog's JSON handler would
// print nanoseconds).
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
