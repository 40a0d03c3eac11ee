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
	sid, err := h.endByCookie(w, r, lr)
	sids := []string{sid}
	if sid == "" && err == nil {
		sids, err = h.endBySessionIndex(r.Context(), lr)
	}
	// The other SPs of the ended sessions are told before the requester gets its answer.
	var others []participant
	for _, id := range sids {
		others = append(others, h.takeParticipants(r.Context(), id, lr.SP.ID)...)
	}
	ended := len(sids) > 0 && sids[0] != ""
	h.Logger.InfoContext(r.Context(), "saml single logout", "sp", lr.SP.ID, "session_ended", ended, "failed", err != nil, "other_sps", len(others))
	w.Header().Set("Content-Security-Policy", logoutFormCSP())
	if err == nil && ended && h.relayLogout(w, r, lr, sids[0], others) {
		return
	}
	// A session that could not be ended is a failed logout (status Responder): the SP must
	// not believe the user is signed out of Gatehouse.
	if err := lr.WriteResponse(w, err == nil); err != nil {
		h.Pages.Internal(w, r, "saml logout response", err)
	}
}

// endByCookie ends the browser's own session, when the SP's NameID is the one it got in
// that session. It returns the ID of the session it ended ("" for none), and an error when
// it failed to. The session's SAML participants are left for the caller to take.
func (h *Handler) endByCookie(w http.ResponseWriter, r *http.Request, lr *LogoutRequest) (string, error) {
	ctx := r.Context()
	sess, has, err := h.Sessions.Current(ctx, r)
	if err != nil {
		h.Logger.ErrorContext(ctx, "load session for single logout", "err", err)
		return "", err
	}
	if !has {
		return "", nil
	}
	if p, ok := h.participant(ctx, sess.ID, lr.SP.ID); !ok || p.NameID != lr.NameID {
		return "", nil
	}
	// What the session's end takes away first, the session last (logout.Ender.Ended); a
	// failure keeps the session, and the SP is told the logout failed.
	if err := h.Ender.Ended(ctx, sess, logout.FlowHash(h.Sessions, r)); err != nil {
		h.Logger.ErrorContext(ctx, "end session: revoke its grants", "err", err)
		return "", err
	}
	if _, _, err := h.Sessions.End(ctx, w, r); err != nil {
		h.Logger.ErrorContext(ctx, "end session", "err", err)
		return "", err
	}
	return sess.ID, nil
}

// endBySessionIndex finds the session by the request's SessionIndex (a cross-site POST
// carries no SSO cookie) and ends it when the SP's NameID is the one it got in it. It
// returns the IDs of the sessions it ended.
func (h *Handler) endBySessionIndex(ctx context.Context, lr *LogoutRequest) ([]string, error) {
	var ended []string
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
		ended = append(ended, sid)
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

// maxFanOut bounds how many SPs one logout goes round through the browser.
const maxFanOut = 32

// fanOutState is a logout in progress across SPs.
type fanOutState struct {
	Remaining []participant `json:"remaining"`
	// Return is where the browser goes at the end of an RP-initiated logout ("" for the
	// signed-out page).
	Return string `json:"return"`
	// Final and FinalPartial answer the SP whose LogoutRequest started the logout, last:
	// FinalPartial when some SP could not be told or did not confirm.
	Final        *PreparedResponse `json:"final,omitempty"`
	FinalPartial *PreparedResponse `json:"final_partial,omitempty"`
	Failed       bool              `json:"failed,omitempty"`
	// SessionID is the ended session, whose OIDC front-channel page comes before Final.
	SessionID string `json:"session_id,omitempty"`
}

// withSLO tells the participants whose SP has a SOAP single logout service over the back
// channel, at once and all together (bounded by soapTimeout), and returns those left for the
// browser to visit (a front-channel single logout service), at most maxFanOut; failed: some
// SP could not be told or did not confirm.
func (h *Handler) withSLO(ctx context.Context, ps []participant) (front []participant, failed bool) {
	type result struct {
		sp  string
		err error
	}
	results := make(chan result, len(ps))
	soap := 0
	for _, p := range ps {
		sp := h.lookupSP(ctx, p.SP)
		switch {
		case sp == nil:
		case h.IdP.HasSOAPSLO(ctx, sp):
			soap++
			go func() {
				results <- result{sp.ID, h.IdP.SOAPLogout(ctx, sp, p.NameID, p.NameIDFormat, p.SessionIndex)}
			}()
		case h.IdP.HasSLO(ctx, sp) && len(front) < maxFanOut:
			front = append(front, p)
		case h.IdP.HasSLO(ctx, sp): // past the bound: not told, so the logout is partial
			h.Logger.WarnContext(ctx, "saml logout: too many service providers to visit", "sp", sp.ID)
			failed = true
		}
	}
	for range soap {
		res := <-results
		if res.err != nil {
			h.Logger.WarnContext(ctx, "saml back-channel logout", "sp", res.sp, "err", res.err)
			failed = true
			continue
		}
		h.Logger.InfoContext(ctx, "saml back-channel logout confirmed", "sp", res.sp)
	}
	return front, failed
}

// FanOut is called by RP-initiated logout after the session ended: SAML SPs that got an
// assertion in the session and have a single logout service are sent a LogoutRequest, one
// after the other through the browser (front-channel), before the browser goes to returnTo
// (or the signed-out page). It reports whether it took over the response.
func (h *Handler) FanOut(w http.ResponseWriter, r *http.Request, sess storage.Session, returnTo string) bool {
	if h.Blobs == nil {
		return false
	}
	front, _ := h.withSLO(r.Context(), h.takeParticipants(r.Context(), sess.ID, ""))
	st := fanOutState{Remaining: front, Return: returnTo}
	if len(st.Remaining) == 0 {
		return false
	}
	h.nextLogout(w, r, opaque.ID(), st)
	return true
}

// relayLogout tells the other SPs of the session an SP's LogoutRequest ended (back channel
// first, then through the browser) and answers that SP last (saml-profiles 4.4.3.4), with
// PartialLogout when one failed. It reports whether it took over the response; false when
// all went well without the browser (or it cannot prepare the answer).
func (h *Handler) relayLogout(w http.ResponseWriter, r *http.Request, lr *LogoutRequest, sessionID string, others []participant) bool {
	if h.Blobs == nil {
		return false
	}
	front, failed := h.withSLO(r.Context(), others)
	st := fanOutState{Remaining: front, Failed: failed, SessionID: sessionID}
	if len(st.Remaining) == 0 && !failed && h.FrontChannelPage == nil {
		return false // nobody else to visit: the answer goes at once
	}
	var err error
	if st.Final, err = lr.Prepare(false); err == nil {
		st.FinalPartial, err = lr.Prepare(true)
	}
	if err != nil {
		h.Logger.WarnContext(r.Context(), "saml logout response", "sp", lr.SP.ID, "err", err)
		return false
	}
	h.nextLogout(w, r, opaque.ID(), st)
	return true
}

// nextLogout sends the next LogoutRequest of a logout, or ends it.
func (h *Handler) nextLogout(w http.ResponseWriter, r *http.Request, stateID string, st fanOutState) {
	ctx := r.Context()
	for len(st.Remaining) > 0 {
		p := st.Remaining[0]
		st.Remaining = st.Remaining[1:]
		sp := h.lookupSP(ctx, p.SP)
		if sp == nil {
			st.Failed = true // deleted since the login, or unreadable: it cannot be told
			continue
		}
		msg, err := h.IdP.LogoutRequestMessage(ctx, sp, p.NameID, p.NameIDFormat, p.SessionIndex, stateID)
		if err != nil {
			h.Logger.WarnContext(ctx, "saml logout request", "sp", sp.ID, "err", err)
			st.Failed = true
			continue
		}
		b, _ := json.Marshal(st) //nolint:errcheck // a plain struct of strings and bytes: cannot fail
		if err := h.Blobs.PutBlob(ctx, storage.Blob{Key: fanOutKey(stateID), Value: b, Expiry: h.Now().Add(fanOutTTL)}); err != nil {
			h.Logger.WarnContext(ctx, "store saml logout state", "err", err)
			st.Failed = true
			break
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
	h.finishLogout(w, r, st)
}

// finishLogout ends a logout across SPs: the requesting SP's LogoutResponse, the
// post-logout redirect, or the signed-out page.
func (h *Handler) finishLogout(w http.ResponseWriter, r *http.Request, st fanOutState) {
	switch {
	case st.Final != nil:
		final := st.Final
		if st.Failed && st.FinalPartial != nil {
			final = st.FinalPartial
		}
		// The OIDC clients' front-channel iframes first, when the answer is a redirect the
		// page can go on to after its bounded wait.
		if final.Location != "" && h.FrontChannelPage != nil {
			if page := h.FrontChannelPage(r.Context(), st.SessionID, final.Location); page != "" {
				http.Redirect(w, r, page, http.StatusSeeOther)
				return
			}
		}
		w.Header().Set("Content-Security-Policy", logoutFormCSP())
		final.Write(w)
	case st.Return != "":
		http.Redirect(w, r, st.Return, http.StatusSeeOther)
	default:
		h.Pages.Render(w, r, http.StatusOK, "loggedout.html", h.Pages.Page("Signed out"))
	}
}

// takeFanOut reads and deletes a logout's state (in one atomic step when the backend can:
// a LogoutResponse replayed cannot run the same step twice).
func (h *Handler) takeFanOut(ctx context.Context, stateID string) ([]byte, error) {
	if t, ok := h.Blobs.(storage.BlobTaker); ok {
		return t.TakeBlob(ctx, fanOutKey(stateID), h.Now())
	}
	b, err := h.Blobs.GetBlob(ctx, fanOutKey(stateID), h.Now())
	if err == nil {
		h.deleteBlob(ctx, fanOutKey(stateID))
	}
	return b, err
}

// continueFanOut takes an SP's LogoutResponse and goes on with the logout it answers.
func (h *Handler) continueFanOut(w http.ResponseWriter, r *http.Request) {
	info, err := ReadLogoutResponse(r)
	if err != nil || h.Blobs == nil || info.RelayState == "" || len(info.RelayState) > 64 {
		h.Pages.Error(w, r, http.StatusBadRequest, "Signed out", "You are signed out of Gatehouse.", "You can close this window.")
		return
	}
	b, err := h.takeFanOut(r.Context(), info.RelayState)
	var st fanOutState
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.Logger.ErrorContext(r.Context(), "load saml logout state", "err", err)
	}
	if err != nil || json.Unmarshal(b, &st) != nil {
		h.Pages.Error(w, r, http.StatusOK, "Signed out", "You are signed out of Gatehouse.", "You can close this window.")
		return
	}
	if !info.Success {
		h.Logger.WarnContext(r.Context(), "saml service provider did not confirm the logout", "in_response_to", info.InResponseTo)
		st.Failed = true
	}
	h.nextLogout(w, r, info.RelayState, st)
}

// lookupSP returns a session participant's SP, configured or stored; nil when it is gone or
// cannot be read (logged).
func (h *Handler) lookupSP(ctx context.Context, id string) *ServiceProvider {
	sp, err := h.IdP.LookupServiceProvider(ctx, id)
	if err != nil {
		h.Logger.ErrorContext(ctx, "saml logout: look up a participant's service provider", "sp", id, "err", err)
	}
	return sp
}

// BackChannelLogout tells the service providers of an ended session what can be told without
// a browser, for a logout no browser takes part in (an upstream's back-channel logout,
// broker/upstreamlogout): SPs with a SOAP single logout service get a signed LogoutRequest;
// SPs reachable only through the browser cannot be told and keep their own sessions until
// they expire. It reports whether every SP of the session was told and confirmed.
func (h *Handler) BackChannelLogout(ctx context.Context, sessionID string) bool {
	if h.Blobs == nil {
		return true
	}
	front, failed := h.withSLO(ctx, h.takeParticipants(ctx, sessionID, ""))
	for _, p := range front {
		h.Logger.WarnContext(ctx, "saml logout without a browser: the service provider has no SOAP single logout service and keeps its session", "sp", p.SP)
	}
	return !failed && len(front) == 0
}
