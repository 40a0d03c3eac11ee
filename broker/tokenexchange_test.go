package broker_test

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/dpop/dpoptest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	grantExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	typeAccess    = "urn:ietf:params:oauth:token-type:access_token"
	typeID        = "urn:ietf:params:oauth:token-type:id_token"
	midID         = "svc-mid"
	midSecret     = "svc-mid-secret"
)

// exchangeConfig lets the harness's web app exchange its users' tokens (delegation and
// impersonation, access and ID tokens) for api-b, api-c or svc-mid, and for the resource
// https://api.example/; svc-mid (a service) may only delegate, for api-c.
func exchangeConfig(cfg *config.Config) {
	for i := range cfg.Clients {
		if cfg.Clients[i].ID == confidentialID {
			c := &cfg.Clients[i]
			c.GrantTypes = []string{"authorization_code", "refresh_token", "client_credentials", grantExchange}
			c.Resources = []string{"https://api.example/"}
			c.TokenExchange = &config.TokenExchange{Audiences: []string{"api-b", "api-c", midID},
				SubjectTokenTypes: []string{"access_token", "id_token"}, Delegation: true, Impersonation: true}
		}
	}
	cfg.Clients = append(cfg.Clients, config.Client{ID: midID, Secret: midSecret,
		GrantTypes:    []string{"client_credentials", grantExchange},
		TokenExchange: &config.TokenExchange{Audiences: []string{"api-c"}, SubjectTokenTypes: []string{"access_token", "id_token"}, Delegation: true}})
}

// exchangeForm is a token exchange request for the subject token of the type, with extra.
func exchangeForm(subject, typ string, extra ...string) url.Values {
	f := url.Values{"grant_type": {grantExchange}, "subject_token": {subject}, "subject_token_type": {typ}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Add(extra[i], extra[i+1])
	}
	return f
}

// userTokens logs alice in at the web app and returns its access and ID tokens and its
// refresh token.
func userTokens(t *testing.T, e *env) (at, idt, rt string) {
	t.Helper()
	code, verifier := e.codeFor(e.browser(), "openid profile offline_access")
	errCode, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
	if errCode != "" {
		t.Fatalf("code exchange: %s %v", errCode, tok)
	}
	return tok["access_token"].(string), tok["id_token"].(string), tok["refresh_token"].(string)
}

// serviceToken is a client_credentials token of the client (its sub is the client).
func serviceToken(t *testing.T, e *env, id, secret string) string {
	t.Helper()
	errCode, tok := tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}}, id, secret)
	if errCode != "" {
		t.Fatalf("client_credentials for %s: %s %v", id, errCode, tok)
	}
	return tok["access_token"].(string)
}

// TestTokenExchange drives RFC 8693 through the token endpoint: impersonation and
// delegation, nested act, ID token subjects, audience and resource narrowing, and the
// refusals RFC 8693 2.2.2 and RFC 8707 name. Exchanged tokens are checked by introspection.
func TestTokenExchange(t *testing.T) {
	e := newEnvOpts(t, envOpts{config: exchangeConfig})
	at, idt, _ := userTokens(t, e)
	actor := serviceToken(t, e, confidentialID, confidentialSecret)
	aliceSub := jwtClaimsOf(t, at)["sub"]
	tests := []struct {
		name       string
		id, secret string
		form       url.Values
		errCode    string
		want       map[string]any // claims of the exchanged token (subset)
		scope      string
	}{
		{"impersonation for api-b", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "audience", "api-b"), "",
			map[string]any{"sub": aliceSub, "aud": "api-b", "client_id": confidentialID, "act": nil}, "openid profile"},
		{"default audience", confidentialID, confidentialSecret, exchangeForm(at, typeAccess), "",
			map[string]any{"aud": "api-b"}, "openid profile"},
		{"delegation: act is the actor", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "audience", "api-c", "actor_token", actor, "actor_token_type", typeAccess), "",
			map[string]any{"sub": aliceSub, "aud": "api-c", "act": map[string]any{"sub": confidentialID}}, "openid profile"},
		{"audience and resource, narrower scope", confidentialID, confidentialSecret,
			exchangeForm(at, typeAccess, "audience", "api-b", "resource", "https://api.example/", "scope", "profile"), "",
			map[string]any{"aud": []any{"api-b", "https://api.example/"}}, "profile"},
		{"ID token subject", confidentialID, confidentialSecret, exchangeForm(idt, typeID, "audience", "api-b"), "",
			map[string]any{"sub": aliceSub, "aud": "api-b", "client_id": confidentialID}, ""},
		{"refused audience", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "audience", "api-evil"), "invalid_target", nil, ""},
		{"refused resource", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "resource", "https://other.example/"), "invalid_target", nil, ""},
		{"relative resource", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "resource", "/api"), "invalid_target", nil, ""},
		{"resource with a fragment", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "resource", "https://api.example/#x"), "invalid_target", nil, ""},
		{"scope beyond the subject token", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "scope", "email"), "invalid_scope", nil, ""},
		{"offline_access never passes", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "scope", "offline_access"), "invalid_scope", nil, ""},
		{"access token sent as id_token", confidentialID, confidentialSecret, exchangeForm(at, typeID), "invalid_request", nil, ""},
		{"ID token sent as access_token", confidentialID, confidentialSecret, exchangeForm(idt, typeAccess), "invalid_request", nil, ""},
		{"unsupported subject_token_type", confidentialID, confidentialSecret, exchangeForm(at, "urn:ietf:params:oauth:token-type:saml2"), "invalid_request", nil, ""},
		{"no subject_token", confidentialID, confidentialSecret, exchangeForm("", typeAccess), "invalid_request", nil, ""},
		{"refresh token requested", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"), "invalid_request", nil, ""},
		{"invalid actor token", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "actor_token", "not-a-token", "actor_token_type", typeAccess), "invalid_request", nil, ""},
		{"actor token without its type", confidentialID, confidentialSecret, exchangeForm(at, typeAccess, "actor_token", actor), "invalid_request", nil, ""},
		{"tampered subject token", confidentialID, confidentialSecret, exchangeForm(at[:len(at)-4]+"AAAA", typeAccess), "invalid_request", nil, ""},
		{"another client's ID token", midID, midSecret, exchangeForm(idt, typeID, "actor_token", serviceToken(t, e, midID, midSecret), "actor_token_type", typeAccess), "invalid_request", nil, ""},
		{"another client's access token", midID, midSecret, exchangeForm(at, typeAccess, "actor_token", serviceToken(t, e, midID, midSecret), "actor_token_type", typeAccess), "invalid_request", nil, ""},
		{"impersonation refused by policy", midID, midSecret, exchangeForm(at, typeAccess), "invalid_request", nil, ""},
		{"client without a policy", otherID, otherSecret, exchangeForm(at, typeAccess), "unauthorized_client", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errCode, body := tokenRequest(t, e, tc.form, tc.id, tc.secret)
			if errCode != tc.errCode {
				t.Fatalf("error %q (%v), want %q", errCode, body, tc.errCode)
			}
			if tc.errCode != "" {
				return
			}
			if body["issued_token_type"] != typeAccess || body["token_type"] != "Bearer" || body["refresh_token"] != nil || body["id_token"] != nil || body["scope"] != nilIfEmpty(tc.scope) {
				t.Errorf("response %v", body)
			}
			got := jwtClaimsOf(t, body["access_token"].(string))
			for k, v := range tc.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("claim %s = %v, want %v", k, got[k], v)
				}
			}
			if st, in := introspect(t, e, body["access_token"].(string), tc.id, tc.secret); st != http.StatusOK || in["active"] != true {
				t.Errorf("introspection of the exchanged token: %d %v", st, in)
			}
		})
	}
}

// TestTokenExchangeAudit: every exchange is one token.issued audit event naming the subject
// token type, audience, mode and actor, and never a token.
func TestTokenExchangeAudit(t *testing.T) {
	e := newEnvOpts(t, envOpts{config: exchangeConfig})
	at, _, _ := userTokens(t, e)
	actor := serviceToken(t, e, confidentialID, confidentialSecret)
	for _, f := range []url.Values{exchangeForm(at, typeAccess, "audience", "api-b"),
		exchangeForm(at, typeAccess, "audience", "api-c", "actor_token", actor, "actor_token_type", typeAccess),
		exchangeForm(at, typeAccess, "audience", "api-evil")} {
		tokenRequest(t, e, f, confidentialID, confidentialSecret)
	}
	events, err := e.store.(storage.AuditStore).ListAuditEvents(t.Context(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		if ev.Type != "token.issued" || ev.Detail["grant_type"] != grantExchange {
			continue
		}
		for _, v := range ev.Detail {
			if strings.Contains(v, at) || strings.Contains(v, actor) {
				t.Errorf("a token in the audit detail: %v", ev.Detail)
			}
		}
		if ev.User == "" || ev.ClientID != confidentialID || ev.Detail["subject_token_type"] != typeAccess || ev.Detail["grant"] == "" {
			t.Errorf("event %+v", ev)
		}
		got = append(got, ev.Detail["mode"]+":"+ev.Detail["audience"]+":"+ev.Detail["actor"])
	}
	slices.Sort(got)
	if want := []string{"delegation:api-c:" + confidentialID, "impersonation:api-b:"}; !slices.Equal(got, want) {
		t.Errorf("exchange events %v, want %v", got, want)
	}
}

// nilIfEmpty is what a decoded omitempty string field holds.
func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jwtClaimsOf decodes a JWT's payload without verifying it.
func jwtClaimsOf(t *testing.T, tok string) map[string]any { return jwtClaims(t, tok) }

// TestTokenExchangeChain: a delegated token exchanged again by the service it was for keeps
// the earlier actor nested under the new one (RFC 8693 4.1), and the whole chain dies with
// the user's grant; an expired subject token is refused.
func TestTokenExchangeChain(t *testing.T) {
	e := newEnvOpts(t, envOpts{config: exchangeConfig})
	at, _, rt := userTokens(t, e)
	_, first := tokenRequest(t, e, exchangeForm(at, typeAccess, "audience", midID, "actor_token", serviceToken(t, e, confidentialID, confidentialSecret), "actor_token_type", typeAccess), confidentialID, confidentialSecret)
	mid, _ := first["access_token"].(string)
	if mid == "" {
		t.Fatalf("first exchange: %v", first)
	}
	errCode, second := tokenRequest(t, e, exchangeForm(mid, typeAccess, "actor_token", serviceToken(t, e, midID, midSecret), "actor_token_type", typeAccess), midID, midSecret)
	if errCode != "" {
		t.Fatalf("second exchange: %s %v", errCode, second)
	}
	last := second["access_token"].(string)
	want := map[string]any{"sub": midID, "act": map[string]any{"sub": confidentialID}}
	if got := jwtClaimsOf(t, last); !reflect.DeepEqual(got["act"], want) || got["aud"] != "api-c" || got["sub"] != jwtClaimsOf(t, at)["sub"] {
		t.Fatalf("chained token: act %v aud %v sub %v", got["act"], got["aud"], got["sub"])
	}
	// Revoking the user's grant (its refresh token) revokes every token exchanged from it.
	if err := revoke(e, rt, confidentialID, confidentialSecret); err != nil {
		t.Fatal(err)
	}
	if _, in := introspect(t, e, last, midID, midSecret); in["active"] != false {
		t.Errorf("chained token still active after the grant was revoked: %v", in)
	}
	if code := tokenError(t, e, exchangeForm(at, typeAccess), confidentialID, confidentialSecret); code != "invalid_request" {
		t.Errorf("revoked subject token: %q, want invalid_request", code)
	}
	// The chain of actors is bounded: the client re-exchanging its own delegated token adds
	// one actor each time, and the sixth is refused.
	at3, _, _ := userTokens(t, e)
	tok, self := at3, serviceToken(t, e, confidentialID, confidentialSecret)
	for depth := 1; depth <= 6; depth++ {
		code, body := tokenRequest(t, e, exchangeForm(tok, typeAccess, "actor_token", self, "actor_token_type", typeAccess), confidentialID, confidentialSecret)
		if depth == 6 {
			if code != "invalid_request" {
				t.Fatalf("act depth 6: %q %v, want invalid_request", code, body)
			}
			break
		}
		if code != "" {
			t.Fatalf("act depth %d: %q %v", depth, code, body)
		}
		tok = body["access_token"].(string)
	}
	// An expired subject token.
	at2, idt2, _ := userTokens(t, e)
	e.clock.Advance(2 * time.Hour)
	for _, f := range []url.Values{exchangeForm(at2, typeAccess), exchangeForm(idt2, typeID)} {
		if code, body := tokenRequest(t, e, f, confidentialID, confidentialSecret); code != "invalid_request" || !strings.Contains(body["error_description"].(string), "subject_token") {
			t.Errorf("expired %s: %q %v", f.Get("subject_token_type"), code, body)
		}
	}
}

// TestTokenExchangeLogout: an ID token whose SSO session ended is refused as a subject token.
func TestTokenExchangeLogout(t *testing.T) {
	e := newEnvOpts(t, envOpts{config: exchangeConfig})
	b := e.browser()
	code, verifier := e.codeFor(b, "openid")
	_, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
	idt := tok["id_token"].(string)
	if code := tokenError(t, e, exchangeForm(idt, typeID), confidentialID, confidentialSecret); code != "" {
		t.Fatalf("live session: %q", code)
	}
	e.logoutConfirmed(t, b)
	if code := tokenError(t, e, exchangeForm(idt, typeID), confidentialID, confidentialSecret); code != "invalid_request" {
		t.Fatalf("ended session: %q, want invalid_request", code)
	}
}

// TestTokenExchangeDPoP: exchange never unbinds a sender-constrained token (RFC 9449): a
// DPoP-bound subject token is exchanged only with a proof of its own key, and the exchanged
// token is bound to the request's proof key; without a proof it is refused.
func TestTokenExchangeDPoP(t *testing.T) {
	e := newEnvOpts(t, envOpts{config: exchangeConfig})
	code, verifier := e.codeFor(e.browser(), "openid profile")
	k, other := dpoptest.NewKey(), dpoptest.NewKey()
	proof := func(k *dpoptest.Key) string { return k.Proof("POST", e.issuer+"/token", dpoptest.Options{}) }
	r := dpopPost(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}},
		confidentialID, confidentialSecret, proof(k))
	if r.status != http.StatusOK || r.body["token_type"] != "DPoP" {
		t.Fatalf("bound code exchange: %d %v", r.status, r.body)
	}
	bound := r.body["access_token"].(string)
	form := exchangeForm(bound, typeAccess, "audience", "api-b")
	if r := dpopPost(t, e, form, confidentialID, confidentialSecret); r.errCode() != "invalid_request" {
		t.Errorf("bound subject without a proof: %d %v, want invalid_request", r.status, r.body)
	}
	if r := dpopPost(t, e, form, confidentialID, confidentialSecret, proof(other)); r.errCode() != "invalid_request" {
		t.Errorf("bound subject with another key's proof: %d %v, want invalid_request", r.status, r.body)
	}
	r = dpopPost(t, e, form, confidentialID, confidentialSecret, proof(k))
	if r.status != http.StatusOK || r.body["token_type"] != "DPoP" {
		t.Fatalf("bound subject with its key's proof: %d %v", r.status, r.body)
	}
	if cnf, _ := jwtClaims(t, r.body["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != k.JKT() {
		t.Errorf("exchanged token cnf = %v, want jkt %s", cnf, k.JKT())
	}
}
