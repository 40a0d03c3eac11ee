package grants

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/storage"
)

// deviceGrant answers a device's poll (RFC 8628 3.4, 3.5). Each poll is recorded in storage
// in one atomic step that also consumes an approved (or denied) code, so of two polls racing
// after the approval exactly one gets the tokens. Answers: authorization_pending while the
// user has not decided; slow_down for a poll sooner than the interval after the previous
// one; expired_token after the code's lifetime; access_denied once when the user refused;
// then invalid_grant. Tokens: as for an authorization code, a refresh token with
// offline_access.
func (h *Handler) deviceGrant(r *http.Request, c *clients.Client, jkt string) (tokenResponse, error) {
	ctx := r.Context()
	code := r.PostFormValue("device_code")
	if code == "" {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidRequest, "device_code is missing")
	}
	if h.Devices == nil {
		return tokenResponse{}, oauth2err.New(oauth2err.UnsupportedGrantType, "the storage backend keeps no device codes")
	}
	now := h.Now().UTC()
	// The client is part of the atomic poll: a code issued to another client is not found,
	// and that poll neither consumes the approval nor counts as the owner's poll.
	p, err := h.Devices.PollDeviceCode(ctx, opaque.Hash(code), c.ID, now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the device code is invalid or was issued to another client")
	case err != nil:
		return tokenResponse{}, oauth2err.Server(err)
	case p.ClientID != c.ID: // never (the storage matched the client): defence in depth
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the device code was issued to another client")
	case !now.Before(p.Expiry):
		return tokenResponse{}, oauth2err.New(oauth2err.ExpiredToken, "the device code has expired")
	}
	switch p.Status {
	case storage.DevicePending:
		if !p.PreviousPoll.IsZero() && now.Sub(p.PreviousPoll) < p.Interval {
			return tokenResponse{}, oauth2err.New(oauth2err.SlowDown, "polling too fast: wait the interval between requests, plus 5 seconds")
		}
		return tokenResponse{}, oauth2err.New(oauth2err.AuthorizationPending, "the user has not yet approved the device")
	case storage.DeviceDenied:
		return tokenResponse{}, &oauth2err.Error{Code: oauth2err.AccessDenied, Description: "the user denied the device", Status: http.StatusBadRequest}
	case storage.DeviceApproved:
	default:
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the device code was already used")
	}
	return h.issueDeviceTokens(r, c, p.DeviceCode, jkt)
}

// issueDeviceTokens mints the tokens of an approved device code and stores their grant.
// A non-empty jkt binds the access token (and a public client's refresh token) to that key.
func (h *Handler) issueDeviceTokens(r *http.Request, c *clients.Client, d storage.DeviceCode, jkt string) (tokenResponse, error) {
	now := h.Now().UTC()
	g := storage.Grant{
		ID: opaque.ID(), ClientID: c.ID, Scopes: d.Scopes, Identity: d.Identity, Auth: d.Auth,
		SessionID: d.SessionID, CreatedAt: now, AbsoluteExpiry: now.Add(h.Lifetimes.RefreshAbsolute),
		DPoPJKT: grantKey(c, jkt),
	}
	var refresh string
	var first *storage.RefreshToken
	if slices.Contains(d.Scopes, "offline_access") && c.AllowsGrant(clients.GrantRefreshToken) {
		refresh = opaque.Token()
		first = &storage.RefreshToken{Hash: opaque.Hash(refresh), GrantID: g.ID, CreatedAt: now, IdleExpiry: h.refreshIdle(now, g)}
	} else {
		g.AbsoluteExpiry = now.Add(max(h.Lifetimes.AccessToken, h.Lifetimes.IDToken))
	}
	resp, err := h.mint(r.Context(), g, g.Identity, g.Scopes, false, jkt)
	if err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	if err := h.Grants.CreateGrant(r.Context(), g, first); err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	resp.RefreshToken = refresh
	h.Logger.InfoContext(r.Context(), "tokens issued", "grant_type", "device_code", "client_id", c.ID, "sub", g.Identity.Subject, "refresh", refresh != "")
	h.Audit.Record(r.Context(), tokenEvent(audit.TokenIssued, "device_code", g))
	return resp, nil
}
