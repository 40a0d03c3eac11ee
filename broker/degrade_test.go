package broker_test

import (
	"net/http"
	"net/url"
	"testing"
)

// With the database gone, the token endpoint and userinfo answer 503 temporarily_unavailable
// (so clients retry), not 500.
func TestStorageDownAnswers503(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	code, verifier := e.codeFor(b, "openid offline_access")
	_, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	errCode, _ := tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, confidentialID, confidentialSecret)
	if errCode != "temporarily_unavailable" {
		t.Errorf("refresh with storage down: %q, want temporarily_unavailable", errCode)
	}
	if st := userinfoStatus(t, e, tok["access_token"].(string)); st != http.StatusServiceUnavailable {
		t.Errorf("userinfo with storage down: %d, want 503", st)
	}
}
