package broker_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
)

// refreshStatus presents a refresh token at e and returns the HTTP status and error code.
func refreshStatus(t *testing.T, e *env, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/token",
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(confidentialID, confidentialSecret)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		body.WriteString(string(buf[:n]))
		if err != nil {
			break
		}
	}
	code := ""
	if i := strings.Index(body.String(), `"error":"`); i >= 0 {
		code, _, _ = strings.Cut(body.String()[i+len(`"error":"`):], `"`)
	}
	return resp.StatusCode, code
}

// TestRemovedOrFailedConnectorFailsClosed: the grants and SSO sessions of a connector that
// was removed from the configuration, or failed to open, no longer stand for the user.
// Attack (issue 12 item 5): after the corporate LDAP connector is removed (or while it is
// down and so cannot say the account was disabled), its users keep refreshing tokens with
// the identity of their last sign-in, and their SSO sessions keep signing them in elsewhere.
func TestRemovedOrFailedConnectorFailsClosed(t *testing.T) {
	tests := []struct {
		name       string
		connectors func([]connset.Slot) []connset.Slot
		status     int
		code       string
		revoked    bool // the grant is revoked (else the token stays usable)
	}{
		{"removed", func(cs []connset.Slot) []connset.Slot {
			return []connset.Slot{{Info: connectors.Info{ID: "corp", Type: "local", Name: "Corp"}, Conn: cs[0].Conn}}
		}, http.StatusBadRequest, "invalid_grant", true},
		{"failed to open", func(cs []connset.Slot) []connset.Slot {
			return []connset.Slot{{Info: cs[0].Info, Err: errors.New("directory unreachable")}}
		}, http.StatusServiceUnavailable, "temporarily_unavailable", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			before := newEnvOpts(t, envOpts{dir: dir})
			b := before.browser()
			code, verifier := before.codeFor(b, "openid offline_access")
			_, tok := tokenRequest(t, before, url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
			refresh, _ := tok["refresh_token"].(string)
			if refresh == "" {
				t.Fatalf("no refresh token: %v", tok)
			}

			after := newEnvOpts(t, envOpts{dir: dir, connectors: tt.connectors})
			if status, code := refreshStatus(t, after, refresh); status != tt.status || code != tt.code {
				t.Fatalf("refresh: %d %s, want %d %s", status, code, tt.status, tt.code)
			}
			// Back on a server where the connector works: a revoked grant stays revoked, an
			// unavailable answer did not burn the token.
			status, code := refreshStatus(t, before, refresh)
			if tt.revoked && (status != http.StatusBadRequest || code != "invalid_grant") {
				t.Errorf("refresh after revocation: %d %s, want 400 invalid_grant", status, code)
			}
			if !tt.revoked && status != http.StatusOK {
				t.Errorf("refresh once the connector is back: %d %s, want 200", status, code)
			}

			// The SSO session from the connector does not sign the user in again.
			_, challenge := pkce("v3rifier-v3rifier-v3rifier-v3rifier-v3rifier")
			q := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
				"scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "prompt": {"none"}}
			authURL := after.issuer + "/authorize?" + q.Encode()
			_, to := b.follow(after, b.get(authURL), authURL)
			if cb := callbackParams(t, to); cb.Get("code") != "" || cb.Get("error") != "login_required" {
				t.Errorf("prompt=none with a session of the %s connector: %s, want error=login_required", tt.name, to)
			}
		})
	}
}

// retireSessionConnector rewrites the browser's SSO session as if a connector that is no
// longer configured had established it.
func retireSessionConnector(t *testing.T, e *env, b *browser) {
	t.Helper()
	u, _ := url.Parse(e.issuer)
	var value string
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "gh_sso" {
			value = c.Value
		}
	}
	if value == "" {
		t.Fatal("no SSO cookie")
	}
	ctx := t.Context()
	sess, err := e.store.GetSession(ctx, session.HashID(value))
	if err != nil {
		t.Fatal(err)
	}
	sess.Auth.ConnectorID = "retired-ldap"
	if err := e.store.DeleteSession(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
}

// TestSAMLSSOOfRemovedConnectorNotReused: the SAML IdP does not answer from an SSO session
// whose connector is no longer configured.
// Attack (issue 12 item 5): a session established through a connector that was since removed
// from the configuration keeps getting signed assertions for SAML service providers.
func TestSAMLSSOOfRemovedConnectorNotReused(t *testing.T) {
	ts := newTestSP(t, true)
	e := newSAMLEnv(t, spConfig("wiki", ts, nil))
	e.trust(ts)
	b := e.browser()
	u, reqID := ts.redirectRequest(t, "", nil)
	action, vals := e.samlLogin(b, b.get(u), u, true)
	ts.consume(t, action, vals, reqID)
	retireSessionConnector(t, e, b)
	u2, _ := ts.redirectRequest(t, "", nil)
	p, _ := b.follow(e, b.get(u2), u2)
	if strings.Contains(p.body, "SAMLResponse") || !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("SSO answered from a session of a removed connector: %d\n%s", p.status, p.body)
	}
}

// TestAccountPageOfRemovedConnector: the self-service security page does not accept an SSO
// session whose connector is no longer configured.
// Attack (issue 12 item 5): a session of a removed connector can still change the user's
// second factors (add an authenticator, regenerate recovery codes).
func TestAccountPageOfRemovedConnector(t *testing.T) {
	e := newMFAEnv(t, mfa.Required)
	r := e.rp(confidentialID, confidentialSecret, redirectURI)
	b := e.browser()
	_, _, _ = e.enrolTOTP(t, b, r)
	if p := b.get(e.issuer + "/account"); p.status != http.StatusOK {
		t.Fatalf("account page with a live session: %d", p.status)
	}
	retireSessionConnector(t, e.env, b)
	if p := b.get(e.issuer + "/account"); p.status != http.StatusUnauthorized {
		t.Fatalf("account page with a session of a removed connector: %d, want 401", p.status)
	}
}
