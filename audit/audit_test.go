package audit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// memStore is an AuditStore in memory that can fail.
type memStore struct {
	events []storage.AuditEvent
	fail   error
}

func (m *memStore) AppendAuditEvent(_ context.Context, e storage.AuditEvent) error {
	if m.fail != nil {
		return m.fail
	}
	m.events = append(m.events, e)
	return nil
}

func (m *memStore) ListAuditEvents(context.Context, storage.AuditFilter) ([]storage.AuditEvent, error) {
	return m.events, nil
}

func (m *memStore) DeleteAuditEventsBefore(context.Context, time.Time) (int64, error) { return 0, nil }

// inRequest runs f with the context of a request from 192.0.2.7 through logctx.Middleware.
func inRequest(f func(ctx context.Context)) {
	h := logctx.Middleware(nil, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { f(r.Context()) }))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "192.0.2.7:4242"
	h.ServeHTTP(httptest.NewRecorder(), req)
}

func TestTrailStoresAndStreams(t *testing.T) {
	fixed := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		stream     bool
		fail       error
		wantStored int
		wantLog    []string
	}{
		{"stored, no stream", false, nil, 1, nil},
		{"stored and streamed", true, nil, 1, []string{`"msg":"audit"`, `"type":"login"`, `"outcome":"bad_credentials"`, `"ip":"192.0.2.7"`, `"detail":{"a":"1","b":"2"}`}},
		{"storage failure is logged, not lost silently", false, errors.New("disk full"), 0, []string{`"level":"ERROR"`, "audit: event not stored", "disk full"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, nil))
			st := &memStore{fail: tt.fail}
			tr := &audit.Trail{Store: st, Logger: logger, Now: func() time.Time { return fixed }}
			if tt.stream {
				tr.Stream = logger
			}
			var reqID string
			inRequest(func(ctx context.Context) {
				reqID = logctx.RequestID(ctx)
				tr.Record(ctx, audit.Event{Type: audit.Login, Outcome: audit.OutcomeBadCredentials, User: "alice",
					Detail: map[string]string{"b": "2", "a": "1"}})
			})
			if len(st.events) != tt.wantStored {
				t.Fatalf("stored %d events, want %d", len(st.events), tt.wantStored)
			}
			if tt.wantStored == 1 {
				e := st.events[0]
				if e.ID == "" || !e.Time.Equal(fixed) || e.RequestID != reqID || e.IP != "192.0.2.7" {
					t.Errorf("event = %+v; want an ID, the clock's time, request ID %s and the client IP", e, reqID)
				}
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %s:\n%s", w, logs.String())
				}
			}
			if !tt.stream && tt.fail == nil && logs.Len() != 0 {
				t.Errorf("logged without audit.log: %s", logs.String())
			}
		})
	}
}

// TestMulti: every recorder sees every event; Nop sees nothing and never fails.
func TestMulti(t *testing.T) {
	a, b := &memStore{}, &memStore{}
	m := audit.Multi{&audit.Trail{Store: a}, audit.Nop{}, &audit.Trail{Store: b}}
	m.Record(context.Background(), audit.Event{Type: audit.Logout})
	if len(a.events) != 1 || len(b.events) != 1 || a.events[0].ID == b.events[0].ID && a.events[0].ID == "" {
		t.Fatalf("a %v, b %v: want one event each", a.events, b.events)
	}
}
