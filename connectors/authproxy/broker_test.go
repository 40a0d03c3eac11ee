package authproxy_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/authproxy"
	"github.com/gatehouse-id/gatehouse/connectors/local"
)

const (
	rpID       = "webapp"
	rpSecret   = "webapp-secret-0123456789"
	rpRedirect = "http://127.0.0.1:9999/callback"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// brokerEnv is an in-process Gatehouse whose only connector is the authproxy "proxy".
type brokerEnv struct {
	issuer string
	srv    *httptest.Server
	logs   *syncBuffer
	// dialTo, when set, is the host:port the browser's requests go to whatever their URL
	// (to bypass a front proxy).
	dialTo string
}

// newBrokerEnv starts the broker with web.trusted_proxies = proxies and the claims rules of
// the connector (a CEL map and a group prefix, so the mapping is visible in the ID token).
func newBrokerEnv(t *testing.T, proxies string) *brokerEnv {
	t.Helper()
	return newBrokerEnvAt(t, proxies, "")
}

// newBrokerEnvAt is newBrokerEnv with the issuer URL (that of a front proxy); "" is the
// broker's own test server.
func newBrokerEnvAt(t *testing.T, proxies, issuer string) *brokerEnv {
	t.Helper()
	logs := &syncBuffer{}
	s := brokertest.New(t, brokertest.Options{
		Issuer: issuer, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Registry: func(local.UserSource) connectors.Registry {
			return connectors.Registry{"authproxy": func() connectors.Config { return &authproxy.Config{} }}
		},
		Config: func(cfg *config.Config) {
			cfg.Web.TrustedProxies = []string{proxies}
			cfg.Connectors = []config.ConnectorBlock{brokertest.Connector(t, `
type: authproxy
id: proxy
name: Corp proxy
config: {secret: "`+secret+`", trust_email: true}
claims:
  map: {name: 'name + " (via " + username + ")"'}
  groups: {prefix: "corp:", deny: [banned]}
`)}
			cfg.Clients = []config.Client{{ID: rpID, Secret: rpSecret, Name: "Web App", RedirectURIs: []string{rpRedirect}, Trusted: true}}
		},
	})
	return &brokerEnv{issuer: s.Issuer, srv: s.HTTP, logs: logs}
}

// proxyTransport plays the front proxy: it adds its headers to every request it forwards
// (and sends it to dialTo when set).
type proxyTransport struct {
	headers [][2]string
	dialTo  string
}

func (p proxyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if p.dialTo != "" {
		r.URL.Host = p.dialTo
	}
	for _, h := range p.headers {
		r.Header.Add(h[0], h[1])
	}
	return http.DefaultTransport.RoundTrip(r)
}

type page struct {
	status   int
	location string
	body     string
}

// walk follows the broker's redirects from authURL, through the proxy, until a page or a
// redirect out of the broker.
func (e *brokerEnv) walk(t *testing.T, headers [][2]string, authURL string) page {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Transport: proxyTransport{headers, e.dialTo},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	at := authURL
	for range 10 {
		resp, err := hc.Get(at)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
		if p.status < 300 || p.status >= 400 {
			return p
		}
		base, err := url.Parse(at)
		if err != nil {
			t.Fatal(err)
		}
		next, err := base.Parse(p.location)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(next.String(), e.issuer) {
			p.location = next.String()
			return p
		}
		at = next.String()
	}
	t.Fatal("too many redirects")
	return page{}
}

// proxyHeaders are what a front proxy that authenticated alice sends.
func proxyHeaders(secretValue string) [][2]string {
	h := [][2]string{{"X-Remote-User", "alice"}, {"X-Remote-Email", "alice@example.com"}, {"X-Remote-Name", "Alice Example"},
		{"X-Remote-Groups", "admins, staff"}, {"X-Remote-Groups", "banned"}}
	if secretValue != "" {
		h = append(h, [2]string{"X-Gatehouse-Proxy-Secret", secretValue})
	}
	return h
}

// TestBrokerLoginThroughProxy drives a whole authorization code flow through the broker with
// the authproxy connector. It proves that (1) the broker's login calls the RequestConnector
// capability (before it, such a connector was a 500 "no login capability"), (2) a request
// from a peer in web.trusted_proxies with the right secret signs alice in with her headers'
// identity, shaped by the connector's claims rules (CEL map, group deny and prefix), and
// (3) a request from a peer outside web.trusted_proxies, or with a wrong or missing secret,
// is refused whole with a 403 page and a log line that names the reason but not the secret,
// and no code reaches the client. The test process connects from 127.0.0.1: trusted when
// web.trusted_proxies is 127.0.0.1/32, untrusted when it is 192.0.2.0/24.
func TestBrokerLoginThroughProxy(t *testing.T) {
	tests := []struct {
		name    string
		proxies string
		secret  string
		refused string // the log's reason; "" when the login succeeds
	}{
		{"trusted peer, right secret", "127.0.0.1/32", secret, ""},
		{"untrusted peer", "192.0.2.0/24", secret, "not in web.trusted_proxies"},
		{"wrong secret", "127.0.0.1/32", "not-the-proxy-secret", "X-Gatehouse-Proxy-Secret missing or wrong"},
		{"missing secret", "127.0.0.1/32", "", "X-Gatehouse-Proxy-Secret missing or wrong"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newBrokerEnv(t, tc.proxies)
			p, cl := e.login(t, proxyHeaders(tc.secret))
			if tc.refused != "" {
				if p.status != http.StatusForbidden || !strings.Contains(p.body, "Sign-in refused") || strings.Contains(p.location, "code=") {
					t.Fatalf("want the refusal page, got %d %s\n%s", p.status, p.location, p.body)
				}
				logs := e.logs.String()
				if !strings.Contains(logs, "proxy login refused") || !strings.Contains(logs, tc.refused) {
					t.Errorf("no log line with %q:\n%s", tc.refused, logs)
				}
				if strings.Contains(logs, secret) || strings.Contains(logs, "not-the-proxy-secret") {
					t.Errorf("the log reveals a secret:\n%s", logs)
				}
				return
			}
			if cl == nil {
				t.Fatalf("want a redirect to the client with a code, got %d %s\n%s\nlogs:\n%s", p.status, p.location, p.body, e.logs.String())
			}
			if cl.Email != "alice@example.com" || !cl.EmailVerified || cl.Name != "Alice Example (via alice)" || cl.Username != "alice" ||
				!slices.Equal(cl.Groups, []string{"corp:admins", "corp:staff"}) {
				t.Errorf("claims = %+v", cl)
			}
			if cl.Subject == "" || cl.Subject == "alice" {
				t.Errorf("sub %q should be Gatehouse's own ID", cl.Subject)
			}
		})
	}
}

// idClaims are the ID token claims the tests look at.
type idClaims struct {
	Subject       string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	Username      string   `json:"preferred_username"`
	Groups        []string `json:"groups"`
}

// login runs the client's side of an authorization code flow (extra appended to the
// authorization URL's query), the browser's requests carrying headers. It returns the last
// page and, when the client got a code, the verified ID token's claims.
func (e *brokerEnv) login(t *testing.T, headers [][2]string, extra ...oauth2.AuthCodeOption) (page, *idClaims) {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), e.srv.Client())
	provider, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	oc := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, Endpoint: provider.Endpoint(), RedirectURL: rpRedirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", "groups"}}
	verifier := oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce("n0nce"), oauth2.S256ChallengeOption(verifier)}, extra...)
	p := e.walk(t, headers, oc.AuthCodeURL("st4te", opts...))
	u, err := url.Parse(p.location)
	if err != nil || !strings.HasPrefix(p.location, rpRedirect) || u.Query().Get("code") == "" {
		return p, nil
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
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	return p, &cl
}

// TestBrokerProxyLoginCannotProveFreshAuth proves that prompt=login and max_age=0 through
// the proxy end in login_required: the proxy's headers say nothing about when the user
// authenticated, so the broker must not mint a fresh auth_time for them.
func TestBrokerProxyLoginCannotProveFreshAuth(t *testing.T) {
	e := newBrokerEnv(t, "127.0.0.1/32")
	for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
		p, cl := e.login(t, proxyHeaders(secret), opt)
		if cl != nil || !strings.HasPrefix(p.location, rpRedirect) || !strings.Contains(p.location, "error=login_required") {
			t.Fatalf("want login_required at the client, got %d %s claims %+v", p.status, p.location, cl)
		}
	}
}
