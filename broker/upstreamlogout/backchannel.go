package upstreamlogout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// maxBackChannelBody bounds the receiver's form (a logout token is at most 16 KiB).
const maxBackChannelBody = 32 << 10

// jtiKey is the single-use record of a logout token's jti, per connector, hashed (the
// value comes from the upstream).
func jtiKey(connectorID, jti string) string {
	sum := sha256.Sum256([]byte(jti))
	return "upstream-logout-jti/" + connectorID + "/" + hex.EncodeToString(sum[:])
}

// backChannelHandler receives an upstream's back-channel logout token (OpenID Connect
// Back-Channel Logout 1.0 2.5-2.8, Gatehouse as the relying party): the form parameter
// logout_token, verified by the connector (signature, iss, aud, iat, exp, events, sub or sid,
// no nonce), its jti recorded once across replicas before anything happens (a replay is
// refused), then every live Gatehouse session of the named upstream session (sid) or user
// (sub alone) ends as a logout ends it. 200 when the logout succeeded (also when no session
// matched: there was nothing left to end), 400 with an error JSON body for a refused token,
// 404 for a connector not configured for upstream logout, 503 when the upstream's keys cannot
// be fetched, 500 when storage fails; never cached.
func (h *Handler) backChannelHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ctx := r.Context()
		id := r.PathValue("id")
		sl, ok := h.slot(id)
		if !ok {
			writeError(w, http.StatusNotFound, "invalid_request", "no connector with upstream logout here")
			return
		}
		v, ok := sl.Conn.(connectors.LogoutTokenVerifier)
		if !ok {
			writeError(w, http.StatusNotFound, "invalid_request", "this connector takes no back-channel logout tokens")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBackChannelBody)
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "the request body is not a readable form")
			return
		}
		raw := r.PostForm.Get("logout_token")
		if raw == "" || len(r.PostForm["logout_token"]) != 1 {
			writeError(w, http.StatusBadRequest, "invalid_request", "exactly one logout_token is required")
			return
		}
		cctx, start := sl.Start(ctx, "logout_token")
		lt, err := v.VerifyLogoutToken(cctx, raw)
		sl.Done(cctx, "logout_token", start, err)
		if err != nil {
			var ue *connectors.UpstreamError
			if errors.As(err, &ue) {
				h.Logger.WarnContext(ctx, "upstream back-channel logout: the upstream's keys cannot be fetched", "connector", id, "err", err)
				writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the upstream's keys cannot be fetched")
				return
			}
			h.Logger.WarnContext(ctx, "upstream back-channel logout token refused", "connector", id, "err", err)
			writeError(w, http.StatusBadRequest, "invalid_request", "the logout token is not valid")
			return
		}
		expiry := h.now().Add(2 * time.Minute) // kept at least until the token's exp
		if lt.Expiry.After(expiry) {
			expiry = lt.Expiry
		}
		if err := storage.ConsumeOnce(ctx, h.Store, jtiKey(id, lt.JTI), expiry, h.now()); err != nil {
			if errors.Is(err, storage.ErrReused) {
				h.Logger.WarnContext(ctx, "upstream back-channel logout token replayed", "connector", id)
				writeError(w, http.StatusBadRequest, "invalid_request", "the logout token was already used")
				return
			}
			h.Logger.ErrorContext(ctx, "upstream back-channel logout: record the token's jti", "connector", id, "err", err)
			writeError(w, http.StatusInternalServerError, "server_error", "the logout could not be recorded")
			return
		}
		n, err := h.endUpstreamSessions(ctx, id, lt)
		if err != nil {
			h.Logger.ErrorContext(ctx, "upstream back-channel logout: end sessions", "connector", id, "ended", n, "err", err)
			writeError(w, http.StatusInternalServerError, "server_error", "the sessions could not be ended")
			return
		}
		h.Logger.InfoContext(ctx, "upstream back-channel logout", "connector", id, "sessions", n, "by_sid", lt.SessionID != "")
		w.WriteHeader(http.StatusOK)
	})
}

// endUpstreamSessions ends every live session of the token's upstream session (or user) and
// reports how many it ended.
func (h *Handler) endUpstreamSessions(ctx context.Context, connectorID string, lt connectors.LogoutToken) (int, error) {
	ids, err := h.Store.SessionsOfUpstream(ctx, connectorID, lt.Subject, lt.SessionID, h.now())
	if err != nil {
		return 0, fmt.Errorf("list sessions of upstream session: %w", err)
	}
	n := 0
	for _, sid := range ids {
		ended, _, err := h.endSession(ctx, sid)
		if err != nil {
			return n, err
		}
		if ended {
			n++
		}
	}
	return n, nil
}

// endSession ends one session as a logout does, without a browser: what its end takes away
// (Ender: grants, pending requests, back-channel tokens to its OIDC clients), then the
// record, then the SAML service providers that can be told without a browser. It reports
// whether it ended the session (false: already gone) and whether every SAML service
// provider of the session was told.
func (h *Handler) endSession(ctx context.Context, id string) (ended, told bool, err error) {
	sess, err := h.Store.GetSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return false, true, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("load session: %w", err)
	}
	if err := h.Ender.Ended(ctx, sess, ""); err != nil {
		return false, false, err
	}
	err = h.Store.DeleteSession(ctx, id)
	if h.NoteEnded != nil {
		h.NoteEnded() // also on a failure: the session may be gone
	}
	if errors.Is(err, storage.ErrNotFound) {
		return false, true, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("delete session: %w", err)
	}
	told = h.SAML == nil || h.SAML.BackChannelLogout(ctx, id)
	if !told {
		h.Logger.WarnContext(ctx, "upstream logout: some SAML service providers of the session could not be told")
	}
	return true, told, nil
}

// writeError writes a Back-Channel Logout 2.8 error body.
func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc}) //nolint:errcheck // strings only: cannot fail
	_, _ = w.Write(b)                                                                 //nolint:errcheck // the client went away: nothing to do
}
