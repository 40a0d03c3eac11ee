package samlidp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/logout"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/storage"
)

// fanOutTTL bounds an IdP-initiated front-channel logout across SPs.
const fanOutTTL = 10 * time.Minute

// Handler tells SPs of sessions that RP-initiated logout ends.
var _ logout.FrontChannel = (*Handler)(nil)

// handleSLO is the single logout service: LogoutRequests from SPs (the SSO session ends,
// for OIDC clients too, and the SP gets a signed LogoutResponse), and LogoutResponses from
// SPs during a logout Gatehouse started.
func (h *Handler) handleSLO(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxMessage)
	}
	if IsLogoutResponse(r) {
		h.continueFanOut(w, r)
		return
	}
	lr, err := h.IdP.ParseLogoutRequest(r)
	if err != nil {
		h.refused(w, r, err)
		return
	}
	ended, err := h.endByCookie(w, r, lr)
	if !ended && err == nil {
		ended, err = h.endBySessionIndex(r.Context(), lr)
	}
	h.Logger.InfoContext(r.Context(), "saml single logout", "sp", lr.SP.ID, "session_ended", ended, "failed", err != nil)
	w.Header().Set("Content-Security-Policy", logoutFormCSP())
	// A session that could not be ended is a failed logout (status Responder): the SP must
	// not believe the user is signed out of Gatehouse.
	if err := lr.WriteResponse(w, err == nil); err != nil {
		h.Pages.Internal(w, r, "saml logout response", err)
	}
}

// endByCookie ends the browser's own session, when the SP's NameID is the one it got in
// that session. It reports whether it ended one, and an error when it failed to.
func (h *Handler) endByCookie(w http.ResponseWriter, r *http.Request, lr *LogoutRequest) (bool, error) {
	ctx := r.Context()
	sess, has, err := h.Sessions.Current(ctx, r)
	if err != nil {
		h.Logger.ErrorContext(ctx, "load session for single logout", "err", err)
		return false, err
	}
	if !has {
		return false, nil
	}
	if p, ok := h.participant(ctx, sess.ID, lr.SP.ID); !ok || p.NameID != lr.NameID {
		return false, nil
	}
	// What the session's end takes away first, the session last (logout.Ender.Ended); a
	// failure keeps the session, and the SP is told the logout failed.
	if err := h.Ender.Ended(ctx, sess, logout.FlowHash(h.Sessions, r)); err != nil {
		h.Logger.ErrorContext(ctx, "end session: revoke its grants", "err", err)
		return false, err
	}
	if _, _, err := h.Sessions.End(ctx, w, r); err != nil {
		h.Logger.ErrorContext(ctx, "end session", "err", err)
		return false, err
	}
	h.forgetParticipants(ctx, sess.ID)
	return true, nil
}

// endBySessionIndex finds the session by the request's SessionIndex (a cross-site POST
// carries no SSO cookie) and ends it when the SP's NameID is the one it got in it.
func (h *Handler) endBySessionIndex(ctx context.Context, lr *LogoutRequest) (bool, error) {
	ended := false
	var failed error
	for _, idx := range lr.SessionIndexes {
		sid, ok := h.sessionOfIndex(ctx, idx)
		if !ok {
			continue
		}
		if p, ok := h.participant(ctx, sid, lr.SP.ID); !ok || p.NameID != lr.NameID {
			continue
		}
		sess, err := h.SessionRecords.GetSession(ctx, sid)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.Logger.ErrorContext(ctx, "load session for single logout", "err", err)
			failed = err
			continue
		}
		if err == nil { // what the session's end takes away first, the session last
			if err := h.Ender.Ended(ctx, sess, ""); err != nil {
				h.Logger.ErrorContext(ctx, "end session: revoke its grants", "err", err)
				failed = err
				continue
			}
		}
		err = h.SessionRecords.DeleteSession(ctx, sid)
		if h.Sessions != nil {
			h.Sessions.NoteEnded() // caches of sessions (forward auth) drop it at once
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.Logger.ErrorContext(ctx, "end session", "err", err)
			failed = err
			continue
		}
		h.forgetParticipants(ctx, sid)
		ended = true
	}
	return ended, failed
}

// logoutFormCSP allows exactly the two inline scripts of crewjam's auto-submitting
// LogoutResponse form.
func logoutFormCSP() string {
	h := func(js string) string {
		sum := sha256.Sum256([]byte(js))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; script-src " +
		h("document.getElementById('SAMLSubmitButton').style.visibility='hidden';") + " " +
		h("document.getElementById('SAMLResponseForm').submit();") +
		"; frame-ancestors 'none'; base-uri 'none'"
}

// fanOutState is an IdP-initiated logout in progress across SPs.
type fanOutState struct {
	Remaining []participant `json:"remaining"`
	Return    string        `json:"return"`
}

// FanOut is called by RP-initiated logout after the session ended: SAML SPs that got an
// assertion in the session and have a single logout service are sent a LogoutRequest, one
// after the other through the browser (front-channel), before the browser goes to returnTo
// (or the signed-out page). It reports whether it took over the response.
func (h *Handler) FanOut(w http.ResponseWriter, r *http.Request, sess storage.Session, returnTo string) bool {
	if h.Blobs == nil {
		return false
	}
	ctx := r.Context()
	var st fanOutState
	for _, sp := range h.IdP.ServiceProviders() {
		if p, ok := h.participant(ctx, sess.ID, sp.ID); ok && h.IdP.HasSLO(ctx, sp) {
			st.Remaining = append(st.Remaining, p)
		}
	}
	h.forgetParticipants(ctx, sess.ID)
	if len(st.Remaining) == 0 {
		return false
	}
	st.Return = returnTo
	h.nextLogout(w, r, opaque.ID(), st)
	return true
}

// nextLogout sends the next LogoutRequest of a logout, or ends it.
func (h *Handler) nextLogout(w http.ResponseWriter, r *http.Request, stateID string, st fanOutState) {
	ctx := r.Context()
	for len(st.Remaining) > 0 {
		p := st.Remaining[0]
		st.Remaining = st.Remaining[1:]
		sp := h.IdP.ServiceProvider(p.SP)
		if sp == nil {
			continue
		}
		b, _ := json.Marshal(st) //nolint:errcheck // a plain struct of strings: cannot fail
		if err := h.Blobs.PutBlob(ctx, storage.Blob{Key: fanOutKey(stateID), Value: b, Expiry: h.Now().Add(fanOutTTL)}); err != nil {
			h.Logger.WarnContext(ctx, "store saml logout state", "err", err)
			break
		}
		msg, err := h.IdP.LogoutRequestMessage(ctx, sp, p.NameID, p.NameIDFormat, p.SessionIndex, stateID)
		if err != nil {
			h.Logger.WarnContext(ctx, "saml logout request", "sp", sp.ID, "err", err)
			continue
		}
		h.Logger.InfoContext(ctx, "saml logout request sent", "sp", sp.ID)
		if msg.Fields != nil {
			vals := url.Values{}
			for k, v := range msg.Fields {
				vals.Set(k, v)
			}
			h.Pages.FormPost(w, r, msg.URL, vals)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, msg.URL, http.StatusSeeOther)
		return
	}
	h.deleteBlob(ctx, fanOutKey(stateID))
	if st.Return != "" {
		http.Redirect(w, r, st.Return, http.StatusSeeOther)
		return
	}
	h.Pages.Render(w, r, http.StatusOK, "loggedout.html", h.Pages.Page("Signed out"))
}

// continueFanOut takes an SP's LogoutResponse and goes on with the logout it answers.
func (h *Handler) continueFanOut(w http.ResponseWriter, r *http.Request) {
	info, err := ReadLogoutResponse(r)
	if err != nil || h.Blobs == nil || info.RelayState == "" || len(info.RelayState) > 64 {
		h.Pages.Error(w, r, http.StatusBadRequest, "Signed out", "You are signed out of Gatehouse.", "You can close this window.")
		return
	}
	b, err := h.Blobs.GetBlob(r.Context(), fanOutKey(info.RelayState), h.Now())
	var st fanOutState
	if err != nil || json.Unmarshal(b, &st) != nil {
		h.Pages.Error(w, r, http.StatusOK, "Signed out", "You are signed out of Gatehouse.", "You can close this window.")
		return
	}
	if !info.Success {
		h.Logger.WarnContext(r.Context(), "saml service provider did not confirm the logout", "in_response_to", info.InResponseTo)
	}
	h.nextLogout(w, r, info.RelayState, st)
}
