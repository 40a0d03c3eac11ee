package route

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPrefixAndWrapping proves each kind of route is registered under the issuer path with
// its own wrapper, and only that one.
func TestPrefixAndWrapping(t *testing.T) {
	tag := func(name string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("X-Wrapped", name)
				h.ServeHTTP(w, r)
			})
		}
	}
	ok := func(w http.ResponseWriter, r *http.Request) {}
	for _, prefix := range []string{"", "/auth"} {
		mux := http.NewServeMux()
		m := New(mux, prefix, tag("api"), tag("page"), tag("browser"))
		m.API("POST /token", ok)
		m.Page("GET /authorize", ok)
		m.Browser("POST /consent", ok)
		m.Plain("GET /healthz", http.HandlerFunc(ok))
		for _, tc := range []struct{ method, path, want string }{
			{"POST", "/token", "api"}, {"GET", "/authorize", "page"}, {"POST", "/consent", "browser"}, {"GET", "/healthz", ""},
		} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tc.method, prefix+tc.path, nil))
			if rec.Code != http.StatusOK || rec.Header().Get("X-Wrapped") != tc.want {
				t.Errorf("prefix %q: %s %s: status %d, wrapped %q; want 200, %q", prefix, tc.method, tc.path, rec.Code, rec.Header().Get("X-Wrapped"), tc.want)
			}
		}
		if prefix != "" {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("POST", "/token", nil))
			if rec.Code != http.StatusNotFound {
				t.Errorf("route outside the prefix answered %d", rec.Code)
			}
		}
	}
}

// TestInstrumentEveryKind: with Instrument set, every kind of route passes through it with
// the pattern as its package registered it (no prefix), outside the kind's own wrapper.
func TestInstrumentEveryKind(t *testing.T) {
	var seen []string
	mux := http.NewServeMux()
	id := func(h http.Handler) http.Handler { return h }
	m := New(mux, "/auth", id, id, id)
	m.Instrument(func(pattern string, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = append(seen, pattern)
			h.ServeHTTP(w, r)
		})
	})
	ok := func(w http.ResponseWriter, r *http.Request) {}
	m.API("POST /token", ok)
	m.Page("GET /authorize", ok)
	m.Browser("POST /login/{connector}", ok)
	m.Plain("GET /healthz", http.HandlerFunc(ok))
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/auth/token", "POST /token"}, {"GET", "/auth/authorize", "GET /authorize"},
		{"POST", "/auth/login/local", "POST /login/{connector}"}, {"GET", "/auth/healthz", "GET /healthz"},
	} {
		seen = nil
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, nil))
		if len(seen) != 1 || seen[0] != tc.want {
			t.Errorf("%s %s: instrumented as %v, want [%s]", tc.method, tc.path, seen, tc.want)
		}
	}
}
