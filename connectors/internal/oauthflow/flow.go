package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Flow is a plain OAuth 2.0 authorization code flow with state and PKCE (no ID token): the
// part the oauth2, github and gitlab connectors share.
type Flow struct {
	// OAuth2 holds the client and endpoints; RedirectURL and Scopes are set per call.
	OAuth2 oauth2.Config
	PKCE   bool
	HTTP   *http.Client
	// Issuer, when set, is compared with an RFC 9207 iss in the callback.
	Issuer string
	// Provider names the upstream in messages shown to users.
	Provider string
}

// flowStash is kept by the broker between Begin and Finish.
type flowStash struct {
	Verifier string `json:"v,omitempty"`
	Callback string `json:"cb"`
}

func (f *Flow) config(callback string, scopes []string) *oauth2.Config {
	c := f.OAuth2
	c.RedirectURL, c.Scopes = callback, scopes
	return &c
}

// Begin returns the authorization URL for req with the given scopes and extra parameters.
// A plain OAuth 2.0 upstream says nothing about when it authenticated the user, so a login
// that demands a fresh authentication (req.Reauth) fails with connectors.ErrLoginRequired.
func (f *Flow) Begin(req connectors.BeginRequest, scopes []string, extra ...oauth2.AuthCodeOption) (connectors.Step, error) {
	if req.Reauth.Demanded() {
		return connectors.Step{}, fmt.Errorf("%w: %s cannot prove that the user signed in again (OAuth 2.0 without auth_time)",
			connectors.ErrLoginRequired, f.providerName())
	}
	st := flowStash{Callback: req.CallbackURL}
	opts := append([]oauth2.AuthCodeOption(nil), extra...)
	if f.PKCE {
		st.Verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(st.Verifier))
	}
	stash, err := EncodeStash(st)
	if err != nil {
		return connectors.Step{}, err
	}
	return connectors.Step{URL: f.config(req.CallbackURL, scopes).AuthCodeURL(req.State, opts...), Stash: stash}, nil
}

// providerName names the upstream in messages.
func (f *Flow) providerName() string {
	if f.Provider != "" {
		return f.Provider
	}
	return "the upstream"
}

// Finish checks the callback and redeems the code. A login that demanded a fresh
// authentication fails with connectors.ErrLoginRequired (see Begin).
func (f *Flow) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (*oauth2.Token, error) {
	if req.Reauth.Demanded() {
		return nil, fmt.Errorf("%w: %s cannot prove that the user signed in again", connectors.ErrLoginRequired, f.providerName())
	}
	var st flowStash
	if err := DecodeStash(req.Stash, &st); err != nil {
		return nil, err
	}
	code, err := ReadCallback(r, Callback{State: req.State, Issuer: f.Issuer, Provider: f.Provider})
	if err != nil {
		return nil, err
	}
	callback := st.Callback
	if callback == "" {
		callback = req.CallbackURL
	}
	var opts []oauth2.AuthCodeOption
	if st.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(st.Verifier))
	}
	tok, err := f.config(callback, nil).Exchange(WithClient(ctx, HTTPClient(f.HTTP)), code, opts...)
	if err != nil {
		return nil, TokenError(err)
	}
	if tok.AccessToken == "" {
		return nil, errors.New("token response has no access_token")
	}
	return tok, nil
}

// Refresh redeems a refresh token (errors classified by RefreshError). The returned token
// keeps the old refresh token when the upstream does not rotate it.
func (f *Flow) Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	ts := f.config("", nil).TokenSource(WithClient(ctx, HTTPClient(f.HTTP)), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := ts.Token()
	if err != nil {
		return nil, RefreshError(err)
	}
	return tok, nil
}

// TokenStash keeps an upstream's tokens with a downstream grant, for connectors that re-check
// the user with the upstream's API at refresh.
type TokenStash struct {
	AccessToken  string    `json:"at,omitempty"`
	RefreshToken string    `json:"rt,omitempty"`
	Expiry       time.Time `json:"exp,omitzero"`
}

// NewTokenStash records tok.
func NewTokenStash(tok *oauth2.Token) TokenStash {
	return TokenStash{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}
}

// Current returns a usable access token: the stashed one while it is valid, else a refreshed
// one (and the stash to keep). Without a refresh token an expired access token is returned
// as is: the API call that follows tells whether it still works.
func (s TokenStash) Current(ctx context.Context, f *Flow, now time.Time) (TokenStash, error) {
	if s.RefreshToken == "" || (!s.Expiry.IsZero() && now.Add(time.Minute).Before(s.Expiry)) {
		return s, nil
	}
	tok, err := f.Refresh(ctx, s.RefreshToken)
	if err != nil {
		return s, err
	}
	next := NewTokenStash(tok)
	if next.RefreshToken == "" {
		next.RefreshToken = s.RefreshToken
	}
	return next, nil
}
