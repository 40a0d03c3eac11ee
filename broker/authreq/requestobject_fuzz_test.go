package authreq

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// FuzzRequestObject feeds untrusted request objects to the verifier for a keyed client
// that also allows unsigned objects (so the claims checks run on fuzzed payloads): it must
// never panic, refuse with invalid_request_object, and accept only objects whose iss is the
// client and whose aud names the issuer.
func FuzzRequestObject(f *testing.F) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k", Algorithm: "ES256", Use: "sig"}}}
	c := &clients.Client{ID: "c", Keys: clients.StaticKeys{Set: set}, AllowUnsignedRequestObjects: true}
	now := time.Unix(1_800_000_000, 0)
	v := &RequestObjects{Issuer: "https://id.example", Now: func() time.Time { return now }}
	enc := base64.RawURLEncoding.EncodeToString
	good := `{"iss":"c","aud":"https://id.example","exp":1800000060,"client_id":"c","scope":"openid","max_age":5,"claims":{"id_token":{"acr":null}}}`
	f.Add(enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(good)) + ".")
	f.Add(enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"iss":"c","aud":["x","https://id.example"],"exp":1e10}`)) + ".")
	f.Add(enc([]byte(`{"alg":"ES256","kid":"k"}`)) + "." + enc([]byte(good)) + ".c2ln")
	f.Add("a.b.c.d.e")
	f.Add("..")
	f.Fuzz(func(t *testing.T, raw string) {
		params, err := v.Verify(context.Background(), c, raw)
		if err != nil {
			if e := oauth2err.As(err); e.Code != oauth2err.InvalidRequestObject {
				t.Fatalf("error code %s", e.Code)
			}
			return
		}
		for _, k := range []string{"iss", "aud", "exp", "request", "request_uri"} {
			if params.Has(k) {
				t.Fatalf("accepted object leaked %s into the parameters", k)
			}
		}
		if id := params.Get("client_id"); id != "" && id != "c" {
			t.Fatalf("accepted client_id %q", id)
		}
		parts := strings.Split(raw, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		_ = json.Unmarshal(payload, &claims)
		if claims["iss"] != "c" {
			t.Fatalf("accepted iss %v", claims["iss"])
		}
	})
}

// FuzzClaimsParam feeds untrusted claims parameters to the parser: it must never panic,
// and what it accepts is bounded.
func FuzzClaimsParam(f *testing.F) {
	for _, s := range []string{
		`{"id_token":{"acr":{"essential":true,"values":["mfa","pwd"]},"email":null},"userinfo":{"name":{"essential":false}}}`,
		`{"userinfo":{"email":{"value":"a@b"}}}`, `{}`, `null`, `[]`, `{"id_token":[]}`, `{"id_token":{"":null}}`,
		`{"id_token":{"sub":{"value":"u1","values":["u1","u2"]}},"userinfo":{"sub":{"values":["u2"]}}}`,
		`{"id_token":{"sub":{"values":[]}}}`, `{"id_token":{"sub":{"value":""}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cr, err := ParseClaimsRequest(s)
		if err != nil {
			return
		}
		if len(s) > MaxClaimsParam || len(cr.IDToken)+len(cr.UserInfo) > maxClaimsRequested {
			t.Fatalf("accepted an unbounded parameter (%d bytes, %d claims)", len(s), len(cr.IDToken)+len(cr.UserInfo))
		}
		for name, c := range cr.IDToken {
			if name == "" {
				t.Fatal("accepted an empty claim name")
			}
			_ = c.Strings()
		}
		// A sub value or values never reads as "any user": parsed, it demands a non-empty
		// set of non-empty subjects, or the parameter is refused.
		sub, err := cr.subject()
		demands := false
		for _, m := range []map[string]*ClaimRequest{cr.IDToken, cr.UserInfo} {
			if c := m["sub"]; c != nil && (c.Value != nil || c.Values != nil) {
				demands = true
			}
		}
		if err == nil && demands && (len(sub) == 0 || slices.Contains(sub, "")) {
			t.Fatalf("sub demanded but the subjects are %q", sub)
		}
	})
}
