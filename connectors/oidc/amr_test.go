package oidc_test

import (
	"context"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

// TestBrokerAMRFromUntrustedUpstream logs in through an in-process broker whose oidc
// connector points at a fake upstream that asserts amr [pwd, otp, hwk, mfa] and an MFA acr,
// and reads Gatehouse's ID token.
// Attack (issue 25.9): an upstream the operator does not trust (no trust_upstream_mfa) put
// otp and hwk into Gatehouse's ID tokens (and, without an MFA configuration, mfa and its acr
// too), so relying parties that read amr believed a second factor had been checked. Only a
// trusted upstream's amr/acr may reach the tokens.
func TestBrokerAMRFromUntrustedUpstream(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trust   bool
		wantAMR []string
		wantACR string
	}{
		{"untrusted", false, []string{"pwd"}, "urn:gatehouse:acr:pwd"},
		{"trusted", true, []string{"pwd", "otp", "hwk", "mfa"}, "urn:gatehouse:acr:mfa"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := fakeoauth.New(t)
			up.IDClaims = func(user string) map[string]any {
				return map[string]any{"sub": user, "amr": []string{"pwd", "otp", "hwk", "mfa"}, "acr": "http://schemas.openid.net/pape/policies/2007/06/multi-factor"}
			}
			srv := httptest.NewUnstartedServer(nil)
			g := startGatehouse(t, srv, "", []upstreamConn{{id: "corp", trustMFA: tt.trust, cfg: &oidc.Config{
				Issuer: up.URL, ClientID: up.ClientID, ClientSecret: up.ClientSecret,
			}}}, []clients.Client{clients.New(clients.Client{ID: rpID, Name: "Test App", RedirectURIs: []string{rpRedirect}}, rpSecret)}, false)
			amr, acr, _ := amrThroughBroker(t, g, up)
			if !slices.Equal(amr, tt.wantAMR) || acr != tt.wantACR {
				t.Errorf("ID token amr %v acr %q, want %v %q", amr, acr, tt.wantAMR, tt.wantACR)
			}
		})
	}
}

// amrThroughBroker runs one login of user "ann" through the broker and its fake upstream and
// returns the amr, acr and sid (the Gatehouse session) of Gatehouse's ID token.
func amrThroughBroker(t *testing.T, g *gatehouse, up *fakeoauth.Server) ([]string, string, string) {
	t.Helper()
	ctx := gooidc.ClientContext(context.Background(), g.srv.Client())
	p, err := gooidc.NewProvider(ctx, g.issuer)
	if err != nil {
		t.Fatal(err)
	}
	rp := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, Endpoint: p.Endpoint(), RedirectURL: rpRedirect, Scopes: []string{"openid"}}
	verifier := oauth2.GenerateVerifier()
	at := rp.AuthCodeURL("rp-state", gooidc.Nonce("rp-nonce"), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("connector_id", "corp"))
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var form url.Values
	for range 20 {
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
		base, _ := url.Parse(at)
		form = nil
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			next, _ := base.Parse(resp.Header.Get("Location"))
			at = next.String()
			if strings.HasPrefix(at, up.URL) {
				at = up.Authorize(t, at, "ann") // the upstream logs ann in
			}
		case resp.StatusCode == http.StatusOK && strings.Contains(buf.String(), `value="allow"`):
			m := chainFormRe.FindStringSubmatch(buf.String())
			form = url.Values{"decision": {"allow"}}
			for _, h := range chainHiddenRe.FindAllStringSubmatch(m[2], -1) {
				form.Set(h[1], html.UnescapeString(h[2]))
			}
			next, _ := base.Parse(html.UnescapeString(m[1]))
			at = next.String()
		default:
			t.Fatalf("stopped at %s with %d:\n%s", at, resp.StatusCode, buf)
		}
		if strings.HasPrefix(at, rpRedirect) {
			break
		}
	}
	cb, _ := url.Parse(at)
	tok, err := rp.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange at %s: %v", at, err)
	}
	idt, err := p.Verifier(&gooidc.Config{ClientID: rpID}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
		SID string   `json:"sid"`
	}
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c.AMR, c.ACR, c.SID
}

// TestBrokerSessionKeepsUpstreamSID: the Gatehouse session of a login through an OIDC
// upstream records the upstream's sid (what its back-channel logout tokens name, issue 18
// item 4), and none when the upstream sent none.
func TestBrokerSessionKeepsUpstreamSID(t *testing.T) {
	for _, tt := range []struct{ name, sid string }{{"with sid", "up-session-1"}, {"without sid", ""}} {
		t.Run(tt.name, func(t *testing.T) {
			up := fakeoauth.New(t)
			up.IDClaims = func(user string) map[string]any {
				m := map[string]any{"sub": user}
				if tt.sid != "" {
					m["sid"] = tt.sid
				}
				return m
			}
			srv := httptest.NewUnstartedServer(nil)
			g := startGatehouse(t, srv, "", []upstreamConn{{id: "corp", cfg: &oidc.Config{
				Issuer: up.URL, ClientID: up.ClientID, ClientSecret: up.ClientSecret,
			}}}, []clients.Client{clients.New(clients.Client{ID: rpID, Name: "Test App", RedirectURIs: []string{rpRedirect}}, rpSecret)}, false)
			_, _, sid := amrThroughBroker(t, g, up)
			sess, err := g.store.GetSession(context.Background(), sid)
			if err != nil {
				t.Fatal(err)
			}
			if sess.Auth.ConnectorID != "corp" || sess.Auth.UpstreamSubject != "ann" || sess.Auth.UpstreamSessionID != tt.sid {
				t.Errorf("session auth %+v, want upstream sid %q", sess.Auth, tt.sid)
			}
		})
	}
}
