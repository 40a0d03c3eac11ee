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

// TestDocumentMachineGrants: what issue 17 adds is advertised: client_credentials and
// private_key_jwt always, the device grant and its endpoint only when the broker has them.
func TestDocumentMachineGrants(t *testing.T) {
	for _, device := range []bool{false, true} {
		rec := serve(t, Provider{Issuer: "https://id.example/auth", SigningAlgorithms: []string{"RS256"}, DeviceAuthorization: device},
			"/auth/.well-known/openid-configuration", nil)
		var doc struct {
			GrantTypes  []string `json:"grant_types_supported"`
			Device      string   `json:"device_authorization_endpoint"`
			TokenAuth   []string `json:"token_endpoint_auth_methods_supported"`
			IntroAuth   []string `json:"introspection_endpoint_auth_methods_supported"`
			RevokeAuth  []string `json:"revocation_endpoint_auth_methods_supported"`
			TokenSigAlg []string `json:"token_endpoint_auth_signing_alg_values_supported"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		has := func(list []string, v string) bool {
			for _, x := range list {
				if x == v {
					return true
				}
			}
			return false
		}
		if !has(doc.GrantTypes, "urn:ietf:params:oauth:grant-type:token-exchange") {
			t.Errorf("device %v: token exchange not advertised: %v", device, doc.GrantTypes)
		}
		if !has(doc.GrantTypes, "client_credentials") || !has(doc.TokenAuth, "private_key_jwt") || !has(doc.IntroAuth, "private_key_jwt") ||
			!has(doc.RevokeAuth, "private_key_jwt") || !has(doc.TokenSigAlg, "ES256") || has(doc.TokenSigAlg, "HS256") || has(doc.TokenSigAlg, "none") {
			t.Errorf("device %v: %+v", device, doc)
		}
		wantDevice := ""
		if device {
			wantDevice = "https://id.example/auth/device/code"
		}
		if doc.Device != wantDevice || has(doc.GrantTypes, "urn:ietf:params:oauth:grant-type:device_code") != device {
			t.Errorf("device %v: endpoint %q, grant types %v", device, doc.Device, doc.GrantTypes)
		}
	}
}

// TestDocumentLogout: back- and front-channel logout (with session IDs) are advertised
// exactly when the storage keeps the logout queue (issue 18); the *_session_supported
// members are absent otherwise.
func TestDocumentLogout(t *testing.T) {
	for _, on := range []bool{false, true} {
		rec := serve(t, Provider{Issuer: "https://id.example/auth", Logout: on}, "/auth/.well-known/openid-configuration", nil)
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"backchannel_logout_supported", "frontchannel_logout_supported"} {
			if doc[k] != on {
				t.Errorf("logout %v: %s = %v", on, k, doc[k])
			}
		}
		for _, k := range []string{"backchannel_logout_session_supported", "frontchannel_logout_session_supported"} {
			if v, has := doc[k]; has != on || (on && v != true) {
				t.Errorf("logout %v: %s = %v (present %v)", on, k, v, has)
			}
		}
	}
}
