package broker

import (
	"bytes"
	"context"
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
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

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
		s.Logger.InfoContext(r.Context(), "client authentication failed", "client_id", cr.ID, "method", cr.Method)
		return nil, oauth2err.New(oauth2err.InvalidClient, "client authentication failed")
	}
	logctx.Add(r.Context(), "client_id", c.ID)
	return c, nil
}

// handleToken is the token endpoint (RFC 6749 3.2).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	arrived := s.Now().UTC() // before anything else: tells a concurrent refresh from a retry
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
		resp, err = s.refreshGrant(r, c, arrived)
	case "":
		err = oauth2err.New(oauth2err.InvalidRequest, "grant_type is missing")
	default:
		err = oauth2err.New(oauth2err.UnsupportedGrantType, "unsupported grant_type")
	}
	if err != nil {
		e := oauth2err.As(err)
		if e.Code == oauth2err.ServerError {
			s.Logger.ErrorContext(r.Context(), "token request failed", "client_id", c.ID, "err", e)
			e = oauth2err.As(s.degrade(r.Context(), e))
		} else {
			s.Logger.InfoContext(r.Context(), "token request refused", "client_id", c.ID, "err", e)
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
	_ = json.NewEncoder(w).Encode(resp) //nolint:errcheck // the client went away; nothing to do
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
	ac, err := s.Storage.ConsumeCode(ctx, opaque.Hash(code), now)
	switch {
	case errors.Is(err, storage.ErrReused):
		// A replayed code: refuse it and revoke everything issued from it (RFC 6749 4.1.2).
		if rerr := s.Storage.RevokeGrant(ctx, ac.GrantID, now); rerr != nil {
			return tokenResponse{}, oauth2err.Server(rerr)
		}
		s.Logger.WarnContext(r.Context(), "authorization code replayed; its tokens are revoked", "client_id", c.ID, "grant", ac.GrantID)
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the authorization code was already used")
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the authorization code is invalid or expired")
	case err != nil:
		return tokenResponse{}, oauth2err.Server(err)
	}
	if ac.ClientID != c.ID {
		// The code leaked to another client: revoke what it issued (nothing yet, normally).
		if err := s.Storage.RevokeGrant(ctx, ac.GrantID, now); err != nil {
			return tokenResponse{}, oauth2err.Server(err)
		}
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the authorization code was issued to another client")
	}
	if r.PostFormValue("redirect_uri") != ac.RedirectURI {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "redirect_uri does not match the authorization request")
	}
	if err := verifyPKCE(ac.CodeChallenge, ac.CodeChallengeMethod, r.PostFormValue("code_verifier")); err != nil {
		return tokenResponse{}, err
	}
	if err := s.codeSessionLive(ctx, ac); err != nil {
		return tokenResponse{}, err
	}
	g := storage.Grant{
		ID: ac.GrantID, ClientID: c.ID, Scopes: ac.Scopes, Nonce: ac.Nonce, Identity: ac.Identity, Auth: ac.Auth,
		SessionID: ac.SessionID, CreatedAt: now, AbsoluteExpiry: now.Add(s.Lifetimes.RefreshAbsolute),
	}
	var refresh string
	var first *storage.RefreshToken
	if slices.Contains(ac.Scopes, "offline_access") {
		refresh = opaque.Token()
		first = &storage.RefreshToken{Hash: opaque.Hash(refresh), GrantID: g.ID, CreatedAt: now, IdleExpiry: s.refreshIdle(now, g)}
	} else {
		// Without a refresh token the grant only lives as long as its access tokens.
		g.AbsoluteExpiry = now.Add(max(s.Lifetimes.AccessToken, s.Lifetimes.IDToken))
	}
	// Sign first: a signing failure must not leave a stored grant (and refresh token) that
	// no client holds.
	resp, err := s.mint(g, g.Identity, g.Scopes, true)
	if err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	if err := s.Storage.CreateGrant(ctx, g, first); err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	resp.RefreshToken = refresh
	s.Logger.InfoContext(r.Context(), "tokens issued", "grant_type", "authorization_code", "client_id", c.ID, "sub", g.Identity.Subject, "refresh", refresh != "")
	return resp, nil
}

// codeSessionLive refuses a code without offline_access whose SSO session ended (logout)
// after it was issued: its tokens would escape the logout's revocation of the session's
// grants. Offline grants outlive the session by design.
func (s *Server) codeSessionLive(ctx context.Context, ac storage.AuthCode) error {
	if ac.SessionID == "" || slices.Contains(ac.Scopes, "offline_access") {
		return nil
	}
	_, live, err := s.Sessions.Live(ctx, ac.SessionID)
	if err != nil {
		return oauth2err.Server(err)
	}
	if !live {
		return oauth2err.New(oauth2err.InvalidGrant, "the user signed out after the authorization code was issued")
	}
	return nil
}

func (s *Server) refreshIdle(now time.Time, g storage.Grant) time.Time {
	t := now.Add(s.Lifetimes.RefreshIdle)
	if t.After(g.AbsoluteExpiry) {
		t = g.AbsoluteExpiry
	}
	return t
}

// refreshGrant rotates a refresh token (RFC 6749 6, OIDC Core 12).
//
// Nothing irreversible happens before the last step that can fail: the token and its grant
// are read, the requested scope checked and the upstream asked (no transaction is held across
// that call), what the upstream answered is kept on the grant and the tokens are signed, and
// only then is the token rotated atomically. An upstream that is down or an
// invalid_scope leaves the client's token usable. If the rotation loses a race with a
// concurrent use of the same token, the winner's result stands and the loser is refused
// without revoking anything. A client whose response was lost in flight may retry with the
// previous token within Lifetimes.ReuseGrace while the successor is unused: it gets a fresh
// pair and the unused successor is revoked (storage.RefreshReissuer); presenting that revoked
// successor later is refused without revoking the family (it was never redeemed, and its twin
// carries the family on: this is also how two nearly concurrent requests end, when the second
// arrives after the first committed and so looks like a retry). A retry is sent after
// the lost response, so a request that arrived before the rotation committed is a concurrent
// use instead: it is refused without revoking anything. Any other reuse of a rotated token
// revokes the family.
func (s *Server) refreshGrant(r *http.Request, c *clients.Client, arrived time.Time) (tokenResponse, error) {
	ctx := r.Context()
	old := r.PostFormValue("refresh_token")
	if old == "" {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidRequest, "refresh_token is missing")
	}
	now := s.Now().UTC()
	oldHash := opaque.Hash(old)
	rt, err := s.Storage.GetRefreshToken(ctx, oldHash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the refresh token is invalid, expired or revoked")
	case err != nil:
		return tokenResponse{}, oauth2err.Server(err)
	}
	g, err := s.Storage.GetGrant(ctx, rt.GrantID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the refresh token is invalid, expired or revoked")
	case err != nil:
		return tokenResponse{}, oauth2err.Server(err)
	}
	if g.ClientID != c.ID {
		// The token leaked to another client: revoke the family.
		if err := s.Storage.RevokeGrant(ctx, g.ID, now); err != nil {
			return tokenResponse{}, oauth2err.Server(err)
		}
		s.Logger.WarnContext(r.Context(), "refresh token presented by another client; its family is revoked", "client_id", c.ID, "grant", g.ID)
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the refresh token was issued to another client")
	}
	if g.Revoked || (!g.AbsoluteExpiry.IsZero() && !now.Before(g.AbsoluteExpiry)) ||
		(rt.UsedAt.IsZero() && !rt.IdleExpiry.IsZero() && !now.Before(rt.IdleExpiry)) {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the refresh token is invalid, expired or revoked")
	}
	reissuer, canReissue := s.Storage.(storage.RefreshReissuer)
	retry := !rt.UsedAt.IsZero()
	if retry && arrived.Before(rt.UsedAt.Add(time.Millisecond)) { // storage keeps milliseconds
		return tokenResponse{}, s.lostRace(r.Context(), c, g.ID)
	}
	if retry && canReissue {
		// A successor that a retry of its predecessor replaced was never redeemed: refused,
		// but not reuse (its twin, the retry's answer, carries the family on).
		superseded, err := reissuer.RefreshTokenSuperseded(ctx, oldHash)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return tokenResponse{}, oauth2err.Server(err)
		}
		if superseded {
			s.Logger.InfoContext(r.Context(), "refresh with a token replaced by a retry; refused, family kept", "client_id", c.ID, "grant", g.ID)
			return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the refresh token was replaced by a newer one")
		}
	}
	if retry && (!canReissue || s.Lifetimes.ReuseGrace <= 0 || now.Sub(rt.UsedAt) > s.Lifetimes.ReuseGrace) {
		return tokenResponse{}, s.refreshReused(ctx, c, g.ID, now)
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
	id, auth, changed, err := s.refreshUpstream(ctx, g, scopes, now)
	if err != nil {
		return tokenResponse{}, err
	}
	if changed {
		// Remember what the upstream said before rotating: it reflects what the upstream
		// already did (a rotated upstream refresh token must be used next time, whatever
		// happens to this rotation), and a failure here leaves the client's token usable.
		if gu, ok := s.Storage.(storage.GrantUpdater); ok {
			if err := gu.UpdateGrantIdentity(ctx, g.ID, id, auth); err != nil {
				return tokenResponse{}, oauth2err.Server(err)
			}
		} else if !bytes.Equal(auth.ConnectorData, g.Auth.ConnectorData) {
			s.Logger.WarnContext(r.Context(), "storage cannot update a grant; the connector's refreshed state is lost", "connector", g.Auth.ConnectorID)
		}
	}
	// Signing can fail too: mint before the rotation, the last step.
	resp, err := s.mint(g, id, scopes, false)
	if err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}

	refresh := opaque.Token()
	next := storage.RefreshToken{Hash: opaque.Hash(refresh), CreatedAt: now, IdleExpiry: s.refreshIdle(now, g)}
	if retry {
		_, _, err = reissuer.ReissueRefreshToken(ctx, oldHash, next, s.Lifetimes.ReuseGrace, now)
	} else {
		_, _, err = s.Storage.RotateRefreshToken(ctx, oldHash, next, now)
	}
	switch {
	case retry && errors.Is(err, storage.ErrReused):
		// The successor was used meanwhile: this is reuse, not a lost response.
		return tokenResponse{}, s.refreshReused(ctx, c, g.ID, now)
	case errors.Is(err, storage.ErrReused), errors.Is(err, storage.ErrConflict):
		return tokenResponse{}, s.lostRace(r.Context(), c, g.ID)
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the refresh token is invalid, expired or revoked")
	case err != nil:
		return tokenResponse{}, oauth2err.Server(err)
	}
	if retry {
		s.Logger.InfoContext(r.Context(), "refresh retried with the previous token within the reuse grace; its unused successor is revoked", "client_id", c.ID, "grant", g.ID)
	}
	resp.RefreshToken = refresh
	return resp, nil
}

// lostRace refuses a refresh that a concurrent request with the same token beat to the
// rotation: the winner's result stands and nothing is revoked.
func (s *Server) lostRace(ctx context.Context, c *clients.Client, grantID string) error {
	s.Logger.InfoContext(ctx, "refresh lost a race with a concurrent use of the same token", "client_id", c.ID, "grant", grantID)
	return oauth2err.New(oauth2err.InvalidGrant, "the refresh token was just used by a concurrent request; use the newer one")
}

// refreshReused revokes the family of a rotated refresh token presented again.
func (s *Server) refreshReused(ctx context.Context, c *clients.Client, grantID string, now time.Time) error {
	if err := s.Storage.RevokeGrant(ctx, grantID, now); err != nil {
		return oauth2err.Server(err)
	}
	s.Logger.WarnContext(ctx, "rotated refresh token reused; its family is revoked", "client_id", c.ID, "grant", grantID)
	return oauth2err.New(oauth2err.InvalidGrant, "the refresh token was already used")
}

// refreshUpstream asks the grant's connector about the user again (when it can refresh) and
// re-applies the claims pipeline and the client's requirements. It returns the identity to
// mint with, the Authentication to remember, and whether either changed. Nothing is written
// except a revocation when the upstream or a requirement now refuses the user.
func (s *Server) refreshUpstream(ctx context.Context, g storage.Grant, scopes []string, now time.Time) (storage.Identity, storage.Authentication, bool, error) {
	if g.Auth.ConnectorID == "" {
		return g.Identity, g.Auth, false, nil
	}
	// Fail closed: a connector removed from the configuration cannot vouch for the user any
	// more (the grant is revoked); one that failed to open cannot say whether it still would
	// (the token stays usable, as for an upstream that is down).
	cn, _ := s.conns.Get(g.Auth.ConnectorID)
	switch {
	case cn == nil:
		if err := s.Storage.RevokeGrant(ctx, g.ID, now); err != nil {
			return storage.Identity{}, storage.Authentication{}, false, oauth2err.Server(err)
		}
		s.Logger.WarnContext(ctx, "refresh: the grant's connector was removed; the grant is revoked", "connector", g.Auth.ConnectorID, "client_id", g.ClientID)
		return storage.Identity{}, storage.Authentication{}, false, oauth2err.New(oauth2err.InvalidGrant, "the sign-in method of this grant is no longer available")
	case cn.Conn == nil:
		s.Logger.WarnContext(ctx, "refresh: the grant's connector failed to open; the refresh token was not rotated", "connector", g.Auth.ConnectorID, "client_id", g.ClientID)
		return storage.Identity{}, storage.Authentication{}, false, (&oauth2err.Error{Code: oauth2err.TemporarilyUnavailable,
			Description: "the upstream identity provider is unavailable", Status: http.StatusServiceUnavailable}).WithCause(cn.Err)
	}
	rc, ok := cn.Conn.(connectors.RefreshConnector)
	if !ok {
		return g.Identity, g.Auth, false, nil
	}
	logctx.Add(ctx, "connector", cn.Info.ID)
	up, err := rc.Refresh(ctx, connectors.Scopes{Offline: true, Groups: slices.Contains(scopes, "groups"), Requested: scopes},
		connectors.Upstream{Subject: g.Auth.UpstreamSubject, Stash: g.Auth.ConnectorData})
	switch {
	case errors.Is(err, connectors.ErrUpstreamRevoked):
		if rerr := s.Storage.RevokeGrant(ctx, g.ID, now); rerr != nil {
			return storage.Identity{}, storage.Authentication{}, false, oauth2err.Server(rerr)
		}
		return storage.Identity{}, storage.Authentication{}, false, oauth2err.New(oauth2err.InvalidGrant, "the upstream account is no longer valid")
	case err != nil:
		// The cause goes to the log, never to the client; the client's token stays usable.
		s.Logger.WarnContext(ctx, "refresh: upstream unavailable; the refresh token was not rotated", "connector", g.Auth.ConnectorID, "client_id", g.ClientID, "err", err)
		return storage.Identity{}, storage.Authentication{}, false, (&oauth2err.Error{Code: oauth2err.TemporarilyUnavailable,
			Description: "the upstream identity provider is unavailable", Status: http.StatusServiceUnavailable}).WithCause(err)
	}
	fresh, err := s.Claims.Normalize(ctx, g.Auth.ConnectorID, up)
	if err == nil {
		err = s.Claims.AuthorizeClient(g.ClientID, fresh)
	}
	var denied *connectors.DeniedError
	if errors.As(err, &denied) {
		if rerr := s.Storage.RevokeGrant(ctx, g.ID, now); rerr != nil {
			return storage.Identity{}, storage.Authentication{}, false, oauth2err.Server(rerr)
		}
		return storage.Identity{}, storage.Authentication{}, false, oauth2err.New(oauth2err.InvalidGrant, "the user may no longer use this client: "+denied.Reason)
	}
	if err != nil {
		return storage.Identity{}, storage.Authentication{}, false, oauth2err.Server(err)
	}
	auth := g.Auth
	if up.Stash != nil {
		auth.ConnectorData = up.Stash
	}
	changed := !bytes.Equal(auth.ConnectorData, g.Auth.ConnectorData) || !sameIdentity(fresh, g.Identity)
	return fresh, auth, changed, nil
}

// mint signs the access token and (for openid requests) the ID token of a grant.
func (s *Server) mint(g storage.Grant, id storage.Identity, scopes []string, withNonce bool) (tokenResponse, error) {
	now := s.Now()
	at, err := s.Minter.SignAccessToken(tokens.AccessToken{
		ID: opaque.ID(), Subject: s.Claims.SubjectFor(g.ClientID, id.Subject), ClientID: g.ClientID, GrantID: g.ID, SessionID: g.SessionID,
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
