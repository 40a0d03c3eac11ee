package oauth2err

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		err  *Error
		want int
	}{
		{New(InvalidRequest, "x"), 400},
		{New(InvalidGrant, "x"), 400},
		{New(InvalidScope, "x"), 400},
		{New(UnsupportedGrantType, "x"), 400},
		{New(InvalidClient, "x"), 401},
		{New(InvalidToken, "x"), 401},
		{New(InsufficientScope, "x"), 403},
		{New(AccessDenied, "x"), 403},
		{New(ServerError, "x"), 500},
		{New(TemporarilyUnavailable, "x"), 503},
		{&Error{Code: InvalidRequest, Status: 413}, 413},
	}
	for _, tt := range tests {
		t.Run(string(tt.err.Code), func(t *testing.T) {
			if got := tt.err.HTTPStatus(); got != tt.want {
				t.Errorf("HTTPStatus() = %d, want %d", got, tt.want)
			}
		})
	}
}

func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", b, err)
	}
	return m
}

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		basic     bool
		status    int
		wantBody  map[string]any
		challenge string // "" = no WWW-Authenticate
	}{
		{
			name: "invalid_grant", err: New(InvalidGrant, "code expired"), status: 400,
			wantBody: map[string]any{"error": "invalid_grant", "error_description": "code expired"},
		},
		{
			name: "no description omitted", err: New(InvalidRequest, ""), status: 400,
			wantBody: map[string]any{"error": "invalid_request"},
		},
		{
			name: "invalid_client with basic", err: New(InvalidClient, "client authentication failed"), basic: true, status: 401,
			wantBody:  map[string]any{"error": "invalid_client", "error_description": "client authentication failed"},
			challenge: `Basic realm="gatehouse", charset="UTF-8"`,
		},
		{
			name: "invalid_client without basic", err: New(InvalidClient, "client authentication failed"), status: 401,
			wantBody:  map[string]any{"error": "invalid_client", "error_description": "client authentication failed"},
			challenge: `Basic realm="gatehouse", charset="UTF-8"`,
		},
		{
			name: "invalid_client with basic and a status override is still 401", basic: true,
			err: &Error{Code: InvalidClient, Description: "no", Status: 400}, status: 401,
			wantBody:  map[string]any{"error": "invalid_client", "error_description": "no"},
			challenge: `Basic realm="gatehouse", charset="UTF-8"`,
		},
		{
			name: "foreign error", err: errors.New("db password=hunter2 unreachable"), status: 500,
			wantBody: map[string]any{"error": "server_error", "error_description": "internal error"},
		},
		{
			name: "wrapped Error keeps its code", err: fmt.Errorf("token: %w", New(InvalidGrant, "reused")), status: 400,
			wantBody: map[string]any{"error": "invalid_grant", "error_description": "reused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/token", nil)
			if tt.basic {
				r.SetBasicAuth("c", "s")
			}
			w := httptest.NewRecorder()
			WriteJSON(w, r, tt.err)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if got := w.Header().Get("Pragma"); got != "no-cache" {
				t.Errorf("Pragma = %q, want no-cache", got)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			got := decodeBody(t, w.Body.Bytes())
			if len(got) != len(tt.wantBody) {
				t.Errorf("body = %v, want %v", got, tt.wantBody)
			}
			for k, v := range tt.wantBody {
				if got[k] != v {
					t.Errorf("body[%q] = %v, want %v", k, got[k], v)
				}
			}
			if strings.Contains(w.Body.String(), "hunter2") {
				t.Errorf("body leaks the cause: %s", w.Body)
			}
		})
	}
}

func TestWriteJSONNilRequest(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, nil, New(InvalidClient, "x"))
	if w.Code != 401 {
		t.Errorf("status = %d, want 401", w.Code)
	}
}

func TestWriteBearer(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		status    int
		challenge string
		body      string // "" = no body; otherwise the error code
	}{
		{
			name: "no credentials (empty code)", err: &Error{Code: "", Status: http.StatusUnauthorized},
			status: 401, challenge: `Bearer realm="gatehouse"`,
		},
		{
			name: "no credentials (empty code, no status)", err: &Error{},
			status: 401, challenge: `Bearer realm="gatehouse"`,
		},
		{
			name: "no credentials (nil)", err: nil,
			status: 401, challenge: `Bearer realm="gatehouse"`,
		},
		{
			name: "invalid_token", err: New(InvalidToken, "the access token expired"), status: 401,
			challenge: `Bearer realm="gatehouse", error="invalid_token", error_description="the access token expired"`,
			body:      "invalid_token",
		},
		{
			name: "insufficient_scope", err: New(InsufficientScope, "needs openid"), status: 403,
			challenge: `Bearer realm="gatehouse", error="insufficient_scope", error_description="needs openid"`,
			body:      "insufficient_scope",
		},
		{
			name: "invalid_request", err: New(InvalidRequest, "malformed Authorization header"), status: 400,
			challenge: `Bearer realm="gatehouse", error="invalid_request", error_description="malformed Authorization header"`,
			body:      "invalid_request",
		},
		{
			name: "description with quotes and non-ASCII is sanitised", err: New(InvalidToken, "bad \"token\"\\ é\n"), status: 401,
			challenge: `Bearer realm="gatehouse", error="invalid_token", error_description="bad token "`,
			body:      "invalid_token",
		},
		{
			name: "no description", err: New(InvalidToken, ""), status: 401,
			challenge: `Bearer realm="gatehouse", error="invalid_token"`,
			body:      "invalid_token",
		},
		{
			name: "server error carries no error code in the challenge", err: errors.New("boom"), status: 500,
			challenge: `Bearer realm="gatehouse"`,
			body:      "server_error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteBearer(w, tt.err)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if tt.body == "" {
				if w.Body.Len() != 0 {
					t.Errorf("body = %q, want none", w.Body)
				}
				if ct := w.Header().Get("Content-Type"); ct != "" {
					t.Errorf("Content-Type = %q for an empty body", ct)
				}
				return
			}
			got := decodeBody(t, w.Body.Bytes())
			if got["error"] != tt.body {
				t.Errorf("body error = %v, want %s", got["error"], tt.body)
			}
			if strings.Contains(w.Body.String(), `"error":""`) {
				t.Errorf("body has an empty error code: %s", w.Body)
			}
		})
	}
}

func TestAs(t *testing.T) {
	cause := errors.New("sqlite: disk I/O error at /var/lib/secret.db")
	t.Run("foreign", func(t *testing.T) {
		e := As(fmt.Errorf("store: %w", cause))
		if e.Code != ServerError {
			t.Fatalf("Code = %q, want server_error", e.Code)
		}
		if strings.Contains(e.Description, "sqlite") || strings.Contains(e.Error(), "secret.db") {
			t.Errorf("description leaks the cause: %q / %q", e.Description, e.Error())
		}
		if !errors.Is(e, cause) {
			t.Errorf("cause is not kept for errors.Is")
		}
	})
	t.Run("own error unchanged", func(t *testing.T) {
		in := New(InvalidGrant, "x")
		if got := As(in); got != in {
			t.Errorf("As returned a different *Error")
		}
	})
	t.Run("wrapped own error found", func(t *testing.T) {
		in := New(AccessDenied, "no")
		if got := As(fmt.Errorf("a: %w", fmt.Errorf("b: %w", in))); got != in {
			t.Errorf("As did not unwrap to the *Error")
		}
	})
	t.Run("Server", func(t *testing.T) {
		e := Server(cause)
		if e.Code != ServerError || e.HTTPStatus() != 500 || strings.Contains(e.Description, "disk") {
			t.Errorf("Server() = %+v", e)
		}
	})
}

func TestErrorString(t *testing.T) {
	if got := New(InvalidScope, "").Error(); got != "invalid_scope" {
		t.Errorf("Error() = %q", got)
	}
	if got := New(InvalidScope, "unknown scope").Error(); got != "invalid_scope: unknown scope" {
		t.Errorf("Error() = %q", got)
	}
	cause := errors.New("inner")
	e := New(InvalidGrant, "x").WithCause(cause)
	if !errors.Is(e, cause) || errors.Unwrap(e) != cause {
		t.Errorf("WithCause/Unwrap lost the cause")
	}
}

func TestLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	e := New(InvalidGrant, "refresh token reused").WithCause(errors.New("family 42 revoked"))
	log.Info("token", "err", e)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	g, ok := m["err"].(map[string]any)
	if !ok {
		t.Fatalf("err is not a group: %s", buf.String())
	}
	want := map[string]any{"error": "invalid_grant", "description": "refresh token reused", "cause": "family 42 revoked"}
	for k, v := range want {
		if g[k] != v {
			t.Errorf("err.%s = %v, want %v", k, g[k], v)
		}
	}

	buf.Reset()
	log.Info("token", "err", New(InvalidRequest, ""))
	if strings.Contains(buf.String(), "cause") || strings.Contains(buf.String(), "description") {
		t.Errorf("empty fields logged: %s", buf.String())
	}
}

func TestDegrade(t *testing.T) {
	down := func(context.Context) bool { return true }
	up := func(context.Context) bool { return false }
	ctx := context.Background()
	if e := As(Degrade(ctx, Server(errors.New("db")), down)); e.Code != TemporarilyUnavailable || e.HTTPStatus() != http.StatusServiceUnavailable {
		t.Errorf("server_error with storage down: %s %d", e.Code, e.HTTPStatus())
	}
	if e := As(Degrade(ctx, Server(errors.New("bug")), up)); e.Code != ServerError {
		t.Errorf("server_error with storage up: %s", e.Code)
	}
	if e := As(Degrade(ctx, New(InvalidGrant, "x"), down)); e.Code != InvalidGrant {
		t.Errorf("invalid_grant with storage down: %s", e.Code)
	}
	if e := As(Degrade(ctx, Server(errors.New("db")), nil)); e.Code != ServerError {
		t.Errorf("no storage check: %s", e.Code)
	}
}
