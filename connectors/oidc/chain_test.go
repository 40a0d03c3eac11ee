package oidc_test

// Broker chaining: a second real OpenID provider as the upstream, namely another in-process
// Gatehouse (local password connector), so RP -> Gatehouse (oidc connector) -> Gatehouse
// (local) -> back. The upstream is addressed as localhost and the downstream as 127.0.0.1 so
// that the browser keeps their cookies apart (cookies ignore ports).

import (
	"context"
	"html"
	"io"
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

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

var (
	chainFormRe   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	chainHiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

func TestBrokerChainingThroughAnotherGatehouse(t *testing.T) {
	const secret = "downstream-gatehouse-secret-0123456789"
	down := httptest.NewUnstartedServer(nil)
	downIssuer := "http://" + down.Listener.Addr().String()
	up := httptest.NewUnstartedServer(nil)
	_, port, _ := strings.Cut(up.Listener.Addr().String(), ":")
	upIssuer := "http://localhost:" + port
	startGatehouse(t, up, upIssuer, nil, []clients.Client{clients.New(clients.Client{
		ID: "gatehouse", Name: "Downstream Gatehouse", Trusted: true, RedirectURIs: []string{downIssuer + "/callback/corp"},
	}, secret)}, true)
	g := startGatehouse(t, down, "", []upstreamConn{{id: "corp", cfg: &oidc.Config{
		Issuer: upIssuer, ClientID: "gatehouse", ClientSecret: secret,
		Scopes: []string{"openid", "email", "profile", "groups", "offline_access"},
	}}}, []clients.Client{clients.New(clients.Client{ID: rpID, Name: "Test App", RedirectURIs: []string{rpRedirect}}, rpSecret)}, false)

	ctx := gooidc.ClientContext(context.Background(), g.srv.Client())
	p, err := gooidc.NewProvider(ctx, g.issuer)
	if err != nil {
		t.Fatal(err)
	}
	rp := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, Endpoint: p.Endpoint(), RedirectURL: rpRedirect,
		Scopes: []string{"openid", "email", "profile", "groups", "offline_access"}}
	verifier := oauth2.GenerateVerifier()
	authURL := rp.AuthCodeURL("rp-state", gooidc.Nonce("rp-nonce"), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("connector_id", "corp"))

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	at, form := authURL, url.Values(nil)
	var final string
	for step := 0; step < 25 && final == ""; step++ {
		var resp *http.Response
		if form == nil {
			resp, err = browser.Get(at)
		} else {
			resp, err = browser.PostForm(at, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		buf := new(strings.Builder)
		_, _ = readBody(buf, resp)
		body := buf.String()
		form = nil
		base, _ := url.Parse(at)
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			next, _ := base.Parse(resp.Header.Get("Location"))
			if strings.HasPrefix(next.String(), rpRedirect) {
				final = next.String()
			}
			at = next.String()
		case resp.StatusCode == 200 && (strings.Contains(body, `name="password"`) || strings.Contains(body, `value="allow"`)):
			m := chainFormRe.FindStringSubmatch(body)
			form = url.Values{}
			for _, h := range chainHiddenRe.FindAllStringSubmatch(m[2], -1) {
				form.Set(h[1], html.UnescapeString(h[2]))
			}
			if strings.Contains(body, `name="password"`) {
				form.Set("username", "alice")
				form.Set("password", localPassword)
			} else {
				form.Set("decision", "allow")
			}
			next, _ := base.Parse(html.UnescapeString(m[1]))
			at = next.String()
		default:
			t.Fatalf("stopped at %s with %d:\n%s", at, resp.StatusCode, body)
		}
	}
	if final == "" {
		t.Fatal("the chained login did not reach the RP")
	}
	cb, _ := url.Parse(final)
	tok, err := rp.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idv := p.Verifier(&gooidc.Config{ClientID: rpID})
	check := func(tok *oauth2.Token) {
		t.Helper()
		idt, err := idv.Verify(ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Email         string   `json:"email"`
			EmailVerified bool     `json:"email_verified"`
			Groups        []string `json:"groups"`
		}
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if c.Email != "alice@example.com" || !c.EmailVerified || !slices.Equal(c.Groups, []string{"admins", "staff"}) {
			t.Errorf("claims through the chain: %+v", c)
		}
	}
	check(tok)
	// Downstream refreshes go through the upstream Gatehouse's refresh grant, which rotates
	// its refresh token every time: the broker must keep the stash Refresh returns, or the
	// second refresh replays the rotated upstream token and the upstream revokes the family.
	cur := tok
	for i := 0; i < 3; i++ {
		expired := *cur
		expired.Expiry = time.Now().Add(-time.Minute)
		next, err := rp.TokenSource(ctx, &expired).Token()
		if err != nil {
			t.Fatalf("refresh %d through the chain: %v", i+1, err)
		}
		check(next)
		cur = next
	}
}

// readBody copies a response body into w and closes it.
func readBody(w *strings.Builder, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}
