package saml_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzFinish feeds arbitrary SAMLResponse values to Finish. It must never panic, and may
// only succeed for the identity the IdP really signed: no mutation forges another one.
func FuzzFinish(f *testing.F) {
	ti := newIdP(f, idpOptions{})
	b := newBrowser(f)
	// An unencrypted response, so that mutations reach the signed XML itself. (Encrypted
	// responses are covered by the flow tests; RSA decryption under the fuzzer's coverage
	// instrumentation is too slow to fuzz.)
	s := newSP(f, ti, spOptions{})
	action, vals, step := s.login(f, b, "st")
	s.clock.Freeze() // the captured response stays within its validity window
	raw, err := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{raw, []byte("<Response/>"), []byte(""), []byte("\x00\xff"),
		[]byte(strings.Replace(string(raw), "staff", "root!", 1)),
		[]byte(strings.Replace(string(raw), aliceSubject, "admin", 1))} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, encode bool) {
		v := withRaw(vals, data)
		if !encode {
			v.Set("SAMLResponse", string(data))
		}
		up, err := s.finish("st", step.Stash, action, v)
		if err != nil {
			return
		}
		if up.Subject != aliceSubject || up.Email != "alice@example.com" || !slices.Equal(up.Groups, []string{"admins", "staff"}) {
			t.Fatalf("forged identity accepted: %+v", up)
		}
	})
}

// FuzzReadLogoutRequest feeds arbitrary LogoutRequests (HTTP-POST and HTTP-Redirect) to the
// connector's single logout service. Nothing the fuzzer makes is signed by the IdP, so every
// one must be refused, and none may panic.
func FuzzReadLogoutRequest(f *testing.F) {
	ti := newIdP(f, idpOptions{})
	s := newSP(f, ti, spOptions{upstreamLogout: true})
	slo := "http://127.0.0.1:5556/saml/sp/okta/slo"
	now := time.Now().UTC().Format(time.RFC3339)
	unsigned := `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="id-1" Version="2.0" IssueInstant="` +
		now + `" Destination="` + slo + `"><saml:Issuer>` + ti.srv.URL + `/metadata</saml:Issuer><saml:NameID>` + aliceSubject +
		`</saml:NameID><samlp:SessionIndex>si-1</samlp:SessionIndex></samlp:LogoutRequest>`
	for _, seed := range []string{unsigned, "<LogoutRequest/>", "", "\x00\xff", strings.Replace(unsigned, "id-1", "", 1)} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, post bool) {
		enc := base64.StdEncoding.EncodeToString(data)
		var r *http.Request
		if post {
			r = httptest.NewRequest(http.MethodPost, slo, strings.NewReader(url.Values{"SAMLRequest": {enc}, "RelayState": {"r"}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			r = httptest.NewRequest(http.MethodGet, slo+"?"+url.Values{"SAMLRequest": {enc}, "RelayState": {"r"}}.Encode(), nil)
		}
		if req, err := s.conn.ReadLogoutRequest(context.Background(), r); err == nil {
			t.Fatalf("an unsigned LogoutRequest was accepted: %+v", req)
		}
	})
}
