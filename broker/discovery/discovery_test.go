package discovery

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/route"
)

type fixedKeys struct{ body, etag string }

func (k fixedKeys) JWKS() ([]byte, string) { return []byte(k.body), k.etag }

// serve mounts a handler for p under the issuer path /auth and answers one GET.
func serve(t *testing.T, p Provider, path string, hdr http.Header) *httptest.ResponseRecorder {
	t.Helper()
	h, err := New(p, fixedKeys{body: `{"keys":[]}`, etag: `"k1"`})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pass := func(h http.Handler) http.Handler { return h }
	h.Mount(route.New(mux, "/auth", pass, pass, pass))
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

func TestDocument(t *testing.T) {
	for _, acr := range [][]string{nil, {"urn:a", "urn:b"}} {
		fwd := acr != nil
		rec := serve(t, Provider{Issuer: "https://id.example/auth/", ACRValues: acr, SigningAlgorithms: []string{"RS256"}, ForwardAuth: fwd},
			"/auth/.well-known/openid-configuration", nil)
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("status %d, %v", rec.Code, err)
		}
		if doc["token_endpoint"] != "https://id.example/auth/token" || doc["issuer"] != "https://id.example/auth/" {
			t.Errorf("endpoints: %v %v", doc["issuer"], doc["token_endpoint"])
		}
		if _, has := doc["acr_values_supported"]; has != (acr != nil) {
			t.Errorf("acr values %v: acr_values_supported present = %v", acr, has)
		}
		if got, has := doc["gatehouse_forward_auth_endpoint"]; has != fwd || (fwd && got != "https://id.example/auth/forward-auth") {
			t.Errorf("forward auth %v: gatehouse_forward_auth_endpoint = %v", fwd, got)
		}
		if rec.Header().Get("Cache-Control") != "public, max-age=3600" {
			t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
		}
	}
}

func TestJWKSRevalidation(t *testing.T) {
	rec := serve(t, Provider{Issuer: "https://id.example/auth"}, "/auth/keys", nil)
	if rec.Code != http.StatusOK || rec.Header().Get("ETag") != `"k1"` || rec.Body.String() != `{"keys":[]}` {
		t.Fatalf("keys: %d %q %q", rec.Code, rec.Header().Get("ETag"), rec.Body.String())
	}
	rec = serve(t, Provider{Issuer: "https://id.example/auth"}, "/auth/keys", http.Header{"If-None-Match": {`"k1"`}})
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("revalidation: %d with %d bytes, want 304 and none", rec.Code, rec.Body.Len())
	}
}
