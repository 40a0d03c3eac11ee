package logctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// TestMiddlewareRequestID proves the X-Request-Id of a request is believed only from a
// trusted proxy and only when sane; every response carries the ID its handler saw.
func TestMiddlewareRequestID(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, header string
		keep                 bool
	}{
		{"trusted proxy, sane ID", "10.1.2.3:4000", "abc-123_XYZ.9", true},
		{"trusted proxy, UUID", "10.1.2.3:4000", "0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"untrusted peer", "192.0.2.7:4000", "abc-123", false},
		{"trusted proxy, space", "10.1.2.3:4000", "abc 123", false},
		{"trusted proxy, too long", "10.1.2.3:4000", strings.Repeat("a", MaxIDLen+1), false},
		{"trusted proxy, control byte", "10.1.2.3:4000", "abc\x01", false},
		{"trusted proxy, markup", "10.1.2.3:4000", "<script>", false},
		{"trusted proxy, non-ASCII", "10.1.2.3:4000", "abcé", false},
		{"trusted proxy, none", "10.1.2.3:4000", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			h := Middleware(trusted, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestID(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.remote
			if tt.header != "" {
				req.Header.Set(Header, tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(Header)
			if got == "" || got != seen {
				t.Fatalf("response ID %q, handler saw %q", got, seen)
			}
			if tt.keep != (got == tt.header) {
				t.Fatalf("ID %q for header %q; want kept=%v", got, tt.header, tt.keep)
			}
			if !tt.keep && (len(got) != 26 || !ValidID(got)) {
				t.Fatalf("fresh ID %q is not 26 sane characters", got)
			}
		})
	}
}

// TestNewIDUnique proves generated IDs differ.
func TestNewIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if seen[id] {
			t.Fatalf("duplicate ID %q", id)
		}
		seen[id] = true
	}
}

// TestHandlerAddsContext proves a line logged with a request's context carries its ID and
// the attributes added with Add (later Add wins), that a key the line or the logger already
// names is not repeated, and that an open group does not swallow them.
func TestHandlerAddsContext(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := WithRequestID(context.Background(), "rid-1")
	Add(ctx, "client_id", "old", "connector", "ldap")
	Add(ctx, slog.String("client_id", "app"), "username", "alice")

	line := func(f func()) map[string]any {
		t.Helper()
		buf.Reset()
		f()
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("%v: %s", err, buf.String())
		}
		return m
	}
	m := line(func() { log.InfoContext(ctx, "x", "connector", "local") })
	if m[Key] != "rid-1" || m["client_id"] != "app" || m["username"] != "alice" || m["connector"] != "local" {
		t.Fatalf("line = %v", m)
	}
	if n := strings.Count(buf.String(), `"connector"`); n != 1 {
		t.Fatalf("connector appears %d times: %s", n, buf.String())
	}
	m = line(func() { log.With("connector", "saml").InfoContext(ctx, "x") })
	if m["connector"] != "saml" || strings.Count(buf.String(), `"connector"`) != 1 {
		t.Fatalf("With attribute repeated or lost: %s", buf.String())
	}
	m = line(func() { log.WithGroup("g").With("a", 1).InfoContext(ctx, "x", "b", 2) })
	g, _ := m["g"].(map[string]any)
	if m[Key] != "rid-1" || m["client_id"] != "app" || g["a"] != 1.0 || g["b"] != 2.0 {
		t.Fatalf("grouped line = %s", buf.String())
	}
	m = line(func() { log.Info("no context") })
	if _, ok := m[Key]; ok {
		t.Fatalf("line without a request carries an ID: %s", buf.String())
	}
}

// TestDurationsSameInTextAndJSON proves a duration prints as "1.5s" in both formats (slog's
// JSON handler alone prints 1500000000).
func TestDurationsSameInTextAndJSON(t *testing.T) {
	opts := &slog.HandlerOptions{ReplaceAttr: ReplaceAttr}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, opts)).Info("x", "took", 1500*time.Millisecond, slog.Group("g", "d", 2*time.Minute))
	slog.New(slog.NewJSONHandler(&js, opts)).Info("x", "took", 1500*time.Millisecond, slog.Group("g", "d", 2*time.Minute))
	if !strings.Contains(text.String(), "took=1.5s") || !strings.Contains(text.String(), "g.d=2m0s") {
		t.Fatalf("text: %s", text.String())
	}
	if !strings.Contains(js.String(), `"took":"1.5s"`) || !strings.Contains(js.String(), `"d":"2m0s"`) {
		t.Fatalf("json: %s", js.String())
	}
}

// TestHandlerAddsTraceID proves a log line of a traced request carries trace_id and span_id
// next to request_id, a line of a traced context without a request ID still carries them, and
// a line without a span carries neither.
func TestHandlerAddsTraceID(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	traced := trace.ContextWithSpanContext(context.Background(), sc)
	tests := []struct {
		name      string
		ctx       context.Context
		rid, want string
	}{
		{"request and span", trace.ContextWithSpanContext(WithRequestID(context.Background(), "rid-1"), sc), "rid-1", tid.String()},
		{"span only", traced, "", tid.String()},
		{"request only", WithRequestID(context.Background(), "rid-2"), "rid-2", ""},
		{"neither", context.Background(), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).InfoContext(tt.ctx, "x")
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			got, _ := m[TraceKey].(string)
			rid, _ := m[Key].(string)
			if got != tt.want || rid != tt.rid {
				t.Fatalf("line = %s", buf.String())
			}
			if tt.want != "" && m[SpanKey] != sid.String() {
				t.Fatalf("span_id missing: %s", buf.String())
			}
		})
	}
}
