package apple

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

// loginStash is kept by the broker between Begin and Finish.
type loginStash struct {
	Nonce    string `json:"n"`
	Callback string `json:"cb"`
}

// grantStash is kept with a downstream grant for Refresh: the upstream refresh token and what
// Apple says only once (the name) or only in the ID token.
type grantStash struct {
	RefreshToken string `json:"rt,omitempty"`
	Name         string `json:"name,omitempty"`
	GivenName    string `json:"gn,omitempty"`
	FamilyName   string `json:"fn,omitempty"`
}

// Begin returns Apple's authorization URL with response_mode=form_post. Apple has no way to
// force a new authentication (no prompt=login), so a request that demands one fails with
// connectors.ErrLoginRequired; a max_age is checked on the ID token's auth_time.
func (c *Connector) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	if req.Reauth.Force {
		return connectors.Step{}, fmt.Errorf("%w: Apple cannot be asked for a fresh sign-in", connectors.ErrLoginRequired)
	}
	st := loginStash{Nonce: oauthflow.RandomString(24), Callback: req.CallbackURL}
	stash, err := oauthflow.EncodeStash(st)
	if err != nil {
		return connectors.Step{}, err
	}
	q := url.Values{
		"response_type": {"code"}, "response_mode": {"form_post"}, "client_id": {c.clientID},
		"redirect_uri": {req.CallbackURL}, "state": {req.State}, "scope": {"name email"}, "nonce": {st.Nonce},
	}
	return connectors.Step{URL: c.authURL + "?" + q.Encode(), Stash: stash}, nil
}

// Finish checks Apple's form_post callback, redeems the code and verifies the ID token.
func (c *Connector) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	var st loginStash
	if err := oauthflow.DecodeStash(req.Stash, &st); err != nil {
		return connectors.Upstream{}, err
	}
	if r.Method != http.MethodPost {
		return connectors.Upstream{}, errors.New("apple callback: not a form_post (POST) response")
	}
	if err := r.ParseForm(); err != nil {
		return connectors.Upstream{}, fmt.Errorf("apple callback: %w", err)
	}
	if req.State == "" || r.PostForm.Get("state") != req.State {
		return connectors.Upstream{}, errors.New("callback state does not match the login in progress")
	}
	if e := r.PostForm.Get("error"); e != "" {
		if e == "user_cancelled_authorize" {
			return connectors.Upstream{}, &connectors.DeniedError{Reason: "the sign-in was cancelled at " + c.info.Name}
		}
		return connectors.Upstream{}, fmt.Errorf("apple authorization error %q", truncate(e, 64))
	}
	user, err := ParseUser(r.PostForm.Get("user"))
	if err != nil {
		return connectors.Upstream{}, err
	}
	code := r.PostForm.Get("code")
	if code == "" {
		return connectors.Upstream{}, errors.New("apple callback carries neither code nor error")
	}
	tok, err := c.exchange(ctx, st.Callback, code)
	if err != nil {
		return connectors.Upstream{}, oauthflow.TokenError(err)
	}
	claims, err := c.verifier.verify(ctx, tok, st.Nonce)
	if err != nil {
		return connectors.Upstream{}, err
	}
	gs := grantStash{RefreshToken: tok.RefreshToken, Name: user.Name(), GivenName: user.FirstName, FamilyName: user.LastName}
	return c.identity(claims, gs)
}

// Refresh validates the upstream refresh token at Apple's token endpoint.
func (c *Connector) Refresh(ctx context.Context, _ connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	var gs grantStash
	if err := oauthflow.DecodeStash(prev.Stash, &gs); err != nil {
		return connectors.Upstream{}, err
	}
	if gs.RefreshToken == "" {
		return connectors.Upstream{}, fmt.Errorf("%w: no Apple refresh token was kept", connectors.ErrUpstreamRevoked)
	}
	cfg, err := c.oauth2("")
	if err != nil {
		return connectors.Upstream{}, err
	}
	tok, err := cfg.TokenSource(oauthflow.WithClient(ctx, c.http), &oauth2.Token{RefreshToken: gs.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		return connectors.Upstream{}, oauthflow.RefreshError(err)
	}
	if _, ok := tok.Extra("id_token").(string); !ok {
		// Apple accepted the refresh token but sent no ID token: the grant still stands.
		return prev, nil
	}
	claims, err := c.verifier.verify(ctx, tok, "")
	if err != nil {
		return connectors.Upstream{}, err
	}
	out, err := c.identity(claims, gs)
	if err == nil && prev.Subject != "" && out.Subject != prev.Subject {
		return connectors.Upstream{}, fmt.Errorf("%w: the refresh token now belongs to another Apple user", connectors.ErrUpstreamRevoked)
	}
	return out, err
}

// oauth2 is the client configuration with a current client secret.
func (c *Connector) oauth2(callback string) (*oauth2.Config, error) {
	secret, err := c.secrets.get()
	if err != nil {
		return nil, err
	}
	return &oauth2.Config{ClientID: c.clientID, ClientSecret: secret, RedirectURL: callback,
		Endpoint: oauth2.Endpoint{AuthURL: c.authURL, TokenURL: c.tokenURL, AuthStyle: oauth2.AuthStyleInParams}}, nil
}

func (c *Connector) exchange(ctx context.Context, callback, code string) (*oauth2.Token, error) {
	cfg, err := c.oauth2(callback)
	if err != nil {
		return nil, err
	}
	return cfg.Exchange(oauthflow.WithClient(ctx, c.http), code)
}

// identity maps verified ID token claims (and what the grant stash remembers) to an Upstream.
func (c *Connector) identity(claims map[string]any, gs grantStash) (connectors.Upstream, error) {
	sub := oauthflow.String(claims["sub"])
	if sub == "" {
		return connectors.Upstream{}, errors.New("apple ID token has no sub")
	}
	email := oauthflow.String(claims["email"])
	private := oauthflow.Bool(claims["is_private_email"])
	up := connectors.Upstream{
		Subject: sub, Email: email, Name: gs.Name,
		// Apple's private relay forwards to the user's verified address: verified, but not
		// linkable to any other account by email.
		EmailVerified:    email != "" && (oauthflow.Bool(claims["email_verified"]) || private),
		EmailNotLinkable: private,
		Attrs:            oauthflow.Attrs(claims),
	}
	if gs.GivenName != "" {
		up.Attrs["given_name"] = []string{gs.GivenName}
	}
	if gs.FamilyName != "" {
		up.Attrs["family_name"] = []string{gs.FamilyName}
	}
	if at, ok := claims["auth_time"].(json.Number); ok {
		if v, err := at.Int64(); err == nil && v > 0 {
			up.AuthTime = time.Unix(v, 0).UTC()
		}
	}
	stash, err := oauthflow.EncodeStash(gs)
	if err != nil {
		return connectors.Upstream{}, err
	}
	up.Stash = stash
	return up, nil
}

// verifier checks Apple ID tokens against Apple's JWKS.
type verifier struct {
	v *gooidc.IDTokenVerifier
}

func newVerifier(httpc *http.Client, keysURL, issuer, clientID string, now func() time.Time) *verifier {
	ks := gooidc.NewRemoteKeySet(gooidc.ClientContext(context.Background(), httpc), keysURL)
	return &verifier{v: gooidc.NewVerifier(issuer, ks, &gooidc.Config{ClientID: clientID, Now: now,
		SupportedSigningAlgs: []string{gooidc.RS256}})}
}

// verify checks the token response's ID token (signature, iss, aud, exp and, when nonce is
// set, the nonce) and returns its claims.
func (v *verifier) verify(ctx context.Context, tok *oauth2.Token, nonce string) (map[string]any, error) {
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, errors.New("apple token response has no id_token")
	}
	idt, err := v.v.Verify(ctx, raw)
	if err != nil {
		if oauthflow.IsUnreachable(err) || strings.Contains(err.Error(), "fetching keys") {
			return nil, &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("apple ID token keys: %w", err)}
		}
		return nil, fmt.Errorf("apple ID token: %w", err)
	}
	if nonce != "" && idt.Nonce != nonce {
		return nil, errors.New("apple ID token: nonce does not match the login")
	}
	var payload json.RawMessage
	if err := idt.Claims(&payload); err != nil {
		return nil, fmt.Errorf("apple ID token claims: %w", err)
	}
	return oauthflow.DecodeClaims(payload)
}

// truncate cuts s to at most n bytes (upstream text in an error message; %q escapes it).
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
