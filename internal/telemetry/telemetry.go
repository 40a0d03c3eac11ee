// Package telemetry holds Gatehouse's Prometheus metrics: one registry with every gatehouse_*
// metric, the Go and process collectors, and the handler the admin listener serves at
// /metrics. Every label is bounded: HTTP routes are mux patterns, connectors and clients are
// the configured ones (anything else counts as "other"), outcomes and operations are fixed
// sets. Recording is in-memory and lock-free or briefly locked, so a slow or absent scraper
// never slows a request.
package telemetry

import (
	"context"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-id/gatehouse/audit"
)

// Other is the label value of a client or connector that is not configured.
const Other = "other"

// Options configures the metrics.
type Options struct {
	// Version is the build's version (gatehouse_build_info).
	Version string
	// Clients and Connectors are the configured IDs: the only label values they get.
	Clients    []string
	Connectors []string
	// KeyAge returns how long the current signing key has signed (nil: the metric reads 0).
	KeyAge func() time.Duration
}

// Metrics is every gatehouse_* metric on one registry.
type Metrics struct {
	reg        *prometheus.Registry
	clients    map[string]bool
	connectors map[string]bool

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	logins       *prometheus.CounterVec
	mfa          *prometheus.CounterVec
	tokens       *prometheus.CounterVec
	reuse        prometheus.Counter
	connDuration *prometheus.HistogramVec
	connUp       *prometheus.GaugeVec
	storageOps   *prometheus.HistogramVec
	spansDropped prometheus.Counter
	logouts      *prometheus.CounterVec
}

// New builds the metrics and registers them with the Go and process collectors.
func New(o Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), clients: set(o.Clients), connectors: set(o.Connectors)}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_http_requests_total",
		Help: "HTTP requests served, by route pattern, method and status code."}, []string{"route", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_http_request_duration_seconds",
		Help: "Time to serve HTTP requests, by route pattern and method.", Buckets: prometheus.DefBuckets}, []string{"route", "method"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_logins_total",
		Help: "Logins through a connector, by outcome (success, bad_credentials, denied, rate_limited, upstream_error)."},
		[]string{"connector", "outcome"})
	m.mfa = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_mfa_total",
		Help: "Second-factor checks and enrolments, by method and outcome."}, []string{"method", "outcome"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_tokens_issued_total",
		Help: "Token responses issued, by grant type and configured client."}, []string{"grant_type", "client"})
	m.reuse = prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_refresh_reuse_detected_total",
		Help: "Rotated refresh tokens presented again (their family was revoked)."})
	m.connDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_connector_request_duration_seconds",
		Help: "Time of calls to upstream connectors, by connector and operation.", Buckets: prometheus.DefBuckets},
		[]string{"connector", "op"})
	m.connUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_connector_up",
		Help: "1 when the connector opened and its last call reached the upstream, else 0."}, []string{"connector"})
	m.storageOps = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_storage_op_duration_seconds",
		Help: "Time of storage operations, by operation.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}},
		[]string{"op"})
	m.spansDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_trace_spans_dropped_total",
		Help: "Trace spans dropped because the export queue was full (collector down or slow)."})
	m.logouts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_backchannel_logout_deliveries_total",
		Help: "Back-channel logout token deliveries, by configured client and outcome (delivered, retry, abandoned)."},
		[]string{"client", "outcome"})
	keyAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_signing_key_age_seconds",
		Help: "How long the current signing key has been signing."}, func() float64 {
		if o.KeyAge == nil {
			return 0
		}
		return o.KeyAge().Seconds()
	})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_build_info",
		Help: "Always 1; the labels name the build."}, []string{"version", "go"})
	build.WithLabelValues(o.Version, runtime.Version()).Set(1)
	m.reg.MustRegister(m.httpRequests, m.httpDuration, m.logins, m.mfa, m.tokens, m.reuse, m.connDuration, m.connUp,
		m.storageOps, m.spansDropped, m.logouts, keyAge, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range o.Connectors {
		m.connUp.WithLabelValues(c) // present from the start, 0 until Up says otherwise
	}
	return m
}

func set(ids []string) map[string]bool {
	s := make(map[string]bool, len(ids))
	for _, id := range ids {
		s[id] = true
	}
	return s
}

// Registry is the registry every metric is on (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format. A scrape that takes longer
// than 10 s is answered with an error.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second, MaxRequestsInFlight: 4})
}

// BackchannelLogout counts one back-channel logout delivery attempt of a client by outcome
// (broker/logout.DeliveryMetrics).
func (m *Metrics) BackchannelLogout(clientID, outcome string) {
	m.logouts.WithLabelValues(m.client(clientID), outcome).Inc()
}

func (m *Metrics) client(id string) string {
	if m.clients[id] {
		return id
	}
	return Other
}

func (m *Metrics) connector(id string) string {
	if m.connectors[id] {
		return id
	}
	return Other
}

// Record counts an audit event (logins, MFA, tokens, refresh reuse): Metrics is an
// audit.Recorder, so each flow reports an act once.
func (m *Metrics) Record(_ context.Context, e audit.Event) {
	switch e.Type {
	case audit.Login:
		m.logins.WithLabelValues(m.connector(e.ConnectorID), e.Outcome).Inc()
	case audit.MFAVerify, audit.MFAEnrol:
		outcome := e.Outcome
		if e.Type == audit.MFAEnrol {
			outcome = "enrolled"
		}
		m.mfa.WithLabelValues(mfaMethod(e.Detail["method"]), outcome).Inc()
	case audit.TokenIssued, audit.TokenRefreshed:
		m.tokens.WithLabelValues(grantType(e.Detail["grant_type"]), m.client(e.ClientID)).Inc()
	case audit.RefreshReuse:
		m.reuse.Inc()
	}
}

// mfaMethod bounds the method label.
func mfaMethod(s string) string {
	switch s {
	case "totp", "webauthn", "recovery":
		return s
	}
	return Other
}

// grantType bounds the grant_type label.
func grantType(s string) string {
	switch s {
	case "authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code",
		"urn:ietf:params:oauth:grant-type:token-exchange":
		return s
	}
	return Other
}

// ConnectorCall records one call to a connector (op: login, begin, finish, refresh, ...) that
// started at start; up says whether the upstream answered (a wrong password is an answer).
func (m *Metrics) ConnectorCall(connector, op string, start time.Time, up bool) {
	c := m.connector(connector)
	m.connDuration.WithLabelValues(c, op).Observe(time.Since(start).Seconds())
	m.ConnectorUp(connector, up)
}

// ConnectorUp sets gatehouse_connector_up of a configured connector.
func (m *Metrics) ConnectorUp(connector string, up bool) {
	if !m.connectors[connector] {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.connUp.WithLabelValues(connector).Set(v)
}

// StorageOp records one storage operation that took d.
func (m *Metrics) StorageOp(op string, d time.Duration) {
	m.storageOps.WithLabelValues(op).Observe(d.Seconds())
}

// Instrument wraps the handler of a route pattern: requests are counted and timed under the
// pattern (never the request's path, so the label stays bounded).
func (m *Metrics) Instrument(pattern string, h http.Handler) http.Handler {
	route, method := pattern, ""
	if i := indexSpace(pattern); i > 0 {
		method, route = pattern[:i], pattern[i+1:]
	}
	dur := m.httpDuration.MustCurryWith(prometheus.Labels{"route": route})
	reqs := m.httpRequests.MustCurryWith(prometheus.Labels{"route": route})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			meth := method
			if meth == "" {
				meth = boundMethod(r.Method)
			}
			dur.WithLabelValues(meth).Observe(time.Since(start).Seconds())
			reqs.WithLabelValues(meth, statusCode(rw.code)).Inc()
		}()
		h.ServeHTTP(rw, r)
	})
}

func indexSpace(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return i
		}
		if s[i] == '/' {
			return -1
		}
	}
	return -1
}

// boundMethod keeps the standard methods and folds any other into "other".
func boundMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions:
		return m
	}
	return Other
}

// statusCode formats a code; codes outside 100-599 read "other".
func statusCode(c int) string {
	if c < 100 || c > 599 {
		return Other
	}
	return itoa3(c)
}

func itoa3(c int) string {
	return string([]byte{byte('0' + c/100), byte('0' + c/10%10), byte('0' + c%10)})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

// WriteHeader records the first status code.
func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write marks the header written (200 unless WriteHeader said otherwise).
func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
