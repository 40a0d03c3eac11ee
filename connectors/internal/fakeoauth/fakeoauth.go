// Package fakeoauth is an in-memory OAuth 2.0 / OpenID Connect authorization server on an
// httptest.Server, for the tests of connectors whose real upstream (GitHub, GitLab, Gitea,
// Bitbucket, Google, Microsoft) cannot be reached from a test machine. It implements what those providers
// document for the code flow: authorization codes bound to client, redirect URI and PKCE
// challenge, a token endpoint (authorization_code and refresh_token grants, client_secret_basic
// or client_secret_post), optional ID tokens signed with a fresh RSA key published at a JWKS
// endpoint with discovery, and bearer-token lookup for the API routes a test adds with Handle.
//
// It is imported only by tests.
package fakeoauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Server is a fake authorization server.
type Server struct {
	*httptest.Server
	ClientID, ClientSecret string
	// IDClaims, when set, makes the token endpoint issue an ID token with these claims for
	// the user (iss, aud, iat and exp are added unless present; nonce is added).
	IDClaims func(user string) map[string]any
	// Issuer is the iss of ID tokens and discovery (default: the server URL).
	Issuer string
	// AccessTTL is the lifetime of access tokens (default one hour).
	AccessTTL time.Duration
	// TokenPath is the token endpoint path (default /token).
	TokenPath string
	// CheckSecret, when set, decides whether a client secret is right (Apple's client secret
	// is a JWT signed per request window, not a fixed string); nil: it must equal ClientSecret.
	CheckSecret func(secret string) bool
	// RotateRefresh makes a refresh token single-use, as GitLab's, Gitea's and Bitbucket's
	// are: a refresh revokes the token it redeemed.
	RotateRefresh bool
	// EndSessionPath, when set, is advertised as the end_session_endpoint (RP-Initiated
	// Logout) in discovery; the test mounts a handler there with Handle if it needs one.
	EndSessionPath string

	mux     *http.ServeMux
	keyOnce sync.Once
	key     *rsa.PrivateKey
	mu      sync.Mutex
	code    map[string]grant
	at      map[string]string // access token -> user
	rt      map[string]string // refresh token -> user
	// Requests counts requests per path.
	reqs map[string]int
}

type grant struct {
	user, redirect, challenge, nonce string
}

// New starts a server; it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{ClientID: "client", ClientSecret: "secret", mux: http.NewServeMux(),
		code: map[string]grant{}, at: map[string]string{}, rt: map[string]string{}, reqs: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs[r.URL.Path]++
		s.mu.Unlock()
		if r.URL.Path == s.tokenPath() && r.Method == http.MethodPost {
			s.token(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	s.mux.HandleFunc("GET /.well-known/openid-configuration", s.Discovery)
	s.mux.HandleFunc("GET /jwks", s.jwks)
	return s
}

func (s *Server) tokenPath() string {
	if s.TokenPath != "" {
		return s.TokenPath
	}
	return "/token"
}

func (s *Server) issuer() string {
	if s.Issuer != "" {
		return s.Issuer
	}
	return s.URL
}

// Requests returns how many requests reached path.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[path]
}

// Handle adds an API route.
func (s *Server) Handle(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, h) }

// User returns the user a request's bearer token belongs to, or "".
func (s *Server) User(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at[tok]
}

// Revoke invalidates every access and refresh token of user.
func (s *Server) Revoke(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.at {
		if v == user {
			delete(s.at, k)
		}
	}
	for k, v := range s.rt {
		if v == user {
			delete(s.rt, k)
		}
	}
}

// Authorize plays the user approving an authorization URL: it checks client_id and
// redirect_uri, records a code and returns the callback URL with code and state.
func (s *Server) Authorize(t testing.TB, authURL, user string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("client_id") != s.ClientID || q.Get("response_type") != "code" || q.Get("redirect_uri") == "" {
		t.Fatalf("bad authorization request %s", authURL)
	}
	if q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256" {
		t.Fatalf("PKCE method %q", q.Get("code_challenge_method"))
	}
	code := random()
	s.mu.Lock()
	s.code[code] = grant{user: user, redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), nonce: q.Get("nonce")}
	s.mu.Unlock()
	cb, _ := url.Parse(q.Get("redirect_uri"))
	cq := cb.Query()
	cq.Set("code", code)
	cq.Set("state", q.Get("state"))
	cb.RawQuery = cq.Encode()
	return cb.String()
}

// Deny returns the callback URL of a user refusing an authorization URL.
func (s *Server) Deny(t testing.TB, authURL string) string {
	t.Helper()
	u, _ := url.Parse(authURL)
	q := u.Query()
	cb, _ := url.Parse(q.Get("redirect_uri"))
	cq := cb.Query()
	cq.Set("error", "access_denied")
	cq.Set("error_description", "The user has denied your application access.")
	cq.Set("state", q.Get("state"))
	cb.RawQuery = cq.Encode()
	return cb.String()
}

func random() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": code + " (fake)"})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, 400, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	okSecret := secret == s.ClientSecret
	if s.CheckSecret != nil {
		okSecret = s.CheckSecret(secret)
	}
	if id != s.ClientID || !okSecret {
		tokenError(w, 401, "invalid_client")
		return
	}
	var user, nonce string
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		s.mu.Lock()
		g, ok := s.code[r.PostForm.Get("code")]
		delete(s.code, r.PostForm.Get("code"))
		s.mu.Unlock()
		if !ok || g.redirect != r.PostForm.Get("redirect_uri") {
			tokenError(w, 400, "invalid_grant")
			return
		}
		if g.challenge != "" {
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
				tokenError(w, 400, "invalid_grant")
				return
			}
		}
		user, nonce = g.user, g.nonce
	case "refresh_token":
		s.mu.Lock()
		user, ok = s.rt[r.PostForm.Get("refresh_token")]
		if ok && s.RotateRefresh {
			delete(s.rt, r.PostForm.Get("refresh_token"))
		}
		s.mu.Unlock()
		if !ok {
			tokenError(w, 400, "invalid_grant")
			return
		}
	default:
		tokenError(w, 400, "unsupported_grant_type")
		return
	}
	ttl := s.AccessTTL
	if ttl == 0 {
		ttl = time.Hour
	}
	at, rt := random(), random()
	s.mu.Lock()
	s.at[at] = user
	s.rt[rt] = user
	s.mu.Unlock()
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(ttl / time.Second), "refresh_token": rt}
	if s.IDClaims != nil {
		c := s.IDClaims(user)
		now := time.Now()
		for k, v := range map[string]any{"iss": s.issuer(), "aud": s.ClientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()} {
			if _, ok := c[k]; !ok {
				c[k] = v
			}
		}
		if nonce != "" {
			c["nonce"] = nonce
		}
		resp["id_token"] = s.Sign(c)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// signingKey returns the RSA key, generated on first use (only OIDC tests need it).
func (s *Server) signingKey() *rsa.PrivateKey {
	s.keyOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		s.key = key
	})
	return s.key
}

// Sign signs claims as a JWT with the server's key (RS256, kid "k1").
func (s *Server) Sign(claims map[string]any) string { return s.SignTyped(claims, "") }

// SignTyped is Sign with a typ header ("" for none), e.g. "logout+jwt" for a back-channel
// logout token.
func (s *Server) SignTyped(claims map[string]any, typ string) string {
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: s.signingKey(), KeyID: "k1"}}, opts)
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		panic(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}

// Discovery serves the OpenID discovery document (mounted at /.well-known/openid-configuration;
// tests mount it under other paths too).
func (s *Server) Discovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	doc := map[string]any{
		"issuer": s.issuer(), "authorization_endpoint": s.URL + "/authorize", "token_endpoint": s.URL + s.tokenPath(),
		"jwks_uri": s.URL + "/jwks", "userinfo_endpoint": s.URL + "/userinfo",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	}
	if s.EndSessionPath != "" {
		doc["end_session_endpoint"] = s.URL + s.EndSessionPath
	}
	_ = json.NewEncoder(w).Encode(doc)
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.signingKey().PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

// JSON writes v as a JSON response.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Page serves items[page*size:...] of a list and sets a GitHub/GitLab-style Link header to the
// next page (?page=N, per_page honoured).
func Page[T any](w http.ResponseWriter, r *http.Request, items []T, defaultSize int) {
	size := defaultSize
	if n, err := fmt.Sscan(r.URL.Query().Get("per_page"), &size); n != 1 || err != nil || size <= 0 {
		size = defaultSize
	}
	size = min(size, defaultSize) // the fake caps pages small so that tests page
	page := 1
	if n, err := fmt.Sscan(r.URL.Query().Get("page"), &page); n != 1 || err != nil || page < 1 {
		page = 1
	}
	start := min((page-1)*size, len(items))
	end := min(start+size, len(items))
	if end < len(items) {
		next := *r.URL
		q := next.Query()
		q.Set("page", fmt.Sprint(page+1))
		next.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s>; rel="next", <http://%s%s>; rel="first"`, r.Host, next.RequestURI(), r.Host, r.URL.Path))
	}
	JSON(w, http.StatusOK, items[start:end])
}

// CheckReauthRefused checks that c, a plain OAuth 2.0 connector (no auth_time, so it cannot
// prove the user signed in again), refuses a demanded re-authentication (prompt=login,
// max_age) with connectors.ErrLoginRequired: in Begin, before the user is sent upstream, and
// again in Finish if a callback arrives anyway.
func CheckReauthRefused(t testing.TB, c connectors.RedirectConnector, callback string) {
	t.Helper()
	ctx := context.Background()
	ra := connectors.Reauth{Force: true, NotBefore: time.Now()}
	if _, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: callback, State: "st", Reauth: ra}); !errors.Is(err, connectors.ErrLoginRequired) {
		t.Fatalf("Begin: err = %v, want ErrLoginRequired", err)
	}
	step, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Finish(ctx, connectors.FinishRequest{CallbackURL: callback, State: "st", Stash: step.Stash, Reauth: ra}, nil)
	if !errors.Is(err, connectors.ErrLoginRequired) {
		t.Fatalf("Finish: err = %v, want ErrLoginRequired", err)
	}
}
