package broker

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// randomToken returns a 256-bit random opaque token (codes, refresh tokens).
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashToken is how opaque tokens are keyed at rest: base64url SHA-256.
func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// tokenResponse is RFC 6749 5.1 plus OIDC's id_token.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// parseAPIForm reads an application/x-www-form-urlencoded POST body (bounded).
func parseAPIForm(w http.ResponseWriter, r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return oauth2err.New(oauth2err.InvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return oauth2err.New(oauth2err.InvalidRequest, "malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return oauth2err.New(oauth2err.InvalidRequest, "parameter "+k+" is repeated")
		}
	}
	return nil
}

// authenticateClient authenticates the client of a token-style request.
func (s *Server) authenticateClient(r *http.Request) (*clients.Client, error) {
	cr, err := clients.ReadCredentials(r)
	if err != nil {
		return nil, oauth2err.New(oauth2err.InvalidRequest, err.Error())
	}
	c := s.Clients.Authenticate(cr)
	if c == nil {
		s.Logger.Info("client authentication failed", "client_id", cr.ID, "method", cr.Method)
		return nil, oauth2err.New(oauth2err.InvalidClient, "client authentication failed")
	}
	return c, nil
}

// handleToken is the token endpoint (RFC 6749 3.2).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := parseAPIForm(w, r); err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	c, err := s.authenticateClient(r)
	if err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	var resp tokenResponse
	switch gt := r.PostFormValue("grant_type"); gt {
	case "authorization_code":
		resp, err = s.codeGrant(r, c)
	case "refresh_token":
		resp, err = s.refreshGrant(r, c)
	case "":
		err = oauth2err.New(oauth2err.InvalidRequest, "grant_type is missing")
	default:
		err = oauth2err.New(oauth2err.UnsupportedGrantType, "unsupported grant_type")
	}
	if err != nil {
		e := oauth2err.As(err)
		if e.Code == oauth2err.ServerError {
			s.Logger.Error("token request failed", "client_id", c.ID, "err", e)
			e = oauth2err.As(s.degrade(r.Context(), e))
		} else {
			s.Logger.Info("token request refused", "client_id", c.ID, "err", e)
		}
		if e.Code == oauth2err.TemporarilyUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		oauth2err.WriteJSON(w, r, e)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(resp)
}

// verifyPKCE checks an RFC 7636 S256 code_verifier against the stored challenge.
func verifyPKCE(challenge, method, verifier string) error {
	if challenge == "" {
		if verifier != "" {
			return oauth2err.New(oauth2err.InvalidGrant, "code_verifier sent but the authorization request had no code_challenge")
		}
		return nil
	}
	if verifier == "" {
		return oauth2err.New(oauth2err.InvalidGrant, "code_verifier is missing")
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return oauth2err.New(oauth2err.InvalidGrant, "code_verifier must be 43 to 128 characters")
	}
	if method != "S256" {
		return oauth2err.New(oauth2err.InvalidGrant, "unsupported code_challenge_method")
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) != 1 {
		return oauth2err.New(oauth2err.InvalidGrant, "code_verifier does not match the code_challenge")
	}
	return nil
}

// codeGrant redeems an authorization code (RFC 6749 4.1.3, OIDC Core 3.1.3).
func (s *Server) codeGrant(r *http.Request, c *clients.Client) (tokenResponse, error) {
	ctx := r.Context()
	code := r.PostFormValue("code")
	if code == "" {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidRequest, "code is missing")
	}
	now := s.Now().UTC()
	ac, err := s.Storage.ConsumeCode(ctx, hashToken(code), now)
	switch {
	case errors.Is(err, storage.ErrReused):
		// A replayed code: refuse it and revoke everything issued from it (RFC 6749 4.1.2).
		if rerr := s.Storage.RevokeGrant(ctx, ac.GrantID, now); rerr != nil {
			return tokenResponse{}, oauth2err.Server(rerr)
		}
		s.Logger.Warn("authorization code replayed; its tokens are revoked", "client_id", c.ID, "grant", ac.GrantID)
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the authorization code was already used")
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the authorization code is invalid or expired")
	case err != nil:
		return tokenResponse{}, oauth2err.Server(err)
	}
	if ac.ClientID != c.ID {
		_ = s.Storage.RevokeGrant(ctx, ac.GrantID, now)
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the authorization code was issued to another client")
	}
	if r.PostFormValue("redirect_uri") != ac.RedirectURI {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "redirect_uri does not match the authorization request")
	}
	if err := verifyPKCE(ac.CodeChallenge, ac.CodeChallengeMethod, r.PostFormValue("code_verifier")); err != nil {
		return tokenResponse{}, err
	}
	g := storage.Grant{
		ID: ac.GrantID, ClientID: c.ID, Scopes: ac.Scopes, Nonce: ac.Nonce, Identity: ac.Identity, Auth: ac.Auth,
		SessionID: ac.SessionID, CreatedAt: now, AbsoluteExpiry: now.Add(s.Lifetimes.RefreshAbsolute),
	}
	var refresh string
	var first *storage.RefreshToken
	if slices.Contains(ac.Scopes, "offline_access") {
		refresh = randomToken()
		first = &storage.RefreshToken{Hash: hashToken(refresh), GrantID: g.ID, CreatedAt: now, IdleExpiry: s.refreshIdle(now, g)}
	} else {
		// Without a refresh token the grant only lives as long as its access tokens.
		g.AbsoluteExpiry = now.Add(max(s.Lifetimes.AccessToken, s.Lifetimes.IDToken))
	}
	if err := s.Storage.CreateGrant(ctx, g, first); err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	resp, err := s.mint(g, g.Identity, g.Scopes, true)
	if err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	resp.RefreshToken = refresh
	s.Logger.Info("tokens issued", "grant_type", "authorization_code", "client_id", c.ID, "sub", g.Identity.Subject, "refresh", refresh != "")
	return resp, nil
}

func (s *Server) refreshIdle(now time.Time, g storage.Grant) time.Time {
	t := now.Add(s.Lifetimes.RefreshIdle)
	if t.After(g.AbsoluteExpiry) {
		t = g.AbsoluteExpiry
	}
	return t
}

// refreshGrant rotates a refresh token (RFC 6749 6, OIDC Core 12).
func (s *Server) refreshGrant(r *http.Request, c *clients.Client) (tokenResponse, error) {
	ctx := r.Context()
	old := r.PostFormValue("refresh_token")
	if old == "" {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidRequest, "refresh_token is missing")
	}
	now := s.Now().UTC()
	refresh := randomToken()
	next := storage.RefreshToken{Hash: hashToken(refresh), CreatedAt: now, IdleExpiry: now.Add(s.Lifetimes.RefreshIdle)}
	g, prev, err := s.Storage.RotateRefreshToken(ctx, hashToken(old), next, now)
	switch {
	case errors.Is(err, storage.ErrReused):
		if s.Lifetimes.ReuseGrace > 0 && now.Sub(prev.UsedAt) <= s.Lifetimes.ReuseGrace {
			return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the refresh token was just used; use the newer one")
		}
		if rerr := s.Storage.RevokeGrant(ctx, prev.GrantID, now); rerr != nil {
			return tokenResponse{}, oauth2err.Server(rerr)
		}
		s.Logger.Warn("rotated refresh token reused; its family is revoked", "client_id", c.ID, "grant", prev.GrantID)
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the refresh token was already used")
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the refresh token is invalid, expired or revoked")
	case err != nil:
		return tokenResponse{}, oauth2err.Server(err)
	}
	if g.ClientID != c.ID {
		// The token leaked to another client: revoke the family.
		_ = s.Storage.RevokeGrant(ctx, g.ID, now)
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the refresh token was issued to another client")
	}
	scopes := g.Scopes
	if sc := r.PostFormValue("scope"); sc != "" {
		scopes = strings.Fields(sc)
		for _, x := range scopes {
			if !slices.Contains(g.Scopes, x) {
				return tokenResponse{}, oauth2err.New(oauth2err.InvalidScope, "scope exceeds what was granted")
			}
		}
	}
	id := g.Identity
	if cn := s.connByID[g.Auth.ConnectorID]; cn != nil && cn.Conn != nil {
		if rc, ok := cn.Conn.(connectors.RefreshConnector); ok {
			up, err := rc.Refresh(ctx, connectors.Scopes{Offline: true, Groups: slices.Contains(scopes, "groups"), Requested: scopes},
				connectors.Upstream{Subject: g.Auth.UpstreamSubject, Stash: g.Auth.ConnectorData})
			switch {
			case errors.Is(err, connectors.ErrUpstreamRevoked):
				_ = s.Storage.RevokeGrant(ctx, g.ID, now)
				return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the upstream account is no longer valid")
			case err != nil:
				return tokenResponse{}, &oauth2err.Error{Code: oauth2err.TemporarilyUnavailable, Description: "the upstream identity provider is unavailable", Status: http.StatusServiceUnavailable}
			}
			fresh, err := s.Claims.Normalize(ctx, g.Auth.ConnectorID, up)
			if err == nil {
				err = s.Claims.AuthorizeClient(g.ClientID, fresh)
			}
			var denied *connectors.DeniedError
			if errors.As(err, &denied) {
				_ = s.Storage.RevokeGrant(ctx, g.ID, now)
				return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the user may no longer use this client: "+denied.Reason)
			}
			if err != nil {
				return tokenResponse{}, oauth2err.Server(err)
			}
			id = fresh
			// Remember what the upstream said now: a rotated upstream refresh token must be
			// used next time, and userinfo must answer with the refreshed identity.
			stashChanged := up.Stash != nil && !bytes.Equal(up.Stash, g.Auth.ConnectorData)
			if gu, ok := s.Storage.(storage.GrantUpdater); ok && (stashChanged || !sameIdentity(fresh, g.Identity)) {
				auth := g.Auth
				if up.Stash != nil {
					auth.ConnectorData = up.Stash
				}
				if err := gu.UpdateGrantIdentity(ctx, g.ID, fresh, auth); err != nil {
					return tokenResponse{}, oauth2err.Server(err)
				}
			} else if !ok && stashChanged {
				s.Logger.Warn("storage cannot update a grant; the connector's refreshed state is lost", "connector", g.Auth.ConnectorID)
			}
		}
	}
	resp, err := s.mint(g, id, scopes, false)
	if err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	resp.RefreshToken = refresh
	return resp, nil
}

// mint signs the access token and (for openid requests) the ID token of a grant.
func (s *Server) mint(g storage.Grant, id storage.Identity, scopes []string, withNonce bool) (tokenResponse, error) {
	now := s.Now()
	at, err := s.Minter.SignAccessToken(tokens.AccessToken{
		ID: randomID(), Subject: s.Claims.SubjectFor(g.ClientID, id.Subject), ClientID: g.ClientID, GrantID: g.ID, SessionID: g.SessionID,
		Scopes: scopes, Audience: []string{g.ClientID}, AuthTime: g.Auth.AuthTime, Expiry: now.Add(s.Lifetimes.AccessToken),
	})
	if err != nil {
		return tokenResponse{}, err
	}
	resp := tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(s.Lifetimes.AccessToken / time.Second), Scope: strings.Join(scopes, " ")}
	if slices.Contains(scopes, "openid") {
		it := tokens.IDToken{
			Subject: s.Claims.SubjectFor(g.ClientID, id.Subject), Audience: g.ClientID, AuthorizedParty: g.ClientID, SessionID: g.SessionID,
			ACR: g.Auth.ACR, AMR: g.Auth.AMR, AuthTime: g.Auth.AuthTime, Expiry: now.Add(s.Lifetimes.IDToken),
			AccessToken: at, Claims: s.Claims.Claims(g.ClientID, id, g.Auth, scopes),
		}
		if withNonce {
			it.Nonce = g.Nonce
		}
		if resp.IDToken, err = s.Minter.SignIDToken(it); err != nil {
			return tokenResponse{}, err
		}
	}
	return resp, nil
}

// sameIdentity reports whether two identities would be stored the same (nil and empty lists
// are equal), so an unchanged refresh costs no write.
func sameIdentity(a, b storage.Identity) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
