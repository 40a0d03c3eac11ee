// Package connset holds the connectors a broker runs: each configured connector in a Slot,
// opened or failed to open, and the Set of them in configuration order. "Connector" alone
// always means the connectors.Connector interface; a Slot is the broker's runtime record of
// one, and config.ConnectorBlock is its block in the configuration file.
package connset

import (
	"context"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/gatehouse-id/gatehouse/internal/tracing"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Slot is one configured connector as the broker runs it: opened, or failed to open.
type Slot struct {
	Info connectors.Info
	Conn connectors.Connector // nil when it failed to open
	Err  error                // why it is unavailable
	// TrustUpstreamMFA (config trust_upstream_mfa) lets the upstream's amr/acr reach
	// Gatehouse's tokens and its multi-factor claim satisfy MFA policies. Otherwise amr keeps
	// only pwd and fed, and acr is Gatehouse's single-factor value (mfa.Normalize).
	TrustUpstreamMFA bool
	// Domains are the email domains routed to this connector by the identifier-first page
	// (config connectors[].domains; lowercase, each claimed by one connector).
	Domains []string
	// UpstreamLogout (config logout: upstream) makes a Gatehouse logout of this connector's
	// users end their upstream session too (broker/upstreamlogout).
	UpstreamLogout bool

	observe Observer // set by Set.Observe
}

// Observer is told of every connector call: which connector, the operation (login, begin,
// finish, request, negotiate, refresh), when it started, and whether the upstream answered.
type Observer func(connectorID, op string, start time.Time, up bool)

// callSpan marks the span of a connector call started by Start.
type callSpan struct{}

// Start begins a call of op to the slot's connector: the returned context carries the
// call's span "connector.<op>" (the connector's own spans, LDAP bind and search, nest under
// it) and the time it started; pass both to Done.
func (s *Slot) Start(ctx context.Context, op string) (context.Context, time.Time) {
	start := time.Now()
	if s == nil {
		return ctx, start
	}
	cctx, sp := tracing.Start(ctx, "connector."+op, attribute.String("gatehouse.connector", s.Info.ID))
	if !sp.IsRecording() {
		return ctx, start
	}
	return context.WithValue(cctx, callSpan{}, sp), start
}

// Done reports a call of op to the slot's connector that started at start and returned err:
// the upstream is up unless err is a connectors.UpstreamError. It ends the call's span when
// ctx comes from Start (else records one under the span in ctx), and tells the observer if
// there is one.
func (s *Slot) Done(ctx context.Context, op string, start time.Time, err error) {
	if s == nil {
		return
	}
	var upErr *connectors.UpstreamError
	up := !errors.As(err, &upErr)
	if sp, ok := ctx.Value(callSpan{}).(trace.Span); ok {
		sp.SetAttributes(attribute.Bool("gatehouse.upstream_up", up))
		if !up {
			sp.SetStatus(codes.Error, "upstream error")
		}
		sp.End()
	} else {
		tracing.Since(ctx, "connector."+op, start, attribute.String("gatehouse.connector", s.Info.ID), attribute.Bool("gatehouse.upstream_up", up))
	}
	if s.observe != nil {
		s.observe(s.Info.ID, op, start, up)
	}
}

// Up reports whether the slot's connector is open (a nil slot is not).
func (s *Slot) Up() bool { return s != nil && s.Conn != nil }

// Set is the configured connectors, in configuration order, looked up by ID.
type Set struct {
	slots []Slot
	byID  map[string]*Slot
}

// New returns the set of the slots (copied), in their order.
func New(slots []Slot) *Set {
	s := &Set{slots: append([]Slot(nil), slots...), byID: make(map[string]*Slot, len(slots))}
	for i := range s.slots {
		s.byID[s.slots[i].Info.ID] = &s.slots[i]
	}
	return s
}

// Observe makes every slot's Done report to o (the broker's connector metrics).
func (s *Set) Observe(o Observer) {
	for i := range s.slots {
		s.slots[i].observe = o
	}
}

// Get returns the slot of the connector with the ID.
func (s *Set) Get(id string) (*Slot, bool) {
	sl, ok := s.byID[id]
	return sl, ok
}

// Up reports whether the connector with the ID is configured and open: only then may an SSO
// session or a grant made through it stand for the user.
func (s *Set) Up(id string) bool { return s.byID[id].Up() }

// All returns every slot in configuration order.
func (s *Set) All() []*Slot {
	out := make([]*Slot, len(s.slots))
	for i := range s.slots {
		out[i] = &s.slots[i]
	}
	return out
}

// Usable returns the slots whose IDs allowed accepts (a client's allowed connectors), in
// configuration order.
func (s *Set) Usable(allowed func(id string) bool) []*Slot {
	var out []*Slot
	for i := range s.slots {
		if allowed(s.slots[i].Info.ID) {
			out = append(out, &s.slots[i])
		}
	}
	return out
}
