package brokertest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
)

// Upstream plays the user at a redirect connector's provider: given the URL the broker sent
// the browser to, it returns the request the provider makes the browser send back to the
// broker's callback (a GET redirect, or a form_post POST).
type Upstream func(upstreamURL string) *http.Request

var chooserLinkRe = regexp.MustCompile(`<a class="button[^"]*" href="([^"]*)"`)

// ChooserLinks returns the connector links of a chooser page, in order.
func ChooserLinks(body string) []string {
	var out []string
	for _, m := range chooserLinkRe.FindAllStringSubmatch(body, -1) {
		out = append(out, strings.ReplaceAll(m[1], "&amp;", "&"))
	}
	return out
}

// StartRedirect starts authURL and, when the chooser is shown, picks connectorID. It returns
// the URL the broker sent the browser to upstream; a page instead (an error) fails the test.
func (s *Server) StartRedirect(b *Browser, authURL, connectorID string) string {
	s.T.Helper()
	p, at := b.Follow(b.Get(authURL), authURL)
	if p.Status == http.StatusOK {
		var pick string
		for _, l := range ChooserLinks(p.Body) {
			if strings.Contains(l, "/"+url.PathEscape(connectorID)+"?") || strings.HasSuffix(l, "/"+url.PathEscape(connectorID)) {
				pick = l
			}
		}
		if pick == "" {
			s.T.Fatalf("no link to connector %s on the chooser:\n%s", connectorID, p.Body)
		}
		next, err := url.Parse(at)
		if err != nil {
			s.T.Fatal(err)
		}
		u, err := next.Parse(pick)
		if err != nil {
			s.T.Fatal(err)
		}
		p, at = b.Follow(b.Get(u.String()), u.String())
	}
	if p.Status < 300 || p.Status >= 400 {
		s.T.Fatalf("expected a redirect upstream, got %d at %s:\n%s", p.Status, at, p.Body)
	}
	return at
}

// RedirectLogin signs in through redirect connector connectorID: the chooser, the provider
// (played by up), the callback and consent (allowed). It returns the last page and its URL:
// a redirect to the client (the URL carries code or error), or the page the broker showed.
func (s *Server) RedirectLogin(b *Browser, authURL, connectorID string, up Upstream) (Page, string) {
	s.T.Helper()
	req := up(s.StartRedirect(b, authURL, connectorID))
	p, at := b.Follow(b.Do(req), req.URL.String())
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `value="allow"`) {
		return p, at
	}
	action, vals := Form(s.T, p.Body)
	vals.Set("decision", "allow")
	return b.Follow(b.Post(s.Issuer+action, vals), s.Issuer+action)
}

// Exchange redeems code at the token endpoint as the confidential client id (secret,
// client_secret_basic) with the PKCE verifier, and returns the ID token's claims (the
// payload as the broker signed it; the signature is the broker's own tests' business).
func (s *Server) Exchange(b *Browser, id, secret, redirectURI, code, verifier string) map[string]any {
	s.T.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	req, err := http.NewRequest(http.MethodPost, s.Issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		s.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	p := b.Do(req)
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal([]byte(p.Body), &tok); err != nil || p.Status != http.StatusOK {
		s.T.Fatalf("token endpoint: %d %s (%v)", p.Status, p.Body, err)
	}
	parts := strings.Split(tok.IDToken, ".")
	if len(parts) != 3 {
		s.T.Fatalf("id_token is not a JWS: %q", tok.IDToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		s.T.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		s.T.Fatal(err)
	}
	return claims
}

// The confidential client RedirectOptions configures.
const (
	ClientID       = "app"
	ClientSecret   = "app-secret-0123456789abcdef"
	ClientRedirect = "http://127.0.0.1:9999/cb"
)

// TestConnector is a connector a test adds with RedirectOptions: its configuration as the
// test built it (registered under the type "test-<ID>").
type TestConnector struct {
	ID, Name string
	Config   connectors.Config
}

// RedirectOptions returns Options serving the local connector, conns, and the confidential
// client ClientID (secret ClientSecret, redirect URI ClientRedirect).
func RedirectOptions(conns ...TestConnector) Options {
	return Options{
		Registry: func(local.UserSource) connectors.Registry {
			reg := connectors.Registry{}
			for _, c := range conns {
				cfg := c.Config
				reg["test-"+c.ID] = func() connectors.Config { return cfg }
			}
			return reg
		},
		Config: func(cfg *config.Config) {
			for _, c := range conns {
				cfg.Connectors = append(cfg.Connectors, config.ConnectorBlock{Type: "test-" + c.ID, ID: c.ID, Name: c.Name})
			}
			cfg.Clients = append(cfg.Clients, config.Client{ID: ClientID, Secret: ClientSecret, RedirectURIs: []string{ClientRedirect}})
		},
	}
}

// AuthURL returns an authorization request of ClientID for scope (with state, nonce and
// PKCE) and its PKCE verifier.
func (s *Server) AuthURL(scope string) (string, string) {
	verifier, challenge := PKCE("verifier-0123456789-0123456789-0123456789-0123")
	q := url.Values{"client_id": {ClientID}, "redirect_uri": {ClientRedirect}, "response_type": {"code"}, "scope": {scope},
		"state": {"st"}, "nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	return s.Issuer + "/authorize?" + q.Encode(), verifier
}

// CodeFrom returns the code of a redirect to ClientRedirect; anything else fails the test.
func (s *Server) CodeFrom(p Page, at string) string {
	s.T.Helper()
	u, err := url.Parse(at)
	if err != nil || !strings.HasPrefix(at, ClientRedirect) || u.Query().Get("code") == "" {
		s.T.Fatalf("expected a code at the client, got %d at %s:\n%s", p.Status, at, p.Body)
	}
	return u.Query().Get("code")
}
