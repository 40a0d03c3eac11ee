package broker_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// syncBuffer is a bytes.Buffer safe for the concurrent log writes of a server.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// opsRun is one scripted run of the broker with the audit stream on: the secrets and
// tokens it used, and its log.
type opsRun struct {
	e       *env
	log     *syncBuffer
	secrets map[string]string // what -> value
	admin   *httptest.Server
}

// scriptedRun signs alice in after one wrong password, exchanges the code (offline_access),
// refreshes, presents the rotated refresh token again (reuse), revokes, signs out, and spends
// a login budget (lockout).
func scriptedRun(t *testing.T) *opsRun {
	t.Helper()
	log := &syncBuffer{}
	e := newEnvOpts(t, envOpts{
		logger: slog.New(slog.NewJSONHandler(log, nil)),
		config: func(cfg *config.Config) { cfg.Audit.Log = true },
	})
	run := &opsRun{e: e, log: log, secrets: map[string]string{
		"password": alicePassword, "client secret": confidentialSecret, "wrong password": "wrong-password-4711",
	}}
	run.admin = httptest.NewServer(e.Gatehouse.AdminHandler())
	t.Cleanup(run.admin.Close)

	b := e.browser()
	p, _ := b.follow(e, b.get(e.authURLFor(nil)), e.issuer)
	action, vals := form(t, p.body)
	vals.Set("username", "alice")
	vals.Set("password", run.secrets["wrong password"])
	if p = b.post(e.issuer+action, vals); p.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", p.status)
	}
	for _, c := range b.c.Jar.Cookies(mustURL(t, e.issuer)) {
		if strings.HasSuffix(c.Name, "gh_last_connector") {
			continue // names the connector chosen last (a metrics label too): not a secret
		}
		run.secrets["cookie "+c.Name] = c.Value
	}

	code, verifier := e.codeFor(b, "openid profile offline_access")
	run.secrets["code"], run.secrets["code_verifier"] = code, verifier
	tok := e.exchangeCode(t, code, verifier)
	for _, k := range []string{"access_token", "id_token", "refresh_token"} {
		run.secrets[k] = tok[k].(string)
	}
	for _, c := range b.c.Jar.Cookies(mustURL(t, e.issuer)) {
		if strings.HasSuffix(c.Name, "gh_last_connector") {
			continue // names the connector chosen last (a metrics label too): not a secret
		}
		run.secrets["cookie "+c.Name] = c.Value
	}
	errCode, next, _ := refresh(t, e, tok["refresh_token"].(string))
	if errCode != "" {
		t.Fatalf("refresh: %s", errCode)
	}
	run.secrets["refreshed access_token"], run.secrets["refreshed refresh_token"] = next["access_token"].(string), next["refresh_token"].(string)
	if errCode, _, _ := refresh(t, e, tok["refresh_token"].(string)); errCode != "invalid_grant" {
		t.Fatalf("reuse of a rotated refresh token: %q, want invalid_grant", errCode)
	}

	code2, verifier2 := e.codeFor(b, "openid")
	tok2 := e.exchangeCode(t, code2, verifier2)
	run.secrets["access_token 2"] = tok2["access_token"].(string)
	if err := revoke(e, tok2["access_token"].(string), confidentialID, confidentialSecret); err != nil {
		t.Fatal(err)
	}
	e.logoutConfirmed(t, b)

	// Spend the client IP's budget (10 failures, alice's included): the 10th attempt here
	// is a lockout.
	for i := range 10 {
		b := e.browser()
		p, _ := b.follow(e, b.get(e.authURLFor(nil)), e.issuer)
		action, vals := form(t, p.body)
		vals.Set("username", "mallory")
		vals.Set("password", run.secrets["wrong password"])
		p = b.post(e.issuer+action, vals)
		if want := map[bool]int{false: 401, true: 429}[i == 9]; p.status != want {
			t.Fatalf("attempt %d: %d, want %d", i+1, p.status, want)
		}
	}
	return run
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// scrape gets /metrics from the admin listener and parses it.
func scrape(t *testing.T, admin string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return fams, string(body)
}

// value is the value of the family's sample whose labels include want (counter, gauge, or a
// histogram's count); ok false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsAfterScriptedLogin scrapes the admin listener after a scripted run and checks
// every gatehouse_* metric's value, and that labels stay bounded.
func TestMetricsAfterScriptedLogin(t *testing.T) {
	run := scriptedRun(t)
	fams, body := scrape(t, run.admin.URL)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64 // -1: present, any value
	}{
		{"gatehouse_logins_total", map[string]string{"connector": "local", "outcome": "success"}, 1}, // the second code reuses the SSO session
		{"gatehouse_logins_total", map[string]string{"connector": "local", "outcome": "bad_credentials"}, 10},
		{"gatehouse_logins_total", map[string]string{"connector": "local", "outcome": "rate_limited"}, 1},
		{"gatehouse_tokens_issued_total", map[string]string{"grant_type": "authorization_code", "client": confidentialID}, 2},
		{"gatehouse_tokens_issued_total", map[string]string{"grant_type": "refresh_token", "client": confidentialID}, 1},
		{"gatehouse_refresh_reuse_detected_total", nil, 1},
		{"gatehouse_http_requests_total", map[string]string{"route": "/token", "method": "POST", "code": "200"}, 3},
		{"gatehouse_http_requests_total", map[string]string{"route": "/token", "method": "POST", "code": "400"}, 1},
		{"gatehouse_http_requests_total", map[string]string{"route": "/login/{connector}", "method": "POST", "code": "429"}, 1},
		{"gatehouse_http_request_duration_seconds", map[string]string{"route": "/authorize", "method": "GET"}, 13},
		{"gatehouse_connector_request_duration_seconds", map[string]string{"connector": "local", "op": "login"}, 11},
		{"gatehouse_connector_up", map[string]string{"connector": "local"}, 1},
		{"gatehouse_storage_op_duration_seconds", map[string]string{"op": "insert audit_events"}, 20}, // one per audit event,
		{"gatehouse_storage_op_duration_seconds", map[string]string{"op": "tx"}, -1},
		{"gatehouse_signing_key_age_seconds", nil, -1},
		{"gatehouse_build_info", nil, 1},
		{"go_goroutines", nil, -1},
		{"process_cpu_seconds_total", nil, -1},
	}
	for _, tt := range tests {
		got, ok := value(fams, tt.name, tt.labels)
		if !ok || (tt.want >= 0 && got != tt.want) {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	// Labels are patterns and configured IDs: no request path, user or token in the scrape.
	for what, v := range run.secrets {
		if strings.Contains(body, v) {
			t.Errorf("the scrape contains the %s", what)
		}
	}
	for _, bad := range []string{"mallory", "alice", "/login/local"} {
		if strings.Contains(body, bad) {
			t.Errorf("the scrape contains %q (unbounded label)", bad)
		}
	}
	t.Logf("scrape excerpt:\n%s", excerpt(body, "gatehouse_logins_total", "gatehouse_tokens_issued_total", "gatehouse_refresh_reuse", "gatehouse_connector_up", "gatehouse_build_info"))
}

// excerpt keeps the scrape's lines that start with one of the prefixes.
func excerpt(body string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestAuditTrailOfScriptedRun: every act of the run is one stored event (and one "audit" log
// line), and no password, secret, code, token or cookie value of the run appears in them.
func TestAuditTrailOfScriptedRun(t *testing.T) {
	run := scriptedRun(t)
	events, err := run.e.store.(storage.AuditStore).ListAuditEvents(t.Context(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range events {
		count[ev.Type+"/"+ev.Outcome]++
		if ev.RequestID == "" && ev.Type != audit.UserAdded {
			t.Errorf("event %s/%s has no request ID", ev.Type, ev.Outcome)
		}
		if ev.Type == audit.Login && ev.IP != "127.0.0.1" {
			t.Errorf("login event IP = %q", ev.IP)
		}
	}
	want := map[string]int{
		"user.added/success": 1, "login/bad_credentials": 10, "login/success": 1, "login/rate_limited": 1,
		"consent.given/success": 1, "token.issued/success": 2, "token.refreshed/success": 1,
		"token.refresh_reuse/family_revoked": 1, "token.revoked/success": 1, "logout/success": 1,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s events: %d, want %d (all: %v)", k, count[k], n, count)
		}
	}
	stored, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	stream := run.log.String()
	if got := strings.Count(stream, `"msg":"audit"`); got != len(events) {
		t.Errorf("%d audit log lines, want %d (one per stored event)", got, len(events))
	}
	for what, v := range run.secrets {
		if len(v) < 8 {
			t.Fatalf("secret %s too short to grep for: %q", what, v)
		}
		if bytes.Contains(stored, []byte(v)) {
			t.Errorf("a stored audit event contains the %s", what)
		}
		for _, line := range strings.Split(stream, "\n") {
			if strings.Contains(line, `"msg":"audit"`) && strings.Contains(line, v) {
				t.Errorf("an audit log line contains the %s: %s", what, line)
			}
		}
	}
}

// TestMetricsEndpointDownNeverSlowsLogin: with the admin listener gone and a scrape stalled on
// a connection, a login completes as fast as ever and is still counted.
func TestMetricsEndpointDownNeverSlowsLogin(t *testing.T) {
	e := newEnv(t)
	admin := httptest.NewServer(e.Gatehouse.AdminHandler())
	stalled, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", admin.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n")); err != nil { // never finished
		t.Fatal(err)
	}
	admin.Listener.Close() // down for everyone else
	start := time.Now()
	b := e.browser()
	if code, _ := e.codeFor(b, "openid"); code == "" {
		t.Fatal("no code")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("login took %s with the metrics endpoint down", d)
	}
	if v, _ := value(gather(t, e), "gatehouse_logins_total", map[string]string{"outcome": "success"}); v != 1 {
		t.Errorf("logins counted with the endpoint down: %v, want 1", v)
	}
}

// gather reads the broker's metrics without a listener.
func gather(t *testing.T, e *env) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := e.Gatehouse.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]*dto.MetricFamily{}
	for _, f := range mfs {
		fams[f.GetName()] = f
	}
	return fams
}

// TestMFAAuditAndMetrics: enrolment, wrong codes and the lockout of the second factor are
// audit events and gatehouse_mfa_total counts, by method and outcome.
func TestMFAAuditAndMetrics(t *testing.T) {
	e := newMFAEnv(t, mfa.Required)
	r := e.rp(confidentialID, confidentialSecret, redirectURI)
	secret, _, _ := e.enrolTOTP(t, e.browser(), r) // one wrong enrolment code, then the right one
	e.clock.Advance(30 * time.Second)
	b := e.browser()
	p, _ := e.passwordStep(b, e.authURL(r, oauth2.GenerateVerifier()))
	for range 5 {
		p = e.submitMFA(b, p, "totp", map[string]string{"code": "999999"})
	}
	if p = e.submitMFA(b, p, "totp", map[string]string{"code": totpCode(t, secret, e.clock.Now())}); p.status != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt: %d, want 429", p.status)
	}
	fams := gather(t, e.env)
	for _, tt := range []struct {
		outcome string
		want    float64
	}{{"enrolled", 1}, {"bad_code", 6}, {"rate_limited", 1}} {
		if got, _ := value(fams, "gatehouse_mfa_total", map[string]string{"method": "totp", "outcome": tt.outcome}); got != tt.want {
			t.Errorf("gatehouse_mfa_total{totp,%s} = %v, want %v", tt.outcome, got, tt.want)
		}
	}
	events, err := e.store.(storage.AuditStore).ListAuditEvents(t.Context(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range events {
		if strings.HasPrefix(ev.Type, "mfa.") {
			count[ev.Type+"/"+ev.Outcome+"/"+ev.Detail["method"]]++
			if ev.User == "" {
				t.Errorf("%s event without a user", ev.Type)
			}
		}
	}
	want := map[string]int{"mfa.enrol/success/totp": 1, "mfa.verify/bad_code/totp": 6, "mfa.verify/rate_limited/totp": 1}
	if fmt.Sprint(count) != fmt.Sprint(want) {
		t.Errorf("MFA events %v, want %v", count, want)
	}
}

// TestUpstreamDownIsCounted: a password login while the upstream is down is an
// upstream_error login, and the connector reads down until a call succeeds again.
func TestUpstreamDownIsCounted(t *testing.T) {
	e := newEnv(t)
	e.upstreamDown.Store(true)
	b := e.browser()
	p, _ := b.follow(e, b.get(e.authURLFor(nil)), e.issuer)
	action, vals := form(t, p.body)
	vals.Set("username", "alice")
	vals.Set("password", alicePassword)
	if p = b.post(e.issuer+action, vals); p.status < 500 {
		t.Fatalf("login with the upstream down: %d, want a 5xx page", p.status)
	}
	fams := gather(t, e)
	if got, _ := value(fams, "gatehouse_logins_total", map[string]string{"connector": "local", "outcome": "upstream_error"}); got != 1 {
		t.Errorf("upstream_error logins = %v, want 1", got)
	}
	if got, _ := value(fams, "gatehouse_connector_up", map[string]string{"connector": "local"}); got != 0 {
		t.Errorf("connector_up with the upstream down = %v, want 0", got)
	}
	e.upstreamDown.Store(false)
	if code, _ := e.codeFor(e.browser(), "openid"); code == "" {
		t.Fatal("no code after the upstream came back")
	}
	if got, _ := value(gather(t, e), "gatehouse_connector_up", map[string]string{"connector": "local"}); got != 1 {
		t.Errorf("connector_up after the upstream came back = %v, want 1", got)
	}
}
