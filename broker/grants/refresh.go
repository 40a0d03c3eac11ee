package grants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/storage"
)

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
//
// jkt is the request's DPoP key: a grant bound to a key (a public client's, RFC 9449 5) is
// refreshed only with a proof of it, checked before anything else so that a stolen token
// presented without the key changes nothing; the new access token is bound to jkt.
func (h *Handler) refreshGrant(r *http.Request, c *clients.Client, arrived time.Time, jkt string) (tokenResponse, error) {
	ctx := r.Context()
	old := r.PostFormValue("refresh_token")
	if old == "" {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidRequest, "refresh_token is missing")
	}
	now := h.Now().UTC()
	oldHash := opaque.Hash(old)
	rt, g, err := h.readRefresh(ctx, c, oldHash, now)
	if err != nil {
		return tokenResponse{}, err
	}
	if err := checkGrantKey(g, jkt); err != nil {
		return tokenResponse{}, err
	}
	retry, reissuer, err := h.classifyReuse(ctx, c, rt, g, oldHash, arrived, now)
	if err != nil {
		return tokenResponse{}, err
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
	aud, err := grantAudience(r, g)
	if err != nil {
		return tokenResponse{}, err
	}
	id, auth, changed, err := h.refreshUpstream(ctx, g, scopes, now)
	if err != nil {
		return tokenResponse{}, err
	}
	if changed {
		// Remember what the upstream said before rotating: it reflects what the upstream
		// already did (a rotated upstream refresh token must be used next time, whatever
		// happens to this rotation), and a failure here leaves the client's token usable.
		if gu, ok := h.Grants.(storage.GrantUpdater); ok {
			if err := gu.UpdateGrantIdentity(ctx, g.ID, id, auth); err != nil {
				return tokenResponse{}, oauth2err.Server(err)
			}
		} else if !bytes.Equal(auth.ConnectorData, g.Auth.ConnectorData) {
			h.Logger.WarnContext(r.Context(), "storage cannot update a grant; the connector's refreshed state is lost", "connector", g.Auth.ConnectorID)
		}
	}
	// Signing can fail too: mint before the rotation, the last step.
	resp, err := h.mintFor(ctx, g, id, scopes, aud, false, jkt)
	if err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	if resp.RefreshToken, err = h.rotate(ctx, c, g, oldHash, retry, reissuer, now); err != nil {
		return tokenResponse{}, err
	}
	h.Audit.Record(ctx, tokenEvent(audit.TokenRefreshed, "refresh_token", g))
	return resp, nil
}

// getRefreshAndGrant reads a refresh token and its grant, in one read when the storage can.
func (h *Handler) getRefreshAndGrant(ctx context.Context, hash string) (storage.RefreshToken, storage.Grant, error) {
	if hp, ok := h.Grants.(storage.RefreshHotPath); ok {
		return hp.GetRefreshTokenAndGrant(ctx, hash)
	}
	rt, err := h.Grants.GetRefreshToken(ctx, hash)
	if err != nil {
		return rt, storage.Grant{}, err
	}
	g, err := h.Grants.GetGrant(ctx, rt.GrantID)
	return rt, g, err
}

// readRefresh reads the presented refresh token and its grant, and refuses one that belongs
// to another client (revoking its family), is revoked, or has expired.
func (h *Handler) readRefresh(ctx context.Context, c *clients.Client, oldHash string, now time.Time) (storage.RefreshToken, storage.Grant, error) {
	rt, g, err := h.getRefreshAndGrant(ctx, oldHash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return rt, g, oauth2err.New(oauth2err.InvalidGrant, "the refresh token is invalid, expired or revoked")
	case err != nil:
		return rt, g, oauth2err.Server(err)
	}
	if g.ClientID != c.ID {
		// The token leaked to another client: revoke the family.
		if err := h.Grants.RevokeGrant(ctx, g.ID, now); err != nil {
			return rt, g, oauth2err.Server(err)
		}
		h.Logger.WarnContext(ctx, "refresh token presented by another client; its family is revoked", "client_id", c.ID, "grant", g.ID)
		h.Audit.Record(ctx, audit.Event{Type: audit.RefreshReuse, Outcome: "other_client", User: g.Identity.Subject, ClientID: c.ID, Detail: map[string]string{"grant": g.ID}})
		return rt, g, oauth2err.New(oauth2err.InvalidGrant, "the refresh token was issued to another client")
	}
	if g.Revoked || (!g.AbsoluteExpiry.IsZero() && !now.Before(g.AbsoluteExpiry)) ||
		(rt.UsedAt.IsZero() && !rt.IdleExpiry.IsZero() && !now.Before(rt.IdleExpiry)) {
		return rt, g, oauth2err.New(oauth2err.InvalidGrant, "the refresh token is invalid, expired or revoked")
	}
	return rt, g, nil
}

// classifyReuse decides what presenting an already rotated token is: a concurrent use that
// lost the race (refused, nothing revoked), a superseded successor (refused, family kept),
// reuse (the family is revoked), or a retry within the grace (retry is true: the rotation
// reissues through the returned reissuer). A token never used is none of these.
func (h *Handler) classifyReuse(ctx context.Context, c *clients.Client, rt storage.RefreshToken, g storage.Grant, oldHash string, arrived, now time.Time) (bool, storage.RefreshReissuer, error) {
	reissuer, canReissue := h.Grants.(storage.RefreshReissuer)
	retry := !rt.UsedAt.IsZero()
	if retry && arrived.Before(rt.UsedAt.Add(time.Millisecond)) { // storage keeps milliseconds
		return false, nil, h.lostRace(ctx, c, g.ID)
	}
	if retry && canReissue {
		// A successor that a retry of its predecessor replaced was never redeemed: refused,
		// but not reuse (its twin, the retry's answer, carries the family on).
		superseded, err := reissuer.RefreshTokenSuperseded(ctx, oldHash)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return false, nil, oauth2err.Server(err)
		}
		if superseded {
			h.Logger.InfoContext(ctx, "refresh with a token replaced by a retry; refused, family kept", "client_id", c.ID, "grant", g.ID)
			return false, nil, oauth2err.New(oauth2err.InvalidGrant, "the refresh token was replaced by a newer one")
		}
	}
	if retry && (!canReissue || h.Lifetimes.ReuseGrace <= 0 || now.Sub(rt.UsedAt) > h.Lifetimes.ReuseGrace) {
		return false, nil, h.refreshReused(ctx, c, g.ID, now)
	}
	return retry, reissuer, nil
}

// rotate replaces the presented token with a new one, atomically, as the last step, and
// returns the new token.
func (h *Handler) rotate(ctx context.Context, c *clients.Client, g storage.Grant, oldHash string, retry bool, reissuer storage.RefreshReissuer, now time.Time) (string, error) {
	refresh := opaque.Token()
	next := storage.RefreshToken{Hash: opaque.Hash(refresh), CreatedAt: now, IdleExpiry: h.refreshIdle(now, g)}
	var err error
	if retry {
		_, _, err = reissuer.ReissueRefreshToken(ctx, oldHash, next, h.Lifetimes.ReuseGrace, now)
	} else if hp, ok := h.Grants.(storage.RefreshHotPath); ok {
		_, err = hp.RotateRefreshTokenOnly(ctx, oldHash, next, now)
	} else {
		_, _, err = h.Grants.RotateRefreshToken(ctx, oldHash, next, now)
	}
	switch {
	case retry && errors.Is(err, storage.ErrReused):
		// The successor was used meanwhile: this is reuse, not a lost response.
		return "", h.refreshReused(ctx, c, g.ID, now)
	case errors.Is(err, storage.ErrReused), errors.Is(err, storage.ErrConflict):
		return "", h.lostRace(ctx, c, g.ID)
	case errors.Is(err, storage.ErrNotFound):
		return "", oauth2err.New(oauth2err.InvalidGrant, "the refresh token is invalid, expired or revoked")
	case err != nil:
		return "", oauth2err.Server(err)
	}
	if retry {
		h.Logger.InfoContext(ctx, "refresh retried with the previous token within the reuse grace; its unused successor is revoked", "client_id", c.ID, "grant", g.ID)
	}
	return refresh, nil
}

// lostRace refuses a refresh that a concurrent request with the same token beat to the
// rotation: the winner's result stands and nothing is revoked.
func (h *Handler) lostRace(ctx context.Context, c *clients.Client, grantID string) error {
	h.Logger.InfoContext(ctx, "refresh lost a race with a concurrent use of the same token", "client_id", c.ID, "grant", grantID)
	return oauth2err.New(oauth2err.InvalidGrant, "the refresh token was just used by a concurrent request; use the newer one")
}

// refreshReused revokes the family of a rotated refresh token presented again.
func (h *Handler) refreshReused(ctx context.Context, c *clients.Client, grantID string, now time.Time) error {
	if err := h.Grants.RevokeGrant(ctx, grantID, now); err != nil {
		return oauth2err.Server(err)
	}
	h.Logger.WarnContext(ctx, "rotated refresh token reused; its family is revoked", "client_id", c.ID, "grant", grantID)
	h.Audit.Record(ctx, audit.Event{Type: audit.RefreshReuse, Outcome: "family_revoked", ClientID: c.ID, Detail: map[string]string{"grant": grantID}})
	return oauth2err.New(oauth2err.InvalidGrant, "the refresh token was already used")
}

// refreshUpstream asks the grant's connector about the user again (when it can refresh) and
// re-applies the claims pipeline and the client's requirements. It returns the identity to
// mint with, the Authentication to remember, and whether either changed. Nothing is written
// except a revocation when the upstream or a requirement now refuses the user.
func (h *Handler) refreshUpstream(ctx context.Context, g storage.Grant, scopes []string, now time.Time) (storage.Identity, storage.Authentication, bool, error) {
	if g.Auth.ConnectorID == "" {
		return g.Identity, g.Auth, false, nil
	}
	// Fail closed: a connector removed from the configuration cannot vouch for the user any
	// more (the grant is revoked); one that failed to open cannot say whether it still would
	// (the token stays usable, as for an upstream that is down).
	cn, _ := h.Connectors.Get(g.Auth.ConnectorID)
	switch {
	case cn == nil:
		if err := h.Grants.RevokeGrant(ctx, g.ID, now); err != nil {
			return storage.Identity{}, storage.Authentication{}, false, oauth2err.Server(err)
		}
		h.Logger.WarnContext(ctx, "refresh: the grant's connector was removed; the grant is revoked", "connector", g.Auth.ConnectorID, "client_id", g.ClientID)
		return storage.Identity{}, storage.Authentication{}, false, oauth2err.New(oauth2err.InvalidGrant, "the sign-in method of this grant is no longer available")
	case cn.Conn == nil:
		h.Logger.WarnContext(ctx, "refresh: the grant's connector failed to open; the refresh token was not rotated", "connector", g.Auth.ConnectorID, "client_id", g.ClientID)
		return storage.Identity{}, storage.Authentication{}, false, (&oauth2err.Error{Code: oauth2err.TemporarilyUnavailable,
			Description: "the upstream identity provider is unavailable", Status: http.StatusServiceUnavailable}).WithCause(cn.Err)
	}
	rc, ok := cn.Conn.(connectors.RefreshConnector)
	if !ok {
		return g.Identity, g.Auth, false, nil
	}
	logctx.Add(ctx, "connector", cn.Info.ID)
	cctx, t0 := cn.Start(ctx, "refresh")
	up, err := rc.Refresh(cctx, connectors.Scopes{Offline: true, Groups: slices.Contains(scopes, "groups"), Requested: scopes},
		connectors.Upstream{Subject: g.Auth.UpstreamSubject, Stash: g.Auth.ConnectorData})
	cn.Done(cctx, "refresh", t0, err)
	switch {
	case errors.Is(err, connectors.ErrUpstreamRevoked):
		if rerr := h.Grants.RevokeGrant(ctx, g.ID, now); rerr != nil {
			return storage.Identity{}, storage.Authentication{}, false, oauth2err.Server(rerr)
		}
		return storage.Identity{}, storage.Authentication{}, false, oauth2err.New(oauth2err.InvalidGrant, "the upstream account is no longer valid")
	case err != nil:
		// The cause goes to the log, never to the client; the client's token stays usable.
		h.Logger.WarnContext(ctx, "refresh: upstream unavailable; the refresh token was not rotated", "connector", g.Auth.ConnectorID, "client_id", g.ClientID, "err", err)
		h.keepUpstreamStash(ctx, g, err)
		return storage.Identity{}, storage.Authentication{}, false, (&oauth2err.Error{Code: oauth2err.TemporarilyUnavailable,
			Description: "the upstream identity provider is unavailable", Status: http.StatusServiceUnavailable}).WithCause(err)
	}
	fresh, err := h.Claims.Normalize(ctx, g.Auth.ConnectorID, up)
	if err == nil && fresh.Subject != g.Identity.Subject {
		// The upstream account no longer resolves to the grant's user (its login was
		// unlinked from the account page): the grant ends; it never yields another user's tokens.
		if rerr := h.Grants.RevokeGrant(ctx, g.ID, now); rerr != nil {
			return storage.Identity{}, storage.Authentication{}, false, oauth2err.Server(rerr)
		}
		h.Logger.WarnContext(ctx, "refresh: the grant's upstream account is no longer linked to its user; the grant is revoked",
			"connector", g.Auth.ConnectorID, "client_id", g.ClientID)
		return storage.Identity{}, storage.Authentication{}, false, oauth2err.New(oauth2err.InvalidGrant, "the sign-in method of this grant is no longer linked to the account")
	}
	if err == nil {
		err = h.Claims.AuthorizeClient(g.ClientID, fresh)
	}
	var denied *connectors.DeniedError
	if errors.As(err, &denied) {
		if rerr := h.Grants.RevokeGrant(ctx, g.ID, now); rerr != nil {
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

// keepUpstreamStash stores the connector state a failed upstream refresh still changed (the
// upstream rotated its refresh token before the failure: the old one is dead), so the next
// refresh of this grant uses the new one. Nothing else of the grant changes.
func (h *Handler) keepUpstreamStash(ctx context.Context, g storage.Grant, err error) {
	var ue *connectors.UpstreamError
	gu, ok := h.Grants.(storage.GrantUpdater)
	if !errors.As(err, &ue) || ue.Stash == nil || !ok {
		return
	}
	auth := g.Auth
	auth.ConnectorData = ue.Stash
	if uerr := gu.UpdateGrantIdentity(ctx, g.ID, g.Identity, auth); uerr != nil {
		h.Logger.ErrorContext(ctx, "refresh: store the upstream's rotated token after a failed refresh", "client_id", g.ClientID, "err", uerr)
	}
}

// sameIdentity reports whether two identities would be stored the same (nil and empty lists
// are equal), so an unchanged refresh costs no write.
func sameIdentity(a, b storage.Identity) bool {
	if a.Subject != b.Subject || a.Email != b.Email || a.EmailVerified != b.EmailVerified ||
		a.Name != b.Name || a.PreferredUsername != b.PreferredUsername || !slices.Equal(a.Groups, b.Groups) {
		return false
	}
	if len(a.Extra) == 0 && len(b.Extra) == 0 {
		return true
	}
	// Extra holds decoded JSON on one side and CEL output on the other (float64 and int64
	// for one number): compare them as stored.
	ja, errA := json.Marshal(a.Extra)
	jb, errB := json.Marshal(b.Extra)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
