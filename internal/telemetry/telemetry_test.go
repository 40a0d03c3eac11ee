package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-id/gatehouse/audit"
)

func newTest() *Metrics {
	return New(Options{Version: "v1.2.3", Clients: []string{"app"}, Connectors: []string{"ldap"},
		KeyAge: func() time.Duration { return 90 * time.Second }})
}

// TestRecordBoundsLabels: audit events become counts; clients, connectors, grant types and
// MFA methods outside the configured or known sets are counted as "other".
func TestRecordBoundsLabels(t *testing.T) {
	tests := []struct {
		name   string
		event  audit.Event
		metric string
		labels []string
	}{
		{"login", audit.Event{Type: audit.Login, Outcome: "success", ConnectorID: "ldap"}, "logins", []string{"ldap", "success"}},
		{"login, unknown connector", audit.Event{Type: audit.Login, Outcome: "denied", ConnectorID: "evil\n"}, "logins", []string{"other", "denied"}},
		{"token, configured client", audit.Event{Type: audit.TokenIssued, ClientID: "app", Detail: map[string]string{"grant_type": "authorization_code"}}, "tokens", []string{"authorization_code", "app"}},
		{"token, unknown client", audit.Event{Type: audit.TokenRefreshed, ClientID: "attacker-chosen", Detail: map[string]string{"grant_type": "refresh_token"}}, "tokens", []string{"refresh_token", "other"}},
		{"token, odd grant", audit.Event{Type: audit.TokenIssued, ClientID: "app", Detail: map[string]string{"grant_type": "x"}}, "tokens", []string{"other", "app"}},
		{"mfa verify", audit.Event{Type: audit.MFAVerify, Outcome: "bad_code", Detail: map[string]string{"method": "totp"}}, "mfa", []string{"totp", "bad_code"}},
		{"mfa enrol, odd method", audit.Event{Type: audit.MFAEnrol, Outcome: "success", Detail: map[string]string{"method": "sms"}}, "mfa", []string{"other", "enrolled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTest()
			m.Record(context.Background(), tt.event)
			var got float64
			switch tt.metric {
			case "logins":
				got = testutil.ToFloat64(m.logins.WithLabelValues(tt.labels...))
			case "tokens":
				got = testutil.ToFloat64(m.tokens.WithLabelValues(tt.labels...))
			case "mfa":
				got = testutil.ToFloat64(m.mfa.WithLabelValues(tt.labels...))
			}
			if got != 1 {
				t.Errorf("%s%v = %v, want 1", tt.metric, tt.labels, got)
			}
		})
	}
	m := newTest()
	m.Record(context.Background(), audit.Event{Type: audit.RefreshReuse})
	m.Record(context.Background(), audit.Event{Type: audit.Logout})
	if got := testutil.ToFloat64(m.reuse); got != 1 {
		t.Errorf("refresh reuse = %v, want 1", got)
	}
}

// TestInstrument: requests are counted under the pattern, with the status written (200 when
// none is), never the request path.
func TestInstrument(t *testing.T) {
	m := newTest()
	tests := []struct {
		pattern, method, path string
		status                int
		wantRoute, wantMethod string
	}{
		{"POST /token", "POST", "/token", 400, "/token", "POST"},
		{"GET /login/{connector}", "GET", "/login/whatever-the-user-typed", 0, "/login/{connector}", "GET"},
		{"/{$}", "BREW", "/", 302, "/{$}", "other"},
	}
	for _, tt := range tests {
		h := m.Instrument(tt.pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tt.status != 0 {
				w.WriteHeader(tt.status)
			}
			_, _ = w.Write([]byte("x"))
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))
		code := "200"
		if tt.status != 0 {
			code = itoa3(tt.status)
		}
		if got := testutil.ToFloat64(m.httpRequests.WithLabelValues(tt.wantRoute, tt.wantMethod, code)); got != 1 {
			t.Errorf("%s %s: requests{%s,%s,%s} = %v, want 1", tt.method, tt.path, tt.wantRoute, tt.wantMethod, code, got)
		}
	}
}

// TestConnectorUpAndKeyAge: connector_up follows the last call; unconfigured connectors get
// no series; the key age and build info read their sources.
func TestConnectorUpAndKeyAge(t *testing.T) {
	m := newTest()
	if got := testutil.ToFloat64(m.connUp.WithLabelValues("ldap")); got != 0 {
		t.Errorf("connector_up before any call = %v, want 0", got)
	}
	m.ConnectorCall("ldap", "login", time.Now(), true)
	if got := testutil.ToFloat64(m.connUp.WithLabelValues("ldap")); got != 1 {
		t.Errorf("connector_up after a good call = %v, want 1", got)
	}
	m.ConnectorCall("ldap", "login", time.Now(), false)
	if got := testutil.ToFloat64(m.connUp.WithLabelValues("ldap")); got != 0 {
		t.Errorf("connector_up after an upstream error = %v, want 0", got)
	}
	m.ConnectorCall("ghost", "login", time.Now(), true)
	scrape := httptest.NewRecorder()
	m.Handler().ServeHTTP(scrape, httptest.NewRequest("GET", "/metrics", nil))
	body := scrape.Body.String()
	for _, want := range []string{"gatehouse_signing_key_age_seconds 90", `gatehouse_build_info{go="`, `version="v1.2.3"} 1`,
		`gatehouse_connector_request_duration_seconds_count{connector="other",op="login"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, `gatehouse_connector_up{connector="ghost"}`) || strings.Contains(body, `connector_up{connector="other"}`) {
		t.Error("connector_up has a series for an unconfigured connector")
	}
}
