package logout

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/web"
)

// frontChannelWait is how long the signed-out page waits for the front-channel logout
// iframes before it sends the browser to the post-logout redirect URI (seconds).
const frontChannelWait = 3

// noticeWait is how long the signed-out page shows a notice (the upstream's session may
// still be open) before it goes on (seconds).
const noticeWait = 10

// doneData is the signed-out page (logout_done.html).
type doneData struct {
	pages.Page
	// SignedOut: this request ended a session; otherwise Nothing says why nothing ended.
	SignedOut bool
	Nothing   string
	// Frames are the front-channel logout URIs loaded as iframes.
	Frames []string
	// Continue is where the browser goes after Wait seconds ("" for nowhere).
	Continue string
	Wait     int
	// Notice says what the logout could not do (the upstream's session may still be open).
	Notice *web.Message
}

// frontChannelFrames are the front-channel logout URIs (OpenID Connect Front-Channel Logout
// 1.0) of the session's participants, with iss and sid for the clients that require them,
// and the origins they need in frame-src.
func (h *Handler) frontChannelFrames(ps []storage.Participant, sessionID string) (frames, origins []string) {
	for _, p := range ps {
		c := h.Clients.Get(p.ClientID)
		if c == nil || c.FrontchannelLogoutURI == "" {
			continue
		}
		u, err := url.Parse(c.FrontchannelLogoutURI)
		if err != nil { // validated at config time
			continue
		}
		if c.FrontchannelLogoutSessionRequired {
			q := u.Query()
			q.Set("iss", h.Issuer)
			q.Set("sid", sessionID)
			u.RawQuery = q.Encode()
		}
		frames = append(frames, u.String())
		if o := u.Scheme + "://" + u.Host; !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	return frames, origins
}

// frameCSP is the page CSP with frame-src allowing exactly the given origins.
func frameCSP(origins []string) string {
	if len(origins) == 0 {
		return pages.CSP
	}
	return pages.CSP + "; frame-src " + strings.Join(origins, " ")
}

// renderDone renders the signed-out page: what happened, the front-channel iframes, and the
// bounded wait before returnTo.
func (h *Handler) renderDone(w http.ResponseWriter, r *http.Request, d doneData, origins []string) {
	if d.SignedOut {
		d.Page = h.Pages.Page("Signed out")
	} else {
		d.Page = h.Pages.Page("Nothing to sign out")
	}
	if d.Continue != "" {
		d.Wait = 0
		if len(d.Frames) > 0 {
			d.Wait = frontChannelWait
		}
		if d.Notice != nil {
			d.Wait = noticeWait
		}
	}
	w.Header().Set("Content-Security-Policy", frameCSP(origins))
	h.Pages.Render(w, r, http.StatusOK, "logout_done.html", d)
}

// PendingStore keeps single-use state shared by replicas (storage.BlobStore with
// storage.BlobTaker).
type PendingStore interface {
	PutBlob(ctx context.Context, b storage.Blob) error
	TakeBlob(ctx context.Context, key string, now time.Time) ([]byte, error)
}

// pendingTTL is how long the front-channel page waits for a fan-out to come back.
const pendingTTL = 10 * time.Minute

func pendingKey(id string) string { return "logout-done/" + id }

// pendingDone is the front-channel page kept while FrontChannel's fan-out runs.
type pendingDone struct {
	Frames, Origins []string
	Continue        string
	Notice          *web.Message `json:",omitempty"`
}

// fanOutNoticed is fanOut for a logout whose signed-out page must show notice (nil: fanOut
// itself): the fan-out then ends at a kept page with the notice, the session's OIDC
// front-channel iframes and returnTo.
func (h *Handler) fanOutNoticed(w http.ResponseWriter, r *http.Request, sess storage.Session, returnTo string, notice *web.Message) bool {
	if notice == nil {
		return h.fanOut(w, r, sess, returnTo)
	}
	if h.FrontChannel == nil || h.Pending == nil {
		return false
	}
	ctx := r.Context()
	ps, err := h.Ender.Participants(ctx, sess.ID)
	if err != nil {
		h.Logger.WarnContext(ctx, "front-channel logout: list the session's clients", "err", err)
	}
	frames, origins := h.frontChannelFrames(ps, sess.ID)
	id, ok := h.keepDonePage(ctx, pendingDone{Frames: frames, Origins: origins, Continue: returnTo, Notice: notice})
	if !ok {
		return h.FrontChannel.FanOut(w, r, sess, returnTo)
	}
	if h.FrontChannel.FanOut(w, r, sess, h.Pages.Rel("/logout/done?s="+id)) {
		return true
	}
	if _, err := h.Pending.TakeBlob(ctx, pendingKey(id), h.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.Logger.WarnContext(ctx, "front-channel logout: drop the unused page; it expires on its own", "err", err)
	}
	return false
}

// fanOut lets FrontChannel (SAML front-channel logout) take over the response. When the
// session also has OIDC front-channel clients, the fan-out ends at /logout/done, which
// renders their iframes and then goes on to returnTo; the page waits in Pending meanwhile.
func (h *Handler) fanOut(w http.ResponseWriter, r *http.Request, sess storage.Session, returnTo string) bool {
	if h.FrontChannel == nil {
		return false
	}
	ctx := r.Context()
	ps, err := h.Ender.Participants(ctx, sess.ID)
	if err != nil {
		h.Logger.WarnContext(ctx, "front-channel logout: list the session's clients", "err", err)
	}
	frames, origins := h.frontChannelFrames(ps, sess.ID)
	if len(frames) == 0 || h.Pending == nil {
		return h.FrontChannel.FanOut(w, r, sess, returnTo)
	}
	id, ok := h.keepDone(ctx, frames, origins, returnTo)
	if !ok {
		return h.FrontChannel.FanOut(w, r, sess, returnTo)
	}
	if h.FrontChannel.FanOut(w, r, sess, h.Pages.Rel("/logout/done?s="+id)) {
		return true
	}
	if _, err := h.Pending.TakeBlob(ctx, pendingKey(id), h.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.Logger.WarnContext(ctx, "front-channel logout: drop the unused page; it expires on its own", "err", err)
	}
	return false
}

// keepDone keeps a front-channel page in Pending (single-use) and returns its ID.
func (h *Handler) keepDone(ctx context.Context, frames, origins []string, continueURL string) (string, bool) {
	return h.keepDonePage(ctx, pendingDone{Frames: frames, Origins: origins, Continue: continueURL})
}

// keepDonePage keeps a signed-out page in Pending (single-use) and returns its ID.
func (h *Handler) keepDonePage(ctx context.Context, p pendingDone) (string, bool) {
	id := opaque.ID()
	b, _ := json.Marshal(p) //nolint:errcheck // strings only: cannot fail
	if err := h.Pending.PutBlob(ctx, storage.Blob{Key: pendingKey(id), Value: b, Expiry: h.now().Add(pendingTTL)}); err != nil {
		h.Logger.WarnContext(ctx, "front-channel logout: keep the page for after the fan-out", "err", err)
		return "", false
	}
	return id, true
}

// DonePage keeps the OIDC front-channel logout page of an ended session (its clients'
// iframes, then continueURL after the bounded wait) and returns the path that shows it once,
// /logout/done?s=<id>; "" when no client of the session has a front-channel logout URI (or
// the page cannot be kept). SAML single logout ends through it before answering the SP.
func (h *Handler) DonePage(ctx context.Context, sessionID, continueURL string) string {
	if h.Pending == nil {
		return ""
	}
	ps, err := h.Ender.Participants(ctx, sessionID)
	if err != nil {
		h.Logger.WarnContext(ctx, "front-channel logout: list the session's clients", "err", err)
		return ""
	}
	frames, origins := h.frontChannelFrames(ps, sessionID)
	if len(frames) == 0 {
		return ""
	}
	id, ok := h.keepDone(ctx, frames, origins, continueURL)
	if !ok {
		return ""
	}
	return h.Pages.Rel("/logout/done?s=" + id)
}

// handleDone renders the front-channel page a fan-out came back to (once).
func (h *Handler) handleDone(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("s")
	var p pendingDone
	if h.Pending == nil || id == "" || len(id) > 64 {
		h.renderDone(w, r, doneData{Nothing: "This sign-out page is not known (or was already shown)."}, nil)
		return
	}
	b, err := h.Pending.TakeBlob(r.Context(), pendingKey(id), h.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		h.renderDone(w, r, doneData{Nothing: "This sign-out page is not known (or was already shown)."}, nil)
		return
	case err != nil:
		h.Pages.Internal(w, r, "load front-channel logout page", err)
		return
	}
	if err := json.Unmarshal(b, &p); err != nil {
		h.Pages.Internal(w, r, "decode front-channel logout page", err)
		return
	}
	if p.Continue != "" && len(p.Frames) == 0 && p.Notice == nil {
		http.Redirect(w, r, p.Continue, http.StatusSeeOther)
		return
	}
	h.renderDone(w, r, doneData{SignedOut: true, Frames: p.Frames, Continue: p.Continue, Notice: p.Notice}, p.Origins)
}
