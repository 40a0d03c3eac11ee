package storage

import (
	"context"

	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-id/gatehouse/internal/tracing"
)

// Observer is told how long each storage operation took; op names the statement ("select
// grants", "insert audit_events", "tx").
type Observer func(op string, d time.Duration)

// Observable is a backend that reports its operations' durations (the storage metrics). It is
// optional; the SQLite and PostgreSQL backends implement it: each statement (and each SQLite
// write transaction as a whole, op "tx") is timed in one place per backend.
type Observable interface {
	// SetObserver makes every later operation report to o (nil: none). Safe to call while
	// the store is in use.
	SetObserver(o Observer)
}

// ObserverSlot holds a backend's Observer; the zero value holds none.
type ObserverSlot struct {
	p atomic.Pointer[Observer]
	// names caches each query's OpName and span name (backends pass a small fixed set of
	// queries), so the hot paths do not split every statement's SQL into words; at most
	// maxOpNames entries (n counts them), later queries are named each time.
	names sync.Map
	n     atomic.Int32
}

// maxOpNames bounds ObserverSlot's name cache.
const maxOpNames = 1024

// opNames is a query's OpName and the name of its span.
type opNames struct{ op, span string }

// opNames returns the query's names, cached.
func (s *ObserverSlot) opNames(query string) opNames {
	if v, ok := s.names.Load(query); ok {
		return v.(opNames)
	}
	op := OpName(query)
	n := opNames{op: op, span: "storage." + op}
	if s.n.Add(1) <= maxOpNames {
		s.names.Store(query, n)
	}
	return n
}

// Set replaces the observer (nil: none).
func (s *ObserverSlot) Set(o Observer) {
	if o == nil {
		s.p.Store(nil)
		return
	}
	s.p.Store(&o)
}

// Done reports an operation of query that started at start, and records it as a span
// "storage.<op>" under the span in ctx.
func (s *ObserverSlot) Done(ctx context.Context, query string, start time.Time) {
	o := s.p.Load()
	if o == nil && !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	n := s.opNames(query)
	tracing.Since(ctx, n.span, start, attribute.String("db.operation", n.op))
	if o != nil {
		(*o)(n.op, time.Since(start))
	}
}

// OpName names a SQL statement by its verb and first table, lowercased: "select grants",
// "insert audit_events", "update auth_requests", "delete rate_attempts"; "with" queries and
// statements it cannot read become their verb alone. Backends only pass their own constant
// SQL, so the names form a small fixed set (a bounded metric label).
func OpName(query string) string {
	f := strings.Fields(query)
	if len(f) == 0 {
		return "other"
	}
	verb := strings.ToLower(f[0])
	var after string
	switch verb {
	case "select", "delete":
		after = "from"
	case "insert":
		after = "into"
	case "update":
		if len(f) > 1 {
			return verb + " " + table(f[1])
		}
		return verb
	default:
		if len(verb) > 16 {
			return "other"
		}
		return verb
	}
	for i := 1; i+1 < len(f); i++ {
		if strings.EqualFold(f[i], after) {
			if t := table(f[i+1]); t != "" {
				return verb + " " + t
			}
		}
	}
	return verb
}

// table keeps the identifier characters of a table name (no parenthesis, comma, schema
// quoting) and at most 40 of them.
func table(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
			if b.Len() == 40 {
				break
			}
			continue
		}
		break
	}
	return b.String()
}
