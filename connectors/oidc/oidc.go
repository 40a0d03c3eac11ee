package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

// Discovery retry backoff bounds and how long a discovery document is trusted.
const (
	retryMin     = time.Second
	retryMax     = time.Minute
	discoveryTTL = 24 * time.Hour
	fetchTimeout = 10 * time.Second
)

// Options is the resolved behaviour of an OIDC connector. Config.Options builds one from YAML;
// the google and microsoft connectors build their own.
type Options struct {
	Issuer string
	// DiscoveryIssuer, when set, is the issuer the discovery document carries when it differs
	// from Issuer (Microsoft's multi-tenant endpoints publish a "{tenantid}" template). ID
	// token issuers are then checked by CheckIssuer instead of go-oidc.
	DiscoveryIssuer string
	// CheckIssuer checks an ID token's iss when DiscoveryIssuer is set.
	CheckIssuer func(iss string, claims map[string]any) error

	ClientID, ClientSecret string
	Scopes                 []string
	PKCE                   bool
	GetUserInfo            bool
	// UserIDClaim, UsernameClaim, GroupsClaim are claim paths; empty means sub,
	// preferred_username and groups.
	UserIDClaim, UsernameClaim, GroupsClaim string
	// InsecureSkipEmailVerified treats an email as verified when the upstream says nothing
	// about it (no email_verified claim); an explicit false stays false.
	InsecureSkipEmailVerified bool
	// AllowedDomains admits only users whose verified email domain is listed (or, with
	// HostedDomainClaim, whose hd claim is).
	AllowedDomains []string
	// HostedDomainClaim makes AllowedDomains also accept the hd claim. Only Google defines
	// hd (the Workspace domain of the account); other issuers may let users set any claim.
	HostedDomainClaim bool
	Prompt            string
	// OfflineScope is the scope that asks for a refresh token; it is dropped from Scopes
	// when the downstream client did not ask for offline access. Empty: no such scope.
	OfflineScope string
	// EndpointHosts are the hosts, besides the issuer's, that the discovered endpoints
	// Gatehouse fetches itself (jwks_uri, token_endpoint, userinfo_endpoint) may be on.
	EndpointHosts []string
	// AuthParams returns extra authorization request parameters.
	AuthParams func(s connectors.Scopes) []oauth2.AuthCodeOption
	// ExtraScopes returns scopes added to Scopes for a login (Microsoft Graph's, when groups
	// are needed).
	ExtraScopes func(s connectors.Scopes) []string
	// Enrich runs on every login and refresh after the claims are read. It may refuse the
	// user with a *connectors.DeniedError (refresh turns that into ErrUpstreamRevoked), check
	// claims, or add groups from another API with the access token. tok is nil at a refresh
	// without an upstream refresh token. Changes Enrich makes to claims are stashed.
	Enrich func(ctx context.Context, s connectors.Scopes, tok *oauth2.Token, claims map[string]any, up *connectors.Upstream) error
}

// Connector is an opened OIDC connector. It implements connectors.RedirectConnector,
// connectors.RefreshConnector and connectors.HealthChecker.
type Connector struct {
	info   connectors.Info
	opts   Options
	http   *http.Client
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	up      *upstream // nil until discovery succeeds
	fetched time.Time
	lastErr error
	nextTry time.Time
	backoff time.Duration
}

// upstream is a discovered provider.
type upstream struct {
	issuer      string
	provider    *gooidc.Provider
	verifier    *gooidc.IDTokenVerifier
	endpoint    oauth2.Endpoint
	userinfoURL string
	requireIss  bool
	// endSessionURL is the upstream's end_session_endpoint (RP-Initiated Logout 1.0), "" when
	// it advertises none.
	endSessionURL string
}

// Interface guards.
var (
	_ connectors.RedirectConnector = (*Connector)(nil)
	_ connectors.RefreshConnector  = (*Connector)(nil)
	_ connectors.HealthChecker     = (*Connector)(nil)
)

// New builds a connector from resolved options. It does no I/O.
func New(info connectors.Info, deps connectors.Deps, opts Options) *Connector {
	if opts.UserIDClaim == "" {
		opts.UserIDClaim = "sub"
	}
	if opts.UsernameClaim == "" {
		opts.UsernameClaim = "preferred_username"
	}
	if opts.GroupsClaim == "" {
		opts.GroupsClaim = "groups"
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	return &Connector{info: info, opts: opts, http: oauthflow.HTTPClient(deps.HTTP), logger: logger, now: now}
}

// Info returns the connector's identity.
func (c *Connector) Info() connectors.Info { return c.info }

// Close releases nothing.
func (c *Connector) Close() error { return nil }

// Check fetches the discovery document if it is not cached yet.
func (c *Connector) Check(ctx context.Context) error {
	_, err := c.provider(ctx)
	return err
}

// provider returns the discovered upstream, fetching discovery when it is missing or stale.
// While the upstream is unreachable, calls inside the backoff window fail fast.
func (c *Connector) provider(ctx context.Context) (*upstream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.up != nil && now.Sub(c.fetched) < discoveryTTL {
		return c.up, nil
	}
	if now.Before(c.nextTry) {
		if c.up != nil {
			return c.up, nil
		}
		return nil, &connectors.UpstreamError{Temporary: true, Err: c.lastErr}
	}
	up, err := c.discover(ctx)
	if err != nil {
		c.backoff = min(max(2*c.backoff, retryMin), retryMax)
		c.nextTry = now.Add(c.backoff)
		c.lastErr = err
		if c.up != nil {
			c.logger.WarnContext(ctx, "oidc discovery refresh failed; keeping the cached document", "err", err)
			return c.up, nil
		}
		return nil, &connectors.UpstreamError{Temporary: true, Err: err}
	}
	c.up, c.fetched, c.backoff, c.nextTry, c.lastErr = up, now, 0, time.Time{}, nil
	return up, nil
}

func (c *Connector) discover(ctx context.Context) (*upstream, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	ctx = gooidc.ClientContext(ctx, c.http)
	if c.opts.DiscoveryIssuer != "" {
		ctx = gooidc.InsecureIssuerURLContext(ctx, c.opts.DiscoveryIssuer)
	}
	p, err := gooidc.NewProvider(ctx, c.opts.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery for %s: %w", c.opts.Issuer, err)
	}
	var meta struct {
		Issuer        string `json:"issuer"`
		IssParam      bool   `json:"authorization_response_iss_parameter_supported"`
		UserInfoURL   string `json:"userinfo_endpoint"`
		JWKSURL       string `json:"jwks_uri"`
		TokenEndpoint string `json:"token_endpoint"`
		EndSession    string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidc discovery for %s: %w", c.opts.Issuer, err)
	}
	// Gatehouse itself fetches these: only from the issuer's host or endpoint_hosts.
	fetched := [][2]string{{"jwks_uri", meta.JWKSURL}, {"token_endpoint", meta.TokenEndpoint}} // name, URL
	if c.opts.GetUserInfo && meta.UserInfoURL != "" {
		fetched = append(fetched, [2]string{"userinfo_endpoint", meta.UserInfoURL})
	}
	for _, e := range fetched {
		if err := CheckEndpoint(c.opts.Issuer, e[1], c.opts.EndpointHosts); err != nil {
			return nil, fmt.Errorf("oidc discovery for %s: %s: %w", c.opts.Issuer, e[0], err)
		}
	}
	up := &upstream{
		issuer: meta.Issuer, provider: p, endpoint: p.Endpoint(), userinfoURL: meta.UserInfoURL,
		requireIss: meta.IssParam, endSessionURL: meta.EndSession,
	}
	up.endpoint.AuthStyle = oauth2.AuthStyleInHeader
	up.verifier = p.Verifier(&gooidc.Config{ClientID: c.opts.ClientID, Now: c.now, SkipIssuerCheck: c.opts.DiscoveryIssuer != ""})
	if c.opts.DiscoveryIssuer != "" {
		up.issuer = "" // templated: no single value to compare the RFC 9207 iss with
		up.requireIss = false
	}
	return up, nil
}

func (c *Connector) oauth2Config(up *upstream, callback string, scopes []string) *oauth2.Config {
	return &oauth2.Config{ClientID: c.opts.ClientID, ClientSecret: c.opts.ClientSecret, Endpoint: up.endpoint, RedirectURL: callback, Scopes: scopes}
}

// scopes returns the upstream scopes for a login.
func (c *Connector) scopes(s connectors.Scopes) []string {
	out := slices.Clone(c.opts.Scopes)
	if !s.Offline && c.opts.OfflineScope != "" {
		out = slices.DeleteFunc(out, func(x string) bool { return x == c.opts.OfflineScope })
	}
	if c.opts.ExtraScopes != nil {
		for _, x := range c.opts.ExtraScopes(s) {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	return out
}

// loginStash is kept by the broker between Begin and Finish.
type loginStash struct {
	Nonce    string `json:"n"`
	Verifier string `json:"v,omitempty"`
	Callback string `json:"cb"`
}

// Begin returns the upstream authorization URL.
func (c *Connector) Begin(ctx context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	up, err := c.provider(ctx)
	if err != nil {
		return connectors.Step{}, err
	}
	scopes := c.scopes(req.Scopes)
	st := loginStash{Nonce: oauthflow.RandomString(24), Callback: req.CallbackURL}
	opts := []oauth2.AuthCodeOption{gooidc.Nonce(st.Nonce)}
	if c.opts.PKCE {
		st.Verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(st.Verifier))
	}
	prompt := c.opts.Prompt
	if prompt == "" && c.opts.OfflineScope != "" && slices.Contains(scopes, c.opts.OfflineScope) {
		prompt = "consent"
	}
	if prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", prompt))
	}
	if req.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.LoginHint))
	}
	opts = append(opts, reauthParams(req.Reauth, prompt)...)
	if c.opts.AuthParams != nil {
		opts = append(opts, c.opts.AuthParams(req.Scopes)...)
	}
	stash, err := oauthflow.EncodeStash(st)
	if err != nil {
		return connectors.Step{}, err
	}
	return connectors.Step{URL: c.oauth2Config(up, req.CallbackURL, scopes).AuthCodeURL(req.State, opts...), Stash: stash}, nil
}

// grantStash is kept with the downstream grant and the SSO session (sealed at rest like all
// connector data) and handed back to Refresh and LogoutStep.
type grantStash struct {
	RefreshToken string `json:"rt,omitempty"`
	// IDToken is the upstream's latest raw ID token: the id_token_hint of an upstream logout.
	IDToken string         `json:"it,omitempty"`
	Claims  map[string]any `json:"c"`
}

// rawIDToken is the ID token of a token response, "" when it has none.
func rawIDToken(tok *oauth2.Token) string {
	if tok == nil {
		return ""
	}
	raw, _ := tok.Extra("id_token").(string)
	return raw
}

// Finish checks the callback, redeems the code and returns the verified identity.
func (c *Connector) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	var st loginStash
	if err := oauthflow.DecodeStash(req.Stash, &st); err != nil {
		return connectors.Upstream{}, err
	}
	up, err := c.provider(ctx)
	if err != nil {
		return connectors.Upstream{}, err
	}
	code, err := oauthflow.ReadCallback(r, oauthflow.Callback{State: req.State, Issuer: up.issuer, RequireIss: up.requireIss, Provider: c.info.Name})
	if err != nil {
		return connectors.Upstream{}, err
	}
	callback := st.Callback
	if callback == "" {
		callback = req.CallbackURL
	}
	var opts []oauth2.AuthCodeOption
	if st.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(st.Verifier))
	}
	tok, err := c.oauth2Config(up, callback, nil).Exchange(oauthflow.WithClient(ctx, c.http), code, opts...)
	if err != nil {
		return connectors.Upstream{}, oauthflow.TokenError(err)
	}
	claims, err := c.claims(ctx, up, tok, st.Nonce, nil)
	if err != nil {
		return connectors.Upstream{}, err
	}
	out, err := c.identity(ctx, req.Scopes, tok, claims, grantStash{RefreshToken: tok.RefreshToken, IDToken: rawIDToken(tok)})
	if err != nil {
		return connectors.Upstream{}, err
	}
	// prompt=login and max_age are only requests: the ID token's auth_time must prove them.
	if err := req.Reauth.Check(out.AuthTime); err != nil {
		return connectors.Upstream{}, err
	}
	return out, nil
}

// reauthParams asks the upstream for the fresh authentication ra demands: prompt=login
// (added to the configured prompt) and max_age. Providers that do not honour prompt=login
// (Google) do honour max_age=0.
func reauthParams(ra connectors.Reauth, prompt string) []oauth2.AuthCodeOption {
	var opts []oauth2.AuthCodeOption
	if ra.Force {
		p := strings.Fields(prompt)
		if !slices.Contains(p, "login") {
			p = append(p, "login")
		}
		p = slices.DeleteFunc(p, func(x string) bool { return x == "none" })
		opts = append(opts, oauth2.SetAuthURLParam("prompt", strings.Join(p, " ")), oauth2.SetAuthURLParam("max_age", "0"))
	} else if ra.MaxAge > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(int64(ra.MaxAge/time.Second), 10)))
	}
	return opts
}

// Refresh redeems the upstream refresh token kept at login, re-reads the claims and returns
// the current identity. A refused refresh (the user was removed, the token revoked) returns
// connectors.ErrUpstreamRevoked. Logins without an upstream refresh token return the identity
// recorded at login.
func (c *Connector) Refresh(ctx context.Context, s connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	var gs grantStash
	if err := oauthflow.DecodeStash(prev.Stash, &gs); err != nil {
		return connectors.Upstream{}, err
	}
	if gs.RefreshToken == "" {
		out, err := c.identity(ctx, s, nil, gs.Claims, gs)
		if err != nil {
			return connectors.Upstream{}, revokedIfDenied(err)
		}
		return out, nil
	}
	up, err := c.provider(ctx)
	if err != nil {
		return connectors.Upstream{}, err
	}
	ts := c.oauth2Config(up, "", nil).TokenSource(oauthflow.WithClient(ctx, c.http), &oauth2.Token{RefreshToken: gs.RefreshToken, Expiry: time.Unix(1, 0)})
	tok, err := ts.Token()
	if err != nil {
		return connectors.Upstream{}, oauthflow.RefreshError(err)
	}
	claims, err := c.claims(ctx, up, tok, "", gs.Claims)
	if err != nil {
		if oauthflow.IsUnauthorized(err) {
			return connectors.Upstream{}, fmt.Errorf("%w: userinfo refused the new access token", connectors.ErrUpstreamRevoked)
		}
		return connectors.Upstream{}, err
	}
	if got := oauthflow.String(claims[c.opts.UserIDClaim]); prev.Subject != "" && got != prev.Subject {
		return connectors.Upstream{}, fmt.Errorf("%w: refreshed identity is %q, not %q", connectors.ErrUpstreamRevoked, got, prev.Subject)
	}
	rt := tok.RefreshToken
	if rt == "" {
		rt = gs.RefreshToken
	}
	idt := rawIDToken(tok)
	if idt == "" {
		idt = gs.IDToken
	}
	out, err := c.identity(ctx, s, tok, claims, grantStash{RefreshToken: rt, IDToken: idt})
	if err != nil {
		return connectors.Upstream{}, revokedIfDenied(err)
	}
	return out, nil
}

func revokedIfDenied(err error) error {
	var denied *connectors.DeniedError
	if errors.As(err, &denied) {
		return fmt.Errorf("%w: %s", connectors.ErrUpstreamRevoked, denied.Reason)
	}
	return err
}

// claims verifies the ID token in tok (required at login, optional at refresh), merges
// userinfo when configured, and returns the claims. prev are the claims recorded at login:
// at refresh the new ID token and userinfo claims update them.
func (c *Connector) claims(ctx context.Context, up *upstream, tok *oauth2.Token, nonce string, prev map[string]any) (map[string]any, error) {
	login := prev == nil
	claims := map[string]any{}
	for k, v := range prev {
		claims[k] = v
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" && login {
		return nil, errors.New("the upstream token response has no id_token")
	}
	if raw != "" {
		idt, err := up.verifier.Verify(ctx, raw)
		if err != nil {
			return nil, fmt.Errorf("verify upstream ID token: %w", err)
		}
		if login && idt.Nonce != nonce {
			return nil, errors.New("upstream ID token nonce does not match the login")
		}
		if idt.AccessTokenHash != "" {
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				return nil, fmt.Errorf("upstream ID token: %w", err)
			}
		}
		var rawClaims json.RawMessage
		if err := idt.Claims(&rawClaims); err != nil {
			return nil, fmt.Errorf("upstream ID token claims: %w", err)
		}
		fresh, err := oauthflow.DecodeClaims(rawClaims)
		if err != nil {
			return nil, err
		}
		if c.opts.CheckIssuer != nil {
			if err := c.opts.CheckIssuer(idt.Issuer, fresh); err != nil {
				return nil, err
			}
		}
		if !login && oauthflow.String(fresh["sub"]) != oauthflow.String(prev["sub"]) {
			return nil, fmt.Errorf("%w: refreshed ID token is for another subject", connectors.ErrUpstreamRevoked)
		}
		for k, v := range fresh {
			switch k {
			case "auth_time", "amr", "acr", "nonce":
				if !login {
					continue // OIDC Core 12.2: the original authentication stands
				}
			case "email", "email_verified":
				continue // a pair, merged below
			}
			claims[k] = v
		}
		mergeEmail(claims, fresh)
	}
	if c.opts.GetUserInfo && up.userinfoURL != "" {
		var ui map[string]any
		api := oauthflow.API{HTTP: c.http}
		if _, err := api.Get(ctx, up.userinfoURL, tok.AccessToken, &ui); err != nil {
			return nil, fmt.Errorf("userinfo: %w", err)
		}
		if oauthflow.String(ui["sub"]) != oauthflow.String(claims["sub"]) {
			return nil, errors.New("userinfo sub does not match the ID token (OIDC Core 5.3.2)")
		}
		for k, v := range ui {
			if k == "email" || k == "email_verified" {
				continue // a pair, merged below
			}
			// At login the ID token wins; at refresh userinfo is the freshest source.
			if _, ok := claims[k]; !ok || (!login && k != "sub") {
				claims[k] = v
			}
		}
		if _, had := claims["email"]; !login || !had {
			mergeEmail(claims, ui)
		}
	}
	return claims, nil
}

// mergeEmail copies email and email_verified from src into dst as one pair, so that an
// email_verified claim only ever speaks for the email of the same source: when src has an
// email, dst takes it with src's email_verified (or none); when src has no email, dst keeps
// its own pair.
func mergeEmail(dst, src map[string]any) {
	email, ok := src["email"]
	if !ok {
		return
	}
	dst["email"] = email
	if v, ok := src["email_verified"]; ok {
		dst["email_verified"] = v
	} else {
		delete(dst, "email_verified")
	}
}

// identity maps claims to an Upstream, applies the domain restriction and Enrich, and stashes
// the refresh token, ID token (in gs) and claims for Refresh and LogoutStep.
func (c *Connector) identity(ctx context.Context, s connectors.Scopes, tok *oauth2.Token, claims map[string]any, gs grantStash) (connectors.Upstream, error) {
	uv, _ := oauthflow.Lookup(claims, c.opts.UserIDClaim)
	sub := oauthflow.String(uv)
	if sub == "" {
		return connectors.Upstream{}, fmt.Errorf("upstream identity has no %q claim", c.opts.UserIDClaim)
	}
	out := connectors.Upstream{
		Subject:   sub,
		SessionID: oauthflow.String(claims["sid"]),
		Email:     oauthflow.String(claims["email"]),
		Name:      oauthflow.String(claims["name"]),
		Attrs:     oauthflow.Attrs(claims),
		AMR:       oauthflow.Strings(claims["amr"]),
		ACR:       oauthflow.String(claims["acr"]),
	}
	if v, ok := oauthflow.Lookup(claims, c.opts.UsernameClaim); ok {
		out.Username = oauthflow.String(v)
	}
	if v, ok := oauthflow.Lookup(claims, c.opts.GroupsClaim); ok {
		out.Groups = oauthflow.Strings(v)
	}
	// As the upstream says; insecure_skip_email_verified fills in only when it says nothing.
	if v, ok := claims["email_verified"]; ok {
		out.EmailVerified = out.Email != "" && oauthflow.Bool(v)
	} else {
		out.EmailVerified = out.Email != "" && c.opts.InsecureSkipEmailVerified
	}
	if at, ok := claims["auth_time"].(json.Number); ok {
		if n, err := at.Int64(); err == nil && n > 0 {
			out.AuthTime = time.Unix(n, 0).UTC()
		}
	}
	if len(c.opts.AllowedDomains) > 0 {
		hd := ""
		if c.opts.HostedDomainClaim {
			hd = oauthflow.String(claims["hd"])
		}
		if err := c.checkDomain(out, hd); err != nil {
			return connectors.Upstream{}, err
		}
	}
	if c.opts.Enrich != nil {
		if err := c.opts.Enrich(ctx, s, tok, claims, &out); err != nil {
			return connectors.Upstream{}, err
		}
	}
	gs.Claims = claims
	stash, err := oauthflow.EncodeStash(gs)
	if err != nil {
		return connectors.Upstream{}, err
	}
	out.Stash = stash
	return out, nil
}

// checkDomain admits a user whose hd claim, or verified email domain, is allowed.
func (c *Connector) checkDomain(u connectors.Upstream, hd string) error {
	allowed := func(d string) bool {
		return d != "" && slices.ContainsFunc(c.opts.AllowedDomains, func(a string) bool { return strings.EqualFold(a, d) })
	}
	if allowed(hd) || (u.EmailVerified && allowed(oauthflow.DomainOf(u.Email))) {
		return nil
	}
	if u.Email != "" && !u.EmailVerified && allowed(oauthflow.DomainOf(u.Email)) {
		return &connectors.DeniedError{Reason: "your email address is not verified at " + c.info.Name}
	}
	return &connectors.DeniedError{Reason: "accounts of your email domain may not sign in here"}
}
