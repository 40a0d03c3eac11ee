//go:build peers

package ldap

// Full-broker test: an in-process Gatehouse broker (built by broker/brokertest) with
// this connector in front of the test slapd, and a go-oidc relying party.

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
)

const (
	rpID       = "app"
	rpSecret   = "app-secret-0123456789abcdef"
	rpRedirect = "http://127.0.0.1:9999/cb"
)

// newBroker starts an in-process broker with the given connectors.
func newBroker(t *testing.T, conns ...connectors.Connector) *httptest.Server {
	return newBrokerTB(t, conns...)
}

// newBrokerTB is newBroker for tests and benchmarks.
func newBrokerTB(t testing.TB, conns ...connectors.Connector) *httptest.Server {
	t.Helper()
	return newBrokerConfig(t, nil, conns...)
}

// newBrokerConfig is newBrokerTB with the configuration adjusted by mutate (when not nil).
func newBrokerConfig(t testing.TB, mutate func(*config.Config), conns ...connectors.Connector) *httptest.Server {
	t.Helper()
	var bc []connset.Slot
	for _, c := range conns {
		bc = append(bc, connset.Slot{Info: c.Info(), Conn: c})
	}
	s := brokertest.New(t, brokertest.Options{
		Config: func(cfg *config.Config) {
			cfg.Connectors = nil
			cfg.Clients = []config.Client{{ID: rpID, Secret: rpSecret, Name: "Test App", RedirectURIs: []string{rpRedirect}}}
			if mutate != nil {
				mutate(cfg)
			}
		},
		// The test's connectors, opened by the test against its slapd.
		Slots: func([]connset.Slot) []connset.Slot { return bc },
	})
	return s.HTTP
}

var (
	formRe   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	linkRe   = regexp.MustCompile(`<a class="button[^"]*" href="([^"]*)"[^>]*data-connector-name="([^"]*)"`)
)

// browser drives the broker's pages with a cookie jar, not following redirects itself.
type browser struct {
	t      testing.TB
	c      *http.Client
	issuer string
}

type page struct {
	status int
	url    string // where the page was fetched, or the redirect target outside the issuer
	body   string
}

func newBrowser(t testing.TB, issuer string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, issuer: issuer, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request and follows redirects inside the issuer.
func (b *browser) do(method, u string, form url.Values) page {
	b.t.Helper()
	for range 10 {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, u, body)
		if err != nil {
			b.t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := b.c.Do(req)
		if err != nil {
			b.t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return page{status: resp.StatusCode, url: u, body: string(data)}
		}
		base, _ := url.Parse(u)
		next, err := base.Parse(resp.Header.Get("Location"))
		if err != nil {
			b.t.Fatal(err)
		}
		if !strings.HasPrefix(next.String(), b.issuer) {
			return page{status: resp.StatusCode, url: next.String()}
		}
		u, method, form = next.String(), http.MethodGet, nil
	}
	b.t.Fatal("too many redirects")
	return page{}
}

// submit posts the page's first form with extra values.
func (b *browser) submit(p page, extra url.Values) page {
	b.t.Helper()
	m := formRe.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no form in page %d:\n%s", p.status, p.body)
	}
	vals := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
		vals.Set(h[1], html.UnescapeString(h[2]))
	}
	for k, v := range extra {
		vals[k] = v
	}
	base, _ := url.Parse(p.url)
	action, err := base.Parse(html.UnescapeString(m[1]))
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(http.MethodPost, action.String(), vals)
}

// chooseConnector follows the chooser's link to the named connector.
func (b *browser) chooseConnector(p page, name string) page {
	b.t.Helper()
	for _, m := range linkRe.FindAllStringSubmatch(p.body, -1) {
		if html.UnescapeString(m[2]) == name {
			base, _ := url.Parse(p.url)
			next, err := base.Parse(html.UnescapeString(m[1]))
			if err != nil {
				b.t.Fatal(err)
			}
			return b.do(http.MethodGet, next.String(), nil)
		}
	}
	b.t.Fatalf("no connector %q on the chooser:\n%s", name, p.body)
	return page{}
}

// idClaims are the ID token claims the test reads.
type idClaims struct {
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Username string   `json:"preferred_username"`
	Groups   []string `json:"groups"`
}

func TestBrokerFlow(t *testing.T) {
	s := needPeers(t).slapd
	corp, _ := open(t, slapdConfig(s))
	downCfg := slapdConfig(s)
	downCfg.Host = "ldaps://" + deadAddr(t)
	logger, _ := testLogger(t)
	down, err := downCfg.Open(context.Background(), connectors.Info{ID: "down", Type: "ldap", Name: "Branch directory"}, connectors.Deps{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	srv := newBroker(t, corp, down)
	issuer := srv.URL
	ctx := gooidc.ClientContext(context.Background(), srv.Client())
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	oc := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, Endpoint: provider.Endpoint(), RedirectURL: rpRedirect,
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups", gooidc.ScopeOfflineAccess}}
	verifier := provider.Verifier(&gooidc.Config{ClientID: rpID})

	pkce := oauth2.GenerateVerifier()
	authorize := func(b *browser) page {
		return b.do(http.MethodGet, oc.AuthCodeURL("st4te", gooidc.Nonce("n0nce"), oauth2.S256ChallengeOption(pkce)), nil)
	}

	// The directory that is down gives its own page; the other one keeps working.
	b := newBrowser(t, issuer)
	p := b.chooseConnector(authorize(b), "Branch directory")
	p = b.submit(p, url.Values{"username": {"erin"}, "password": {erinPW}})
	if p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "unavailable") {
		t.Fatalf("down directory: page %d:\n%s", p.status, p.body)
	}

	// Wrong password and an injection attempt are refused on the form.
	for _, creds := range [][2]string{{"erin", "wrong"}, {"*)(uid=*", erinPW}, {"erin", ""}} {
		b = newBrowser(t, issuer)
		p = b.chooseConnector(authorize(b), "Corporate directory")
		p = b.submit(p, url.Values{"username": {creds[0]}, "password": {creds[1]}})
		if p.status != http.StatusUnauthorized {
			t.Fatalf("login %q/%q: page %d, want 401:\n%s", creds[0], creds[1], p.status, p.body)
		}
	}

	b = newBrowser(t, issuer)
	p = b.chooseConnector(authorize(b), "Corporate directory")
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("no password form:\n%s", p.body)
	}
	p = b.submit(p, url.Values{"username": {"erin"}, "password": {erinPW}})
	if p.status == http.StatusOK && strings.Contains(p.body, `value="allow"`) {
		p = b.submit(p, url.Values{"decision": {"allow"}})
	}
	if !strings.HasPrefix(p.url, rpRedirect+"?") {
		t.Fatalf("login did not return to the client: %d %s\n%s", p.status, p.url, p.body)
	}
	cb, _ := url.Parse(p.url)
	tok, err := oc.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatal(err)
	}
	claimsOf := func(tok *oauth2.Token) idClaims {
		t.Helper()
		raw, _ := tok.Extra("id_token").(string)
		idt, err := verifier.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		var cl idClaims
		if err := idt.Claims(&cl); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	cl := claimsOf(tok)
	if cl.Email != "erin@example.org" || cl.Username != "erin" || cl.Name != "Erin Broker" ||
		!slices.Equal(cl.Groups, []string{"erin-a", "erin-b"}) {
		t.Errorf("claims = %+v", cl)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}

	// Removed from a group: the refreshed ID token no longer lists it.
	if err := s.modify(fmt.Sprintf("dn: %s\nchangetype: modify\ndelete: member\nmember: %s\n", groupDN("erin-b"), uidDN("erin"))); err != nil {
		t.Fatal(err)
	}
	refresh := func(tok *oauth2.Token) (*oauth2.Token, error) {
		expired := *tok
		expired.Expiry = time.Now().Add(-time.Minute)
		return oc.TokenSource(ctx, &expired).Token()
	}
	tok, err = refresh(tok)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if cl := claimsOf(tok); !slices.Equal(cl.Groups, []string{"erin-a"}) {
		t.Errorf("after removal from erin-b: groups = %q", cl.Groups)
	}

	// Disabled (locked by the administrator): refresh fails with invalid_grant.
	if err := s.modify(fmt.Sprintf("dn: %s\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n", uidDN("erin"))); err != nil {
		t.Fatal(err)
	}
	_, err = refresh(tok)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("refresh of a disabled user: %v, want invalid_grant", err)
	}
}

// BenchmarkBrokerLogin measures whole password logins through the broker (authorize, login
// form, consent, code exchange) with the LDAP connector against slapd over LDAPS.
func BenchmarkBrokerLogin(b *testing.B) {
	s := needPeers(b).slapd
	cfg := slapdConfig(s)
	conn, err := cfg.Open(context.Background(), connectors.Info{ID: "corp", Type: "ldap", Name: "Corporate directory"},
		connectors.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	c := conn.(*Connector)
	srv := newBrokerTB(b, c)
	ctx := gooidc.ClientContext(context.Background(), srv.Client())
	provider, err := gooidc.NewProvider(ctx, srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	oc := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, Endpoint: provider.Endpoint(), RedirectURL: rpRedirect,
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups"}}
	ops0 := c.ops.Load()
	b.ResetTimer()
	for range b.N {
		br := newBrowser(b, srv.URL)
		pkce := oauth2.GenerateVerifier()
		p := br.do(http.MethodGet, oc.AuthCodeURL("st4te", oauth2.S256ChallengeOption(pkce)), nil)
		p = br.submit(p, url.Values{"username": {"alice"}, "password": {alicePW}})
		if strings.Contains(p.body, `value="allow"`) {
			p = br.submit(p, url.Values{"decision": {"allow"}})
		}
		cb, err := url.Parse(p.url)
		if err != nil || cb.Query().Get("code") == "" {
			b.Fatalf("no code: %d %s", p.status, p.url)
		}
		if _, err := oc.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkce)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	b.ReportMetric(float64(c.ops.Load()-ops0)/float64(b.N), "roundtrips/login")
}
