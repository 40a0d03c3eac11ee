package broker_test

import (
	"net/url"
	"reflect"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/config"
)

// resourceConfig allows the web app two resource indicators.
func resourceConfig(cfg *config.Config) {
	for i := range cfg.Clients {
		if cfg.Clients[i].ID == confidentialID {
			cfg.Clients[i].Resources = []string{"https://api.example/", "https://b.example/"}
		}
	}
}

// authorizeURL is an authorization request of the web app with PKCE and extra parameters.
func (e *env) authorizeURL(scope string, extra url.Values) (authURL, verifier string) {
	verifier, challenge := pkce(oauth2.GenerateVerifier())
	q := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {scope},
		"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return e.issuer + "/authorize?" + q.Encode(), verifier
}

// TestResourceIndicators: resource at /authorize (RFC 8707 2.1) is kept with the request,
// its code and its grant; at the token endpoint it narrows the access token's aud
// (code and refresh), never beyond what was authorized; refusals are invalid_target.
func TestResourceIndicators(t *testing.T) {
	e := newEnvOpts(t, envOpts{config: resourceConfig})
	b := e.browser()
	both := url.Values{"resource": {"https://api.example/", "https://b.example/"}}
	redeem := func(t *testing.T, extra url.Values) (string, map[string]any) {
		t.Helper()
		authURL, verifier := e.authorizeURL("openid offline_access", both)
		code := callbackParams(t, e.login(b, authURL, alicePassword, true)).Get("code")
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
		for k, v := range extra {
			f[k] = v
		}
		return tokenRequest(t, e, f, confidentialID, confidentialSecret)
	}
	aud := func(t *testing.T, body map[string]any) any {
		t.Helper()
		return jwtClaims(t, body["access_token"].(string))["aud"]
	}

	errCode, tok := redeem(t, nil)
	if errCode != "" || !reflect.DeepEqual(aud(t, tok), []any{"https://api.example/", "https://b.example/"}) {
		t.Fatalf("code without resource: %q, aud %v", errCode, tok)
	}
	if idAud := jwtClaims(t, tok["id_token"].(string))["aud"]; idAud != confidentialID {
		t.Errorf("ID token aud %v, want the client", idAud)
	}
	rt := tok["refresh_token"].(string)
	tests := []struct {
		name    string
		form    url.Values
		errCode string
		aud     any
	}{
		{"refresh narrows to one", url.Values{"grant_type": {"refresh_token"}, "resource": {"https://b.example/"}}, "", "https://b.example/"},
		{"refresh without resource: all granted", url.Values{"grant_type": {"refresh_token"}}, "", []any{"https://api.example/", "https://b.example/"}},
		{"refresh beyond the grant", url.Values{"grant_type": {"refresh_token"}, "resource": {"https://c.example/"}}, "invalid_target", nil},
		{"refresh with a relative resource", url.Values{"grant_type": {"refresh_token"}, "resource": {"api"}}, "invalid_target", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("refresh_token", rt)
			errCode, body := tokenRequest(t, e, tc.form, confidentialID, confidentialSecret)
			if errCode != tc.errCode {
				t.Fatalf("error %q (%v), want %q", errCode, body, tc.errCode)
			}
			if errCode == "" {
				rt = body["refresh_token"].(string)
				if got := aud(t, body); !reflect.DeepEqual(got, tc.aud) {
					t.Errorf("aud %v, want %v", got, tc.aud)
				}
			}
		})
	}
	t.Run("code narrows to one", func(t *testing.T) {
		errCode, body := redeem(t, url.Values{"resource": {"https://api.example/"}})
		if errCode != "" || aud(t, body) != "https://api.example/" {
			t.Fatalf("%q, %v", errCode, body)
		}
	})
	t.Run("code beyond the authorization", func(t *testing.T) {
		if errCode, body := redeem(t, url.Values{"resource": {"https://c.example/"}}); errCode != "invalid_target" {
			t.Fatalf("%q, %v", errCode, body)
		}
	})
	t.Run("no resource: the client", func(t *testing.T) {
		code, verifier := e.codeFor(b, "openid")
		_, body := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
		if aud(t, body) != confidentialID {
			t.Fatalf("aud %v", aud(t, body))
		}
	})
	for name, res := range map[string]string{"not allowed": "https://c.example/", "relative": "/api", "fragment": "https://api.example/#x"} {
		t.Run("authorize refuses "+name, func(t *testing.T) {
			authURL, _ := e.authorizeURL("openid", url.Values{"resource": {res}})
			p := b.get(authURL)
			if p.status != 302 && p.status != 303 {
				t.Fatalf("status %d, want a redirect to the client", p.status)
			}
			if q := callbackParams(t, p.location); q.Get("error") != "invalid_target" || q.Get("state") != "s" {
				t.Fatalf("redirect %s", p.location)
			}
		})
	}
}

// TestResourceIndicatorsPushed: resource in a pushed authorization request (RFC 9126 with
// RFC 8707) reaches the code and narrows its access token like one sent to /authorize; a
// resource the client may not have is refused at /par with invalid_target.
func TestResourceIndicatorsPushed(t *testing.T) {
	e := newEnvOpts(t, envOpts{config: resourceConfig})
	verifier, challenge := pkce(oauth2.GenerateVerifier())
	form := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"st-1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		"resource": {"https://b.example/"}}
	if st, body := push(t, e, url.Values{"client_id": form["client_id"], "redirect_uri": form["redirect_uri"], "response_type": {"code"},
		"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {"https://c.example/"}},
		confidentialID, confidentialSecret); st != 400 || body["error"] != "invalid_target" {
		t.Fatalf("push with a resource not allowed: %d %v", st, body)
	}
	uri := pushOK(t, e, form, confidentialID, confidentialSecret)
	to := e.login(e.browser(), e.issuer+"/authorize?"+url.Values{"client_id": {confidentialID}, "request_uri": {uri}}.Encode(), alicePassword, true)
	errCode, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {callbackParams(t, to).Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
	if errCode != "" || jwtClaims(t, tok["access_token"].(string))["aud"] != "https://b.example/" {
		t.Fatalf("token: %q %v", errCode, tok)
	}
}
