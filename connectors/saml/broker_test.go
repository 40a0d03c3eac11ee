package saml_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	gsaml "github.com/gatehouse-id/gatehouse/connectors/saml"
)

const (
	rpID       = "webapp"
	rpSecret   = "webapp-secret-0123456789"
	rpRedirect = "http://127.0.0.1:9999/callback"
)

// brokerEnv is an in-process Gatehouse with the SAML connector "corp" in front of a test IdP.
type brokerEnv struct {
	issuer string
	srv    *httptest.Server
	idp    *testIdP
	conn   *gsaml.Connector
	gh     *brokertest.Server
}

func newBrokerEnv(t *testing.T, idpOpts idpOptions, mutate func(*gsaml.Config)) *brokerEnv {
	t.Helper()
	return newBrokerEnvTrust(t, idpOpts, mutate, false)
}

// newBrokerEnvTrust is newBrokerEnv with the connector's trust_upstream_mfa.
func newBrokerEnvTrust(t *testing.T, idpOpts idpOptions, mutate func(*gsaml.Config), trustMFA bool) *brokerEnv {
	t.Helper()
	return newBrokerEnvConfig(t, idpOpts, mutate, func(c *config.Config) { c.Connectors[0].TrustUpstreamMFA = trustMFA })
}

// newBrokerEnvConfig is newBrokerEnv with adjust applied to Gatehouse's configuration.
func newBrokerEnvConfig(t *testing.T, idpOpts idpOptions, mutate func(*gsaml.Config), adjust func(*config.Config)) *brokerEnv {
	t.Helper()
	ti := newIdP(t, idpOpts)
	cfg := &gsaml.Config{
		IDPMetadataURL: ti.metadataURL(),
		Attributes:     gsaml.AttributeMap{Email: "mail", Name: "displayName", Username: "uid", Groups: "eduPersonAffiliation"},
		TrustEmail:     true,
	}
	if mutate != nil {
		mutate(cfg)
	}
	var conn *gsaml.Connector
	s := brokertest.New(t, brokertest.Options{
		// The test's connector config, as it is.
		Registry: func(local.UserSource) connectors.Registry {
			return connectors.Registry{"saml": func() connectors.Config { return cfg }}
		},
		Config: func(c *config.Config) {
			c.Connectors = []config.ConnectorBlock{{Type: "saml", ID: "corp", Name: "Corp SSO"}}
			c.Clients = []config.Client{{ID: rpID, Secret: rpSecret, Name: "Web App", RedirectURIs: []string{rpRedirect}}}
			if adjust != nil {
				adjust(c)
			}
		},
		Slots: func(slots []connset.Slot) []connset.Slot {
			if slots[0].Err != nil {
				t.Fatal(slots[0].Err)
			}
			conn = slots[0].Conn.(*gsaml.Connector)
			return slots
		},
	})

	// The IdP administrator imports the SP metadata from its URL.
	md := newBrowser(t).get(conn.EntityID())
	if md.status != http.StatusOK || !strings.Contains(md.body, "AssertionConsumerService") {
		t.Fatalf("SP metadata at %s: %d %s", conn.EntityID(), md.status, md.body)
	}
	ti.register("gatehouse", []byte(md.body))
	return &brokerEnv{issuer: s.Issuer, srv: s.HTTP, idp: ti, conn: conn, gh: s}
}

// follow follows redirects within the broker until a page or a redirect elsewhere.
func (e *brokerEnv) follow(t *testing.T, b *browser, p page, at string) (page, string) {
	t.Helper()
	for i := 0; i < 10 && p.status >= 300 && p.status < 400; i++ {
		base, _ := url.Parse(at)
		next, err := base.Parse(p.location)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(next.String(), e.issuer) {
			return p, next.String()
		}
		at = next.String()
		p = b.get(at)
	}
	return p, at
}

// loginThroughIdP drives the browser from the client's authorization URL to the redirect
// back to the client, through the SAML IdP and the consent page.
func (e *brokerEnv) loginThroughIdP(t *testing.T, b *browser, authURL string) string {
	t.Helper()
	p, to := e.follow(t, b, b.get(authURL), authURL)
	var step connectors.Step
	switch {
	case p.status >= 300 && p.status < 400 && strings.HasPrefix(to, e.idp.srv.URL):
		step = connectors.Step{URL: to} // HTTP-Redirect binding
	case p.status == http.StatusOK && strings.Contains(p.body, "SAMLRequest"):
		action, vals := parseForm(t, p.body) // HTTP-POST binding through the broker's auto-post page
		step = connectors.Step{URL: action, PostForm: map[string]string{}}
		for k := range vals {
			step.PostForm[k] = vals.Get(k)
		}
	default:
		t.Fatalf("expected the way to the IdP, got %d %s\n%s", p.status, to, p.body)
	}
	action, vals := idpLogin(t, b, step, alicePassword)
	if action != e.issuer+"/saml/sp/corp/acs" {
		t.Fatalf("IdP posts to %s", action)
	}
	p, to = e.follow(t, b, b.post(action, vals), action)
	if p.status == http.StatusOK && strings.Contains(p.body, `value="allow"`) {
		formAction, fv := parseForm(t, p.body)
		fv.Set("decision", "allow")
		u := e.issuer + formAction
		if strings.HasPrefix(formAction, "http") {
			u = formAction
		}
		p, to = e.follow(t, b, b.post(u, fv), u)
	}
	if p.status < 300 || p.status >= 400 || !strings.HasPrefix(to, rpRedirect) {
		t.Fatalf("expected a redirect to the client, got %d %s\n%s", p.status, to, p.body)
	}
	return to
}

func TestBrokerLoginThroughSAML(t *testing.T) {
	tests := []struct {
		name   string
		idp    idpOptions
		mutate func(*gsaml.Config)
		trust  bool // trust_upstream_mfa
	}{
		{name: "redirect binding, trusted MFA", idp: idpOptions{authnContext: "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"}, trust: true},
		// Attack (issue 25.9): an untrusted IdP's MFA AuthnContext reached the ID token as
		// amr mfa and its acr when no MFA policy was configured.
		{name: "redirect binding, untrusted MFA", idp: idpOptions{authnContext: "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"}},
		{name: "POST binding, signed requests, encrypted assertion", idp: idpOptions{postOnly: true, wantSignedAuthnR: true},
			mutate: func(c *gsaml.Config) {
				c.SPKey, c.SPCert, c.SignRequests = "testdata/sp.key", "testdata/sp.crt", true
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newBrokerEnvTrust(t, tc.idp, tc.mutate, tc.trust)
			ctx := oidc.ClientContext(context.Background(), e.srv.Client())
			provider, err := oidc.NewProvider(ctx, e.issuer)
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			oc := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, Endpoint: provider.Endpoint(), RedirectURL: rpRedirect,
				Scopes: []string{oidc.ScopeOpenID, "profile", "email", "groups", oidc.ScopeOfflineAccess}}
			verifier := oauth2.GenerateVerifier()
			authURL := oc.AuthCodeURL("st4te", oidc.Nonce("n0nce"), oauth2.S256ChallengeOption(verifier))

			b := newBrowser(t)
			to := e.loginThroughIdP(t, b, authURL)
			u, _ := url.Parse(to)
			if u.Query().Get("state") != "st4te" || u.Query().Get("code") == "" {
				t.Fatalf("bad redirect to the client: %s", to)
			}
			tok, err := oc.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := provider.Verifier(&oidc.Config{ClientID: rpID}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			var cl struct {
				Email         string   `json:"email"`
				EmailVerified bool     `json:"email_verified"`
				Name          string   `json:"name"`
				Username      string   `json:"preferred_username"`
				Groups        []string `json:"groups"`
				AMR           []string `json:"amr"`
				ACR           string   `json:"acr"`
				AuthTime      int64    `json:"auth_time"`
			}
			if err := idt.Claims(&cl); err != nil {
				t.Fatal(err)
			}
			if cl.Email != "alice@example.com" || !cl.EmailVerified || cl.Name != "Alice Example" || cl.Username != "alice" ||
				!slices.Equal(cl.Groups, []string{"admins", "staff"}) || !slices.Contains(cl.AMR, "fed") || cl.AuthTime == 0 {
				t.Errorf("claims = %+v", cl)
			}
			wantMFA := tc.trust && tc.idp.authnContext != ""
			wantACR := map[bool]string{true: "urn:gatehouse:acr:mfa", false: "urn:gatehouse:acr:pwd"}[wantMFA]
			if slices.Contains(cl.AMR, "mfa") != wantMFA || cl.ACR != wantACR {
				t.Errorf("amr %v acr %q", cl.AMR, cl.ACR)
			}
			if idt.Subject == "" || idt.Subject == aliceSubject {
				t.Errorf("sub %q should be Gatehouse's own ID", idt.Subject)
			}
			// Refresh re-issues from the stored identity (SAML cannot be asked again).
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token")
			}
			expired := *tok
			expired.Expiry = time.Now().Add(-time.Minute)
			tok2, err := oc.TokenSource(ctx, &expired).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if tok2.AccessToken == "" || tok2.AccessToken == tok.AccessToken {
				t.Errorf("refresh did not issue a new access token")
			}
		})
	}
}

// TestBrokerRefusesReplayedACSPost: posting the same SAML response to the callback again
// (from another browser, or the same) never logs anyone in a second time.
func TestBrokerRefusesReplayedACSPost(t *testing.T) {
	t.Parallel()
	e := newBrokerEnv(t, idpOptions{}, nil)
	oc := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, RedirectURL: rpRedirect, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/authorize", TokenURL: e.issuer + "/token"}}
	b := newBrowser(t)
	authURL := oc.AuthCodeURL("s1", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	p, to := e.follow(t, b, b.get(authURL), authURL)
	if p.status < 300 || !strings.HasPrefix(to, e.idp.srv.URL) {
		t.Fatalf("expected a redirect to the IdP: %d %s", p.status, to)
	}
	action, vals := idpLogin(t, b, connectors.Step{URL: to}, alicePassword)
	first, _ := e.follow(t, b, b.post(action, vals), action)
	if first.status >= 400 {
		t.Fatalf("first post: %d %s", first.status, first.body)
	}
	// Same browser, same response again: the auth request has moved on / the assertion is used.
	again := b.post(action, vals)
	if again.status < 400 {
		t.Fatalf("replayed ACS post accepted: %d %s", again.status, again.location)
	}
	// Another browser (no flow cookie) with the captured response.
	other := newBrowser(t).post(action, vals)
	if other.status < 400 {
		t.Fatalf("captured response accepted in another browser: %d %s", other.status, other.location)
	}
	if strings.Contains(again.body, "Assertion") || strings.Contains(other.body, "Assertion") {
		t.Error("error page shows SAML detail")
	}
}
