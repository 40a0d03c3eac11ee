package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.Observable = (*Store)(nil)

// SetObserver makes the store report the duration of every statement (pgx's query tracer:
// one place for every query of the backend).
func (s *Store) SetObserver(o storage.Observer) { s.observer.Set(o) }

// queryTracer times every query pgx runs and reports it to the observer slot.
type queryTracer struct{ slot *storage.ObserverSlot }

type traceKey struct{}

type traceStart struct {
	sql   string
	start time.Time
}

// TraceQueryStart remembers the statement and when it started.
func (q queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{sql: d.SQL, start: time.Now()})
}

// TraceQueryEnd reports the statement's duration.
func (q queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if t, ok := ctx.Value(traceKey{}).(traceStart); ok {
		q.slot.Done(ctx, t.sql, t.start)
	}
}
