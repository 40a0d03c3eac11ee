package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
)

// TestLoggerFormats proves the process logger prints a duration the same way ("1.5s") in
// text and JSON (slog's JSON handler printed 1500000000 before) and adds the request ID of
// the context in both formats.
func TestLoggerFormats(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(config.Logging{Level: "info", Format: format}, &buf)
			ctx := logctx.WithRequestID(context.Background(), "rid-42")
			log.InfoContext(ctx, "done", "took", 1500*time.Millisecond)
			out := buf.String()
			want := map[string][]string{
				"text": {"took=1.5s", "request_id=rid-42"},
				"json": {`"took":"1.5s"`, `"request_id":"rid-42"`},
			}[format]
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Fatalf("%s line %q lacks %q", format, out, w)
				}
			}
		})
	}
}

// TestServeRequestIDs proves, through the real serve wiring, that a response carries
// X-Request-Id, that its error page quotes it and that the JSON log line of that request
// carries it as request_id.
func TestServeRequestIDs(t *testing.T) {
	p := runServe(t, "", fmt.Sprintf(`storage:
  type: sqlite
  config:
    file: %s
logging:
  level: info
  format: json
connectors:
  - type: local
    id: local
    name: Local
`, filepath.Join(t.TempDir(), "gh.db")))
	p.waitFor(t, "/readyz", http.StatusOK, 20*time.Second)
	resp, err := http.Get(p.base + "/authorize?client_id=nope")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get(logctx.Header)
	if id == "" || !strings.Contains(string(body), "Reference: <code>"+id+"</code>") {
		t.Fatalf("X-Request-Id %q; page:\n%s", id, body)
	}
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "authorization request refused" && m["request_id"] == id {
			return
		}
	}
	t.Fatalf("no log line with request_id %q:\n%s", id, p.stderr.String())
}
