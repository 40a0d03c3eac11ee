package broker

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// verifyAccess checks an access token: signature, issuer, expiry, and that its grant is live.
func (s *Server) verifyAccess(r *http.Request, raw string) (tokens.AccessToken, storage.Grant, error) {
	at, err := s.verified.verify(raw, s.Now(), s.Minter.VerifyAccessToken)
	if err != nil {
		return at, storage.Grant{}, oauth2err.New(oauth2err.InvalidToken, "the access token is invalid or expired").WithCause(err)
	}
	g, err := s.Storage.GetGrant(r.Context(), at.GrantID)
	if errors.Is(err, storage.ErrNotFound) {
		return at, g, oauth2err.New(oauth2err.InvalidToken, "the access token was revoked")
	}
	if err != nil {
		return at, g, oauth2err.Server(err)
	}
	if g.Revoked {
		return at, g, oauth2err.New(oauth2err.InvalidToken, "the access token was revoked")
	}
	return at, g, nil
}

// bearerToken extracts an RFC 6750 bearer token from the header or (POST) form body.
func bearerToken(w http.ResponseWriter, r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	var fromHeader string
	if h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", oauth2err.New(oauth2err.InvalidRequest, "malformed Authorization header")
		}
		fromHeader = strings.TrimSpace(tok)
	}
	var fromBody string
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err == nil {
			fromBody = r.PostForm.Get("access_token")
		}
	}
	switch {
	case fromHeader != "" && fromBody != "":
		return "", oauth2err.New(oauth2err.InvalidRequest, "more than one method used to send the access token")
	case fromHeader != "":
		return fromHeader, nil
	case fromBody != "":
		return fromBody, nil
	}
	return "", &oauth2err.Error{Code: "", Status: http.StatusUnauthorized}
}

// handleUserinfo is the OIDC UserInfo endpoint (OIDC Core 5.3).
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	raw, err := bearerToken(w, r)
	if err != nil {
		oauth2err.WriteBearer(w, err)
		return
	}
	at, g, err := s.verifyAccess(r, raw)
	if err != nil {
		if e := oauth2err.As(err); e.Code == oauth2err.ServerError {
			s.Logger.ErrorContext(r.Context(), "userinfo", "err", e)
			err = s.degrade(r.Context(), e)
		}
		oauth2err.WriteBearer(w, err)
		return
	}
	if !containsScope(at.Scopes, "openid") {
		oauth2err.WriteBearer(w, oauth2err.New(oauth2err.InsufficientScope, "the access token lacks the openid scope"))
		return
	}
	out := s.Claims.Claims(g.ClientID, g.Identity, g.Auth, at.Scopes)
	out["sub"] = s.Claims.SubjectFor(g.ClientID, g.Identity.Subject)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out) //nolint:errcheck // the client went away; nothing to do
}

func containsScope(scopes []string, s string) bool {
	for _, x := range scopes {
		if x == s {
			return true
		}
	}
	return false
}

// handleRevoke is token revocation (RFC 7009). Revoking either token of a grant revokes the
// whole grant: its refresh token and every access token issued with it.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if err := parseAPIForm(w, r); err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	c, err := s.authenticateClient(r)
	if err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	tok := r.PostFormValue("token")
	if tok == "" {
		oauth2err.WriteJSON(w, r, oauth2err.New(oauth2err.InvalidRequest, "token is missing"))
		return
	}
	hint := r.PostFormValue("token_type_hint")
	ctx := r.Context()
	now := s.Now().UTC()
	grantID := ""
	tryRefresh := func() bool {
		rt, err := s.Storage.GetRefreshToken(ctx, opaque.Hash(tok))
		if err != nil {
			return false
		}
		grantID = rt.GrantID
		return true
	}
	tryAccess := func() bool {
		at, err := s.Minter.VerifyAccessToken(tok)
		if err != nil {
			return false
		}
		grantID = at.GrantID
		return true
	}
	if hint == "access_token" {
		_ = tryAccess() || tryRefresh()
	} else {
		_ = tryRefresh() || tryAccess()
	}
	if grantID != "" {
		g, err := s.Storage.GetGrant(ctx, grantID)
		switch {
		case err == nil && g.ClientID == c.ID:
			if err := s.Storage.RevokeGrant(ctx, grantID, now); err != nil {
				s.Logger.ErrorContext(r.Context(), "revoke grant", "err", err)
				oauth2err.WriteJSON(w, r, oauth2err.Server(err))
				return
			}
			s.Logger.InfoContext(r.Context(), "tokens revoked", "client_id", c.ID, "grant", grantID)
		case err == nil:
			// RFC 7009 2.1: a client may only revoke its own tokens; the request is refused
			// and the client told.
			s.Logger.WarnContext(r.Context(), "client tried to revoke another client's token", "client_id", c.ID)
			oauth2err.WriteJSON(w, r, &oauth2err.Error{Code: oauth2err.UnauthorizedClient,
				Description: "the token was not issued to this client", Status: http.StatusBadRequest})
			return
		case !errors.Is(err, storage.ErrNotFound):
			oauth2err.WriteJSON(w, r, oauth2err.Server(err))
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// handleIntrospect is token introspection (RFC 7662), for confidential clients. A client
// learns about tokens issued to it or intended for it; anything else is reported inactive.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	if err := parseAPIForm(w, r); err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	c, err := s.authenticateClient(r)
	if err == nil && c.Public {
		err = oauth2err.New(oauth2err.InvalidClient, "public clients may not introspect tokens")
	}
	if err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	tok := r.PostFormValue("token")
	if tok == "" {
		oauth2err.WriteJSON(w, r, oauth2err.New(oauth2err.InvalidRequest, "token is missing"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	inactive := []byte(`{"active":false}` + "\n")
	ctx := r.Context()
	if at, g, err := s.verifyAccess(r, tok); err == nil {
		if g.ClientID != c.ID && !containsScope(at.Audience, c.ID) {
			_, _ = w.Write(inactive)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck // the client went away; nothing to do
			"active": true, "token_type": "Bearer", "scope": strings.Join(at.Scopes, " "), "client_id": at.ClientID,
			"sub": at.Subject, "aud": at.Audience, "iss": s.Issuer, "exp": at.Expiry.Unix(), "jti": at.ID,
			"username": g.Identity.PreferredUsername,
		})
		return
	} else if e := oauth2err.As(err); e.Code == oauth2err.ServerError {
		s.Logger.ErrorContext(r.Context(), "introspection", "err", e)
		oauth2err.WriteJSON(w, r, s.degrade(ctx, e))
		return
	}
	rt, err := s.Storage.GetRefreshToken(ctx, opaque.Hash(tok))
	if err != nil || !rt.UsedAt.IsZero() || !s.Now().Before(rt.IdleExpiry) {
		_, _ = w.Write(inactive)
		return
	}
	g, err := s.Storage.GetGrant(ctx, rt.GrantID)
	if err != nil || g.Revoked || g.ClientID != c.ID || !s.Now().Before(g.AbsoluteExpiry) {
		_, _ = w.Write(inactive)
		return
	}
	exp := rt.IdleExpiry
	if g.AbsoluteExpiry.Before(exp) {
		exp = g.AbsoluteExpiry
	}
	_ = json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck // the client went away; nothing to do
		"active": true, "token_type": "refresh_token", "scope": strings.Join(g.Scopes, " "), "client_id": g.ClientID,
		"sub": s.Claims.SubjectFor(g.ClientID, g.Identity.Subject), "iss": s.Issuer, "exp": exp.Unix(), "iat": rt.CreatedAt.Unix(),
	})
}
