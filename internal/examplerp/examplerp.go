// Package examplerp is the example relying party that Gatehouse mounts at /example/ in its
// default configuration. A newcomer opens it, clicks "Log in", goes through Gatehouse's login
// and consent, and sees what a client application gets back: the ID token's claims, the
// access token and the userinfo answer, with a link to log out again.
//
// It is an ordinary OpenID Connect client built on github.com/coreos/go-oidc/v3 and
// golang.org/x/oauth2 (authorization code flow with PKCE S256, state and nonce), and talks to
// Gatehouse over HTTP like any other client. Because that server is usually the same process
// and may not be listening yet when New runs, provider discovery happens lazily on the first
// request that needs it, and is retried on the next request if it failed.
//
// The pages are html/template, use no JavaScript, and load their stylesheet from the RP
// itself, so they work under a Content-Security-Policy of default-src 'self'.
package examplerp

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// requestedScopes returns the scopes the example RP asks for.
func requestedScopes() []string {
	return []string{oidc.ScopeOpenID, "profile", "email", "groups", oidc.ScopeOfflineAccess}
}

const (
	flowCookie   = "gh_example_flow"
	flowLifetime = 10 * time.Minute
	// providerTimeout bounds each request's calls to the provider.
	providerTimeout = 15 * time.Second
	csp             = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)

// Options configures the example RP.
type Options struct {
	// Issuer is the OpenID provider's issuer URL (Gatehouse's own issuer).
	Issuer string
	// ClientID and ClientSecret are the example client's credentials. An empty secret makes
	// the RP a public client (PKCE only, client_id sent in the token request body).
	ClientID     string
	ClientSecret string
	// BaseURL is the external URL the RP is mounted at, without a trailing slash, for
	// example http://127.0.0.1:5556/example. The redirect URI is BaseURL + "/callback".
	BaseURL string
	// HTTPClient talks to the provider; nil means a client with a 15-second timeout.
	HTTPClient *http.Client
	// Logger receives warnings about failed logins; nil discards them.
	Logger *slog.Logger
}

// RP is the example relying party. It is an http.Handler for paths relative to its mount
// point: "/" (start page), "/login", "/callback" and "/style.css".
type RP struct {
	issuer       string
	clientID     string
	clientSecret string
	baseURL      string // no trailing slash
	basePath     string // path part of baseURL, no trailing slash
	secure       bool   // baseURL is https: cookies get Secure
	client       *http.Client
	logger       *slog.Logger
	aead         cipher.AEAD // seals the flow cookie
	tmpl         *template.Template

	mu       sync.Mutex
	provider *provider // nil until discovery succeeds
}

// provider is what discovery yields.
type provider struct {
	p          *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	endSession string
}

// New checks opt and builds the RP. It does no network I/O.
func New(opt Options) (*RP, error) {
	var errs []error
	if opt.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	}
	if opt.ClientID == "" {
		errs = append(errs, errors.New("client ID is required"))
	}
	base := strings.TrimRight(opt.BaseURL, "/")
	u, err := url.Parse(base)
	switch {
	case opt.BaseURL == "":
		errs = append(errs, errors.New("base URL is required"))
	case err != nil:
		errs = append(errs, fmt.Errorf("base URL: %w", err))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		errs = append(errs, fmt.Errorf("base URL %q: must be an absolute http or https URL", opt.BaseURL))
	case u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("base URL %q: must not have a query or fragment", opt.BaseURL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("examplerp: %w", err)
	}

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("examplerp: cookie key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("examplerp: cookie cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("examplerp: cookie cipher: %w", err)
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, fmt.Errorf("examplerp: %w", err)
	}
	client := opt.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: providerTimeout}
	}
	logger := opt.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &RP{
		issuer:       opt.Issuer,
		clientID:     opt.ClientID,
		clientSecret: opt.ClientSecret,
		baseURL:      base,
		basePath:     strings.TrimRight(u.EscapedPath(), "/"),
		secure:       u.Scheme == "https",
		client:       client,
		logger:       logger,
		aead:         aead,
		tmpl:         tmpl,
	}, nil
}

// RedirectURL is the redirect URI the example client must be registered with.
func (rp *RP) RedirectURL() string { return rp.baseURL + "/callback" }

// ServeHTTP serves the RP's pages. Paths are relative to the mount point: cmd/gatehouse
// mounts it with http.StripPrefix("/example", rp).
func (rp *RP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "":
		http.Redirect(w, r, rp.baseURL+"/", http.StatusFound)
	case "/":
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		rp.render(w, http.StatusOK, "index", rp.pageData())
	case "/login":
		if !allow(w, r, http.MethodGet, http.MethodPost) {
			return
		}
		rp.login(w, r)
	case "/callback":
		if !allow(w, r, http.MethodGet) {
			return
		}
		rp.callback(w, r)
	case "/style.css":
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		_, _ = io.WriteString(w, stylesheet) //nolint:errcheck // the client went away; nothing to do
	default:
		rp.fail(w, http.StatusNotFound, "Not found", "There is no such page in the example application.", nil)
	}
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// discover returns the provider, running discovery if it has not succeeded yet.
func (rp *RP) discover(ctx context.Context) (*provider, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.provider != nil {
		return rp.provider, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, rp.client), rp.issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", rp.issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", rp.issuer, err)
	}
	rp.provider = &provider{
		p:          p,
		verifier:   p.Verifier(&oidc.Config{ClientID: rp.clientID}),
		endSession: meta.EndSession,
	}
	return rp.provider, nil
}

func (rp *RP) oauth2Config(p *provider) *oauth2.Config {
	ep := p.p.Endpoint()
	if rp.clientSecret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     rp.clientID,
		ClientSecret: rp.clientSecret,
		Endpoint:     ep,
		RedirectURL:  rp.RedirectURL(),
		Scopes:       requestedScopes(),
	}
}

// flow is what the flow cookie carries between /login and /callback.
type flow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Expires  time.Time `json:"e"`
}

func (rp *RP) login(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), providerTimeout)
	defer cancel()
	p, err := rp.discover(ctx)
	if err != nil {
		rp.logger.WarnContext(ctx, "example RP: provider discovery failed", "err", err)
		rp.fail(w, http.StatusBadGateway, "Provider not reachable",
			"The example application could not read the provider's discovery document. If Gatehouse is still starting, reload this page in a moment.", err)
		return
	}
	f := flow{
		State:    randomString(),
		Nonce:    randomString(),
		Verifier: oauth2.GenerateVerifier(),
		Expires:  time.Now().Add(flowLifetime),
	}
	sealed, err := rp.seal(f)
	if err != nil {
		rp.fail(w, http.StatusInternalServerError, "Internal error", "The login could not be started.", err)
		return
	}
	http.SetCookie(w, rp.cookie(sealed, int(flowLifetime/time.Second)))
	u := rp.oauth2Config(p).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// result is what the callback page shows.
type result struct {
	Page          pageInfo
	IDTokenClaims string
	IDTokenRaw    string
	AtHash        string
	AccessToken   string
	TokenType     string
	Expiry        string
	GrantedScope  string
	RefreshToken  bool
	UserInfo      string
	UserInfoError string
	LogoutURL     string
}

func (rp *RP) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// The flow cookie is single-use whatever happens next.
	http.SetCookie(w, rp.cookie("", -1))

	if e := q.Get("error"); e != "" {
		rp.fail(w, http.StatusBadRequest, "The provider returned an error",
			"Gatehouse did not log you in. The error it sent back to this application is shown below.",
			providerError{Code: e, Description: q.Get("error_description"), URI: q.Get("error_uri")})
		return
	}
	c, err := r.Cookie(rp.cookieName())
	if err != nil {
		rp.fail(w, http.StatusBadRequest, "Login expired or not started here",
			"This browser has no login in progress with the example application (the cookie is missing or expired). Start again.", nil)
		return
	}
	f, err := rp.open(c.Value)
	if err != nil {
		rp.fail(w, http.StatusBadRequest, "Login expired or not started here",
			"The login cookie could not be read or has expired. Start again.", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		rp.fail(w, http.StatusBadRequest, "State mismatch",
			"The state parameter does not match the login this browser started. This can be an attack (login CSRF) or a stale tab. Start again.", nil)
		return
	}
	if iss := q.Get("iss"); iss != "" && iss != rp.issuer {
		rp.fail(w, http.StatusBadRequest, "Wrong issuer",
			"The response names a different issuer than the one this application talks to (RFC 9207).",
			fmt.Errorf("iss %q, want %q", iss, rp.issuer))
		return
	}
	code := q.Get("code")
	if code == "" {
		rp.fail(w, http.StatusBadRequest, "No authorization code", "The provider's response has neither a code nor an error.", nil)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), providerTimeout)
	defer cancel()
	ctx = oidc.ClientContext(ctx, rp.client)
	p, err := rp.discover(ctx)
	if err != nil {
		rp.fail(w, http.StatusBadGateway, "Provider not reachable", "The provider's discovery document could not be read.", err)
		return
	}
	tok, err := rp.oauth2Config(p).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		rp.logger.WarnContext(ctx, "example RP: code exchange failed", "err", err)
		rp.fail(w, http.StatusBadGateway, "Code exchange failed", "The token endpoint refused the authorization code.", err)
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		rp.fail(w, http.StatusBadGateway, "No ID token", "The token response has no id_token.", nil)
		return
	}
	idt, err := p.verifier.Verify(ctx, rawID)
	if err != nil {
		rp.logger.WarnContext(ctx, "example RP: ID token rejected", "err", err)
		rp.fail(w, http.StatusBadGateway, "ID token rejected", "The ID token did not verify.", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		rp.fail(w, http.StatusBadGateway, "ID token rejected", "The ID token's nonce does not match this login.", nil)
		return
	}
	res := result{
		Page:        rp.pageData(),
		IDTokenRaw:  rawID,
		AccessToken: tok.AccessToken,
		TokenType:   tok.Type(),
		AtHash:      "absent (optional in the code flow)",
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			rp.fail(w, http.StatusBadGateway, "ID token rejected", "The ID token's at_hash does not match the access token.", err)
			return
		}
		res.AtHash = "present and matches the access token"
	}
	var claims json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		rp.fail(w, http.StatusBadGateway, "ID token rejected", "The ID token's claims could not be read.", err)
		return
	}
	res.IDTokenClaims = prettyJSON(claims)
	if !tok.Expiry.IsZero() {
		res.Expiry = tok.Expiry.UTC().Format(time.RFC3339)
	}
	res.GrantedScope, _ = tok.Extra("scope").(string)
	res.RefreshToken = tok.RefreshToken != ""

	if ui, err := p.p.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
		res.UserInfoError = err.Error()
	} else {
		var raw json.RawMessage
		if err := ui.Claims(&raw); err != nil {
			res.UserInfoError = err.Error()
		} else {
			res.UserInfo = prettyJSON(raw)
		}
	}
	if p.endSession != "" {
		res.LogoutURL = logoutURL(p.endSession, rawID, rp.clientID, rp.baseURL+"/")
	}
	rp.render(w, http.StatusOK, "result", res)
}

// logoutURL builds an RP-initiated logout request.
func logoutURL(endpoint, idToken, clientID, postLogout string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("id_token_hint", idToken)
	q.Set("client_id", clientID)
	q.Set("post_logout_redirect_uri", postLogout)
	u.RawQuery = q.Encode()
	return u.String()
}

// providerError is an OAuth error the provider sent back in the redirect.
type providerError struct{ Code, Description, URI string }

func (e providerError) Error() string {
	s := e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.URI != "" {
		s += " (" + e.URI + ")"
	}
	return s
}

func (rp *RP) cookie(value string, maxAge int) *http.Cookie {
	path := rp.basePath + "/"
	if rp.secure {
		path = "/" // the __Host- prefix requires it
	}
	return &http.Cookie{
		Name:     rp.cookieName(),
		Value:    value,
		Path:     path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   rp.secure,
		// Lax: the callback is a top-level GET navigation from the provider.
		SameSite: http.SameSiteLaxMode,
	}
}

// cookieName is the flow cookie's name: with the __Host- prefix on https, so a sibling
// subdomain cannot plant a flow of its own (login CSRF by cookie tossing).
func (rp *RP) cookieName() string {
	if rp.secure {
		return "__Host-" + flowCookie
	}
	return flowCookie
}

// seal encrypts and authenticates f for the flow cookie.
func (rp *RP) seal(f flow) (string, error) {
	plain, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("seal flow: %w", err)
	}
	nonce := make([]byte, rp.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal flow: %w", err)
	}
	out := rp.aead.Seal(nonce, nonce, plain, []byte(flowCookie))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open reverses seal and checks expiry.
func (rp *RP) open(v string) (flow, error) {
	var f flow
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return f, fmt.Errorf("flow cookie: %w", err)
	}
	ns := rp.aead.NonceSize()
	if len(b) < ns {
		return f, errors.New("flow cookie: too short")
	}
	plain, err := rp.aead.Open(nil, b[:ns], b[ns:], []byte(flowCookie))
	if err != nil {
		return f, fmt.Errorf("flow cookie: %w", err)
	}
	if err := json.Unmarshal(plain, &f); err != nil {
		return f, fmt.Errorf("flow cookie: %w", err)
	}
	if time.Now().After(f.Expires) {
		return f, errors.New("flow cookie: expired")
	}
	return f, nil
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// prettyJSON indents raw JSON, keeping key order and number spelling.
func prettyJSON(raw []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}
