package oidc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

// hugeBody streams n bytes of JSON-ish filler without a Content-Length.
func hugeBody(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "application/json")
	chunk := []byte(`{"issuer":"` + strings.Repeat("x", 64<<10))
	for sent := 0; sent < n; sent += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return // the client gave up: what a bounded fetch does
		}
	}
}

// allocDuring returns how many bytes f allocated.
func allocDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Attack (issue 25.5): an upstream (or whoever controls its discovery URL) serves a huge
// discovery document or key set; Gatehouse read it whole (a 300 MiB document grew the heap
// by 600-775 MiB). Every upstream response is capped: the fetch fails fast with bounded
// memory, whatever http.Client the connector was given.
func TestHugeUpstreamDocumentsFailBounded(t *testing.T) {
	const size = 64 << 20
	for _, tc := range []struct {
		name  string
		path  string
		login bool // the document is fetched during a login (Finish), not at discovery
	}{
		{"discovery document", "/.well-known/openid-configuration", false},
		{"JWKS", "/jwks", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newFakeIdP(t)
			inner := s.Config.Handler
			s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == tc.path {
					hugeBody(w, size)
					return
				}
				inner.ServeHTTP(w, r)
			})
			for _, client := range []*http.Client{nil, s.Client()} { // the default and a caller's plain client
				cfg := &oidc.Config{Issuer: s.URL, ClientID: s.ClientID, ClientSecret: s.ClientSecret}
				conn, err := cfg.Open(context.Background(), connectors.Info{ID: "sso", Type: "oidc", Name: "SSO"},
					connectors.Deps{CallbackURL: fakeCallback, HTTP: client})
				if err != nil {
					t.Fatal(err)
				}
				c := conn.(*oidc.Connector)
				ctx := context.Background()
				start := time.Now()
				var ferr error
				alloc := allocDuring(func() {
					if !tc.login {
						ferr = c.Check(ctx)
						return
					}
					step, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: fakeCallback, State: "s"})
					if err != nil {
						ferr = err
						return
					}
					_, ferr = c.Finish(ctx, connectors.FinishRequest{CallbackURL: fakeCallback, State: "s", Stash: step.Stash},
						httptest.NewRequest("GET", s.Authorize(t, step.URL, "ann"), nil))
				})
				if ferr == nil {
					t.Fatal("a huge document was accepted")
				}
				if alloc > 16<<20 {
					t.Errorf("allocated %d MiB reading a %d MiB document (err %.200s)", alloc>>20, size>>20, ferr)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("took %v to refuse", d)
				}
			}
		})
	}
}

// Attack (issue 25.5): a discovery document names a jwks_uri (or token or userinfo endpoint)
// on another host, or over plain http, and Gatehouse fetched it server-side (SSRF towards
// internal services, keys from a host the issuer does not control). Discovered endpoints are
// fetched only over https on the issuer's host or a configured endpoint_hosts entry; a
// loopback issuer may name loopback endpoints (tests).
func TestDiscoveredEndpointsStayOnIssuerHost(t *testing.T) {
	for _, tc := range []struct {
		name     string
		override map[string]string
		hosts    []string
		userinfo bool
		wantErr  string
	}{
		{"jwks_uri on another host", map[string]string{"jwks_uri": "https://evil.example/jwks"}, nil, false, "jwks_uri"},
		{"jwks_uri on a private address", map[string]string{"jwks_uri": "https://10.0.0.1/jwks"}, nil, false, "jwks_uri"},
		{"token_endpoint on another host", map[string]string{"token_endpoint": "https://evil.example/token"}, nil, false, "token_endpoint"},
		{"userinfo on another host", map[string]string{"userinfo_endpoint": "https://evil.example/ui"}, nil, true, "userinfo_endpoint"},
		{"allowed host, but http", map[string]string{"jwks_uri": "http://keys.example/jwks"}, []string{"keys.example"}, false, "https"},
		{"allowed host over https", map[string]string{"jwks_uri": "https://KEYS.example/jwks"}, []string{"keys.example"}, false, ""},
		{"userinfo elsewhere, not fetched", map[string]string{"userinfo_endpoint": "https://evil.example/ui"}, nil, false, ""},
		{"all on the loopback issuer", nil, nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeoauth.New(t)
			inner := s.Config.Handler
			s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/.well-known/openid-configuration" {
					inner.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				s.Discovery(rec, r)
				var doc map[string]any
				_ = json.Unmarshal(rec.Body.Bytes(), &doc)
				for k, v := range tc.override {
					doc[k] = v
				}
				fakeoauth.JSON(w, 200, doc)
			})
			c := openFake(t, s, nil, func(c *oidc.Config) { c.EndpointHosts, c.GetUserInfo = tc.hosts, tc.userinfo })
			err := c.Check(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Check: err = %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateEndpointHosts(t *testing.T) {
	for _, tc := range []struct {
		hosts []string
		ok    bool
	}{
		{[]string{"keys.example.com", "10.1.2.3"}, true},
		{[]string{"https://keys.example.com"}, false},
		{[]string{"keys.example.com:443"}, false},
		{[]string{"keys.example.com/jwks"}, false},
		{[]string{""}, false},
	} {
		err := (&oidc.Config{Issuer: "https://sso.example.com", ClientID: "c", EndpointHosts: tc.hosts}).Validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "endpoint_hosts[0]")) {
			t.Errorf("endpoint_hosts %q: err = %v, want ok=%v", tc.hosts, err, tc.ok)
		}
	}
}
