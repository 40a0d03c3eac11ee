package assembly_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/internal/otlptest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTracingWiredByConfig proves tracing.otlp_endpoint turns tracing on through
// assembly.Build (no peers: the local connector): a login's requests reach the OTLP receiver
// when the Gatehouse is closed (Close flushes), and each log line of a traced request carries
// the trace_id of its span next to request_id.
func TestTracingWiredByConfig(t *testing.T) {
	rc := otlptest.New()
	defer rc.Close()
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	s := brokertest.New(t, brokertest.Options{
		Logger: slog.New(logctx.NewHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		Config: func(cfg *config.Config) {
			one := 1.0
			cfg.Tracing = config.Tracing{OTLPEndpoint: rc.URL, SampleRatio: &one}
			cfg.Users = []config.User{{Username: "alice", Email: "alice@example.com", EmailVerified: true, PasswordHash: string(hash)}}
			cfg.Clients = []config.Client{{ID: "app", Secret: "app-secret-0123456789abcdef", Name: "App", RedirectURIs: []string{"http://127.0.0.1:9999/cb"}}}
		},
	})
	_, challenge := brokertest.PKCE("verifier-0123456789-0123456789-0123456789-01")
	auth := s.Issuer + "/authorize?" + url.Values{"client_id": {"app"}, "redirect_uri": {"http://127.0.0.1:9999/cb"},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"st"}, "code_challenge": {challenge},
		"code_challenge_method": {"S256"}}.Encode()
	if final := s.Login(s.Browser(), auth, "alice", "alice-password", true); !strings.Contains(final, "code=") {
		t.Fatalf("login ended at %s", final)
	}
	if err := s.Gatehouse.Close(); err != nil {
		t.Fatal(err)
	}
	spans := rc.Spans()
	names := map[string]string{} // span name -> trace ID
	for _, sp := range spans {
		names[sp.Name] = sp.TraceID
	}
	for _, want := range []string{"GET /authorize", "POST /login/{connector}", "connector.login", "storage.insert auth_requests"} {
		if names[want] == "" {
			t.Errorf("no %q span; got:\n%s", want, otlptest.Tree(spans))
		}
	}
	traces := map[string]bool{}
	for _, sp := range spans {
		traces[sp.TraceID] = true
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m[logctx.Key] == nil {
			continue // not a request's line
		}
		tid, _ := m[logctx.TraceKey].(string)
		if !traces[tid] {
			t.Errorf("request log line without the trace_id of an exported trace: %s", line)
		}
		checked++
	}
	if checked == 0 {
		t.Fatalf("no request log lines:\n%s", logs.String())
	}
	t.Logf("%d spans in %d traces; %d request log lines carry their trace_id", len(spans), len(traces), checked)
}
