package assembly

import (
	"errors"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/telemetry"
	"github.com/gatehouse-id/gatehouse/storage"
)

// observability builds the metrics and the audit trail (stored, streamed with audit.log,
// counted in the metrics) before anything that records an event.
func (b *builder) observability(decoded []DecodedConnector) error {
	as, ok := b.store.(storage.AuditStore)
	if !ok {
		return errors.New("the storage backend cannot keep audit events (storage.AuditStore)")
	}
	var clientIDs, connectorIDs []string
	for _, c := range b.cfg.Clients {
		clientIDs = append(clientIDs, c.ID)
	}
	if b.cfg.Example.Enabled {
		clientIDs = append(clientIDs, config.ExampleClientID)
	}
	for _, d := range decoded {
		connectorIDs = append(connectorIDs, d.Info.ID)
	}
	gh := b.gh
	gh.Metrics = telemetry.New(telemetry.Options{
		Version: b.opts.Version, Clients: clientIDs, Connectors: connectorIDs,
		KeyAge: func() time.Duration {
			if gh.Keys == nil {
				return 0
			}
			return gh.Keys.SigningKeyAge()
		},
	})
	if t := b.cfg.Tracing; t.OTLPEndpoint != "" {
		proxies, err := parseProxies(b.cfg.Web.TrustedProxies)
		if err != nil {
			return err
		}
		gh.Tracer, err = telemetry.NewTracer(telemetry.TracingOptions{Endpoint: t.OTLPEndpoint, SampleRatio: t.Ratio(),
			TrustedProxies: proxies, Version: b.opts.Version, Logger: b.logger}, gh.Metrics)
		if err != nil {
			return err
		}
	}
	if o, ok := b.store.(storage.Observable); ok {
		o.SetObserver(gh.Metrics.StorageOp)
	}
	trail := &audit.Trail{Store: as, Logger: b.logger, Now: b.now}
	if b.cfg.Audit.Log {
		trail.Stream = b.logger.With("component", "audit")
	}
	gh.Audit = audit.Multi{trail, gh.Metrics}
	return nil
}

// instrumented is the broker's view of the metrics with the tracer around them: each route
// is one span (outside) and is counted and timed (inside).
type instrumented struct {
	*telemetry.Metrics
	tracer *telemetry.Tracer
}

// Instrument wraps h with the route's span and its metrics.
func (i instrumented) Instrument(pattern string, h http.Handler) http.Handler {
	return i.tracer.Instrument(pattern, i.Metrics.Instrument(pattern, h))
}

// AdminHandler serves the admin listener: /healthz and /readyz, /metrics, and with
// admin.pprof the profiles under /debug/pprof/.
func (g *Gatehouse) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", g.Server.HealthHandler())
	mux.Handle("GET /metrics", g.Metrics.Handler())
	if g.Admin != nil {
		api := g.Admin.Handler()
		for _, p := range admin.Paths() {
			mux.Handle(p, api)
		}
	}
	if g.cfg.Admin.PProf {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}
