package broker_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
)

// logBuffer collects JSON log lines written concurrently by the server.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the decoded log lines whose msg is msg.
func (l *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newLoggedEnv is newEnv whose broker logs JSON through the request-context handler (as
// cmd/gatehouse wires it) into the returned buffer.
func newLoggedEnv(t *testing.T, opts ...func(*broker.Deps)) (*env, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts = append(opts, func(d *broker.Deps) {
		d.Logger = slog.New(logctx.NewHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{ReplaceAttr: logctx.ReplaceAttr})))
	})
	return newEnvClaims(t, "RS256", nil, opts...), logs
}

// TestErrorPagesShowRequestID proves every kind of error page carries the request ID as a
// reference, that it is the ID of the X-Request-Id response header, and that the log line
// the request wrote carries the same ID (before the fix errorData.RequestID was never set
// and there was no header).
func TestErrorPagesShowRequestID(t *testing.T) {
	e, logs := newLoggedEnv(t)
	tests := []struct {
		name, method, path, contentType, logMsg string
		status                                  int
	}{
		{"unknown client", http.MethodGet, "/authorize?client_id=nope&response_type=code", "", "authorization request refused", http.StatusBadRequest},
		{"expired sign-in", http.MethodGet, "/login/local?req=gone", "", "", http.StatusBadRequest},
		{"multipart body", http.MethodPost, "/login/local", "multipart/form-data; boundary=x", "request body refused", http.StatusUnsupportedMediaType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.issuer+tc.path, strings.NewReader("--x--"))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			p := e.browser().do(req)
			id := p.header.Get(logctx.Header)
			if p.status != tc.status || id == "" {
				t.Fatalf("status %d, %s %q", p.status, logctx.Header, id)
			}
			if !strings.Contains(p.body, "Reference: <code>"+id+"</code>") {
				t.Fatalf("page does not show the reference %q:\n%s", id, p.body)
			}
			if tc.logMsg == "" {
				return
			}
			if !hasLine(logs.lines(t, tc.logMsg), logctx.Key, id) {
				t.Fatalf("no %q line with request_id %q:\n%s", tc.logMsg, id, logs)
			}
		})
	}
}

// hasLine reports whether one of lines has key == value.
func hasLine(lines []map[string]any, key, value string) bool {
	for _, l := range lines {
		if l[key] == value {
			return true
		}
	}
	return false
}

// TestProxyRequestID proves a proxy's X-Request-Id is kept (response header and log line)
// only when the proxy is in TrustedProxies and the ID is sane; otherwise a fresh ID is used.
func TestProxyRequestID(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		sent    string
		keep    bool
	}{
		{"trusted proxy", loopback, "edge-7f3a9c", true},
		{"untrusted peer", nil, "edge-7f3a9c", false},
		{"trusted proxy, ID with a space", loopback, "edge 7f3a9c", false},
		{"trusted proxy, ID too long", loopback, strings.Repeat("x", logctx.MaxIDLen+1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, logs := newLoggedEnv(t, func(d *broker.Deps) { d.TrustedProxies = tc.trusted })
			req, _ := http.NewRequest(http.MethodGet, e.issuer+"/authorize?client_id=nope", nil)
			req.Header.Set(logctx.Header, tc.sent)
			p := e.browser().do(req)
			id := p.header.Get(logctx.Header)
			if (id == tc.sent) != tc.keep || id == "" {
				t.Fatalf("sent %q, got %q; want kept=%v", tc.sent, id, tc.keep)
			}
			if !hasLine(logs.lines(t, "authorization request refused"), logctx.Key, id) {
				t.Fatalf("no log line with request_id %q:\n%s", id, logs)
			}
		})
	}
}

// TestLoginLogLines proves the log lines written deep in a password login carry the
// request's ID and what an operator needs (client_id, connector, username: "login failed"
// had no username before), and never the password.
func TestLoginLogLines(t *testing.T) {
	e, logs := newLoggedEnv(t)
	_, challenge := pkce(oauth2.GenerateVerifier())
	auth := e.issuer + "/authorize?" + url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge},
		"code_challenge_method": {"S256"}}.Encode()
	const wrong = "not-the-password-4711"
	tests := []struct {
		name, msg string
		down      bool
		status    int
	}{
		{"bad password", "login failed", false, http.StatusUnauthorized},
		{"upstream down", "upstream unavailable", true, http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.upstreamDown.Store(tc.down)
			defer e.upstreamDown.Store(false)
			b := e.browser()
			p, _ := b.follow(e, b.get(auth), auth)
			action, vals := form(t, p.body)
			vals.Set("username", "alice")
			vals.Set("password", wrong)
			p = b.post(e.issuer+action, vals)
			id := p.header.Get(logctx.Header)
			if p.status != tc.status || id == "" {
				t.Fatalf("status %d, id %q:\n%s", p.status, id, p.body)
			}
			var line map[string]any
			for _, l := range logs.lines(t, tc.msg) {
				if l[logctx.Key] == id {
					line = l
				}
			}
			want := map[string]string{"client_id": confidentialID, "connector": "local", "username": "alice"}
			for k, v := range want {
				if line[k] != v {
					t.Fatalf("%q line: %s = %v, want %q (line %v)\n%s", tc.msg, k, line[k], v, line, logs)
				}
			}
			if strings.Contains(logs.String(), wrong) {
				t.Fatalf("the password reached the log:\n%s", logs)
			}
		})
	}
}

// TestPanicShowsRequestID proves a handler's panic answers 500 quoting the request ID, and
// the panic's log line carries it.
func TestPanicShowsRequestID(t *testing.T) {
	e, logs := newLoggedEnv(t, func(d *broker.Deps) {
		d.Mounts = map[string]http.Handler{"/boom": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })}
	})
	p := e.browser().get(e.issuer + "/boom")
	id := p.header.Get(logctx.Header)
	if p.status != http.StatusInternalServerError || id == "" || !strings.Contains(p.body, id) {
		t.Fatalf("status %d, id %q, body %q", p.status, id, p.body)
	}
	if !hasLine(logs.lines(t, "panic serving request"), logctx.Key, id) {
		t.Fatalf("no panic line with request_id %q:\n%s", id, logs)
	}
}

// TestFlowLogLinesNameTheUser proves that once a login is done, later steps of the flow
// (consent, the code) log the user's username and connector besides the client.
func TestFlowLogLinesNameTheUser(t *testing.T) {
	e, logs := newLoggedEnv(t)
	_, challenge := pkce(oauth2.GenerateVerifier())
	auth := e.issuer + "/authorize?" + url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge},
		"code_challenge_method": {"S256"}}.Encode()
	e.login(e.browser(), auth, alicePassword, true)
	for _, msg := range []string{"consent given", "authorization code issued"} {
		lines := logs.lines(t, msg)
		if len(lines) != 1 || lines[0]["username"] != "alice" || lines[0]["connector"] != "local" ||
			lines[0]["client_id"] != confidentialID || lines[0][logctx.Key] == nil {
			t.Fatalf("%q lines = %v\n%s", msg, lines, logs)
		}
	}
}
