//go:build unix

package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// BenchmarkPushedRequest measures a push to /par (client_secret_basic, validation, a blob
// written) and the /authorize that takes it (a blob read and deleted, the auth request
// stored, the redirect to the login), against a plain /authorize for comparison; "signed"
// pushes an ES256 request object instead of plain parameters.
func BenchmarkPushedRequest(b *testing.B) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	k := clientKey{priv: priv, kid: "k1"}
	e := parEnv(b, k, false)
	_, challenge := pkce(oauth2.GenerateVerifier())
	push := func(form url.Values, basic bool) string {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/par", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(confidentialID, confidentialSecret)
		}
		rec := e.call(req)
		var body struct {
			RequestURI string `json:"request_uri"`
		}
		if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			b.Fatalf("push: %d %s", rec.Code, rec.Body)
		}
		return body.RequestURI
	}
	authorize := func(q url.Values) {
		req, _ := http.NewRequest(http.MethodGet, e.issuer+"/authorize?"+q.Encode(), nil)
		if rec := e.call(req); rec.Code != http.StatusSeeOther && rec.Code != http.StatusFound {
			b.Fatalf("authorize: %d %s", rec.Code, rec.Body)
		}
	}
	b.Run("plain-authorize", func(b *testing.B) {
		done := measureCPU(b)
		for b.Loop() {
			authorize(authParams(confidentialID, redirectURI, challenge))
		}
		done()
	})
	b.Run("push+authorize", func(b *testing.B) {
		done := measureCPU(b)
		for b.Loop() {
			authorize(url.Values{"client_id": {confidentialID}, "request_uri": {push(authParams(confidentialID, redirectURI, challenge), true)}})
		}
		done()
	})
	b.Run("signed-object-authorize", func(b *testing.B) {
		obj := requestObject(b, e, k, challenge, nil) // no replay check: one object serves every request
		done := measureCPU(b)
		for b.Loop() {
			authorize(url.Values{"client_id": {jarID}, "request": {obj}})
		}
		done()
	})
}
