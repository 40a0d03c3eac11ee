package logout

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/storage"
)

// frontChannelWait is how long the signed-out page waits for the front-channel logout
// iframes before it sends the browser to the post-logout redirect URI (seconds).
const frontChannelWait = 3

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
	}
	w.Header().Set("Content-Security-Policy", frameCSP(origins))
	h.Pages.Render(w, r, http.StatusOK, "logout_done.html", d)
}
