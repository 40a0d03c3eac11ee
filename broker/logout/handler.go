package logout

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
	"github.com/gatehouse-id/gatehouse/web"
)

// HintVerifier verifies an id_token_hint (tokens.Minter implements it).
type HintVerifier interface {
	VerifyIDTokenHint(token string) (tokens.IDTokenHint, error)
}

// FrontChannel tells other parties of the session through the browser after the session
// ended (SAML single logout to the service providers that got assertions in it).
type FrontChannel interface {
	// FanOut takes over the response when some party must be told, and sends the browser to
	// returnTo ("" for the signed-out page) at the end; it reports whether it took over.
	FanOut(w http.ResponseWriter, r *http.Request, sess storage.Session, returnTo string) bool
}

// UpstreamLogout ends a signed-out user's session at the upstream too, through the browser
// (broker/upstreamlogout implements it for connectors with logout: upstream).
type UpstreamLogout interface {
	// Begin returns where the browser goes, once the rest of the logout is done, to end
	// sess's upstream session, coming back to returnTo afterwards; next is "" when nothing is
	// to be done upstream, and notice then says why the upstream could not be asked (nil
	// when it was not to be asked), a catalog message with the upstream's name.
	BeginNotice(ctx context.Context, sess storage.Session, returnTo string) (next string, notice *web.Message)
}

// Handler serves RP-initiated logout.
type Handler struct {
	Sessions *session.Manager
	Hints    HintVerifier
	Subjects SubjectMapper
	Clients  *clients.Registry
	Ender    *Ender
	Pages    *pages.Renderer
	Logger   *slog.Logger
	// FrontChannel is told of every ended session; nil: nobody is.
	FrontChannel FrontChannel
	// Pending keeps the front-channel page of a logout while FrontChannel's fan-out runs
	// first (single-use); nil: a fan-out that takes over drops the OIDC front-channel page.
	Pending PendingStore
	// Issuer is the iss of front-channel logout URIs.
	Issuer string
	// SessionRecords deletes the session an id_token_hint names when the request carries no
	// cookie.
	SessionRecords SessionRecords
	// Upstream ends the upstream session of a signed-out user last; nil: it is never asked.
	Upstream UpstreamLogout
	Now      func() time.Time
}

// Mount registers GET and POST /logout. Relying parties may POST logout requests from their
// own origin (RP-Initiated Logout 2), so it is a page route; nothing changes state without a
// CSRF-checked form or a valid id_token_hint.
func (h *Handler) Mount(m *route.Mux) {
	m.Page("GET /logout", h.handleLogout)
	m.Page("POST /logout", h.handleLogout)
	m.Page("GET /logout/done", h.handleDone)
}

// request is a parsed logout request.
type request struct {
	form              url.Values
	clientID          string
	postLogout, state string
	hintSub, hintSID  string
	hintExpiry        time.Time
	client            *clients.Client
	confirmed         bool
}

// returnTo is where the browser goes after the logout: the post-logout redirect URI with
// state, or "" for the signed-out page.
func (q *request) returnTo() string {
	if q.postLogout == "" {
		return ""
	}
	u, err := url.Parse(q.postLogout)
	if err != nil {
		return ""
	}
	if q.state != "" {
		v := u.Query()
		v.Set("state", q.state)
		u.RawQuery = v.Encode()
	}
	return u.String()
}

// handleLogout is RP-initiated logout. With a valid id_token_hint for the signed-in user the
// session ends at once; otherwise the user confirms. Without the browser's cookie (a logout
// called from the client's server), a valid, unexpired hint ends the session its sid names
// when its audience took part in that session. The browser returns to
// post_logout_redirect_uri only when it is registered for the client; the page says whether
// anything ended.
func (h *Handler) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	q, ok := h.parse(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	sess, has, err := h.Sessions.Current(ctx, r)
	if err != nil {
		h.Pages.Internal(w, r, "load session", err)
		return
	}
	if r.Method == http.MethodPost && q.form.Get("decision") != "" && !h.decide(w, r, q) {
		return
	}
	// A hint for the signed-in user's own session is enough; otherwise ask.
	// The hint's sub is what this client sees: pairwise for pairwise clients.
	hintMatches := has && q.hintSub != "" && q.hintSub == h.Subjects.SubjectFor(q.clientID, sess.Identity.Subject) &&
		(q.hintSID == "" || q.hintSID == sess.ID)
	if has && !q.confirmed && !hintMatches {
		h.confirm(w, r, q, sess)
		return
	}
	done := doneData{Continue: q.returnTo()}
	switch {
	case has:
		// What the session's end takes away first, the session last (Ender.Ended).
		if err := h.Ender.Ended(ctx, sess, FlowHash(h.Sessions, r)); err != nil {
			h.Pages.Internal(w, r, "end session: revoke its grants", err)
			return
		}
		if _, _, err := h.Sessions.End(ctx, w, r); err != nil {
			h.Pages.Internal(w, r, "end session", err)
			return
		}
		h.Logger.InfoContext(ctx, "signed out", "sub", sess.Identity.Subject, "client_id", q.clientID)
		h.SignedOut(w, r, sess, done.Continue)
		return
	case q.hintSID != "":
		var ok bool
		if sess, ok, done.Nothing = h.endByHint(w, r, q); !ok {
			return
		}
		done.SignedOut = done.Nothing == ""
	default:
		done.Nothing = "You were not signed in to Gatehouse in this browser, so there was nothing to sign out of."
	}
	h.finish(w, r, sess, done)
}

// SignedOut answers the browser whose own session sess has just ended (Ender.Ended run and
// the session cookie cleared: Sessions.End), as /logout does: the upstream's logout last
// (connectors with logout: upstream), the SAML service providers' redirect chain
// (FrontChannel), and the signed-out page with the OIDC front-channel iframes, then on to
// returnTo ("" to stay on the signed-out page). The account page's "Sign out" of this
// browser's session ends through it too.
func (h *Handler) SignedOut(w http.ResponseWriter, r *http.Request, sess storage.Session, returnTo string) {
	next, notice := returnTo, (*web.Message)(nil)
	if h.Upstream != nil {
		if up, n := h.Upstream.BeginNotice(r.Context(), sess, returnTo); up != "" {
			next = up // the upstream's logout last, then on to returnTo
		} else {
			notice = n
		}
	}
	if h.fanOutNoticed(w, r, sess, next, notice) {
		return
	}
	h.finish(w, r, sess, doneData{SignedOut: true, Continue: next, Notice: notice})
}

// finish renders the end of a logout: for a session that ended, its OIDC front-channel
// iframes; straight on to done.Continue when there is nothing to show.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, sess storage.Session, done doneData) {
	var origins []string
	if done.SignedOut {
		ps, err := h.Ender.Participants(r.Context(), sess.ID)
		if err != nil {
			// The session has ended; only the front-channel notices are lost.
			h.Logger.WarnContext(r.Context(), "front-channel logout: list the session's clients", "err", err)
		}
		done.Frames, origins = h.frontChannelFrames(ps, sess.ID)
	}
	if done.Continue != "" && len(done.Frames) == 0 && done.Notice == nil {
		http.Redirect(w, r, done.Continue, http.StatusSeeOther)
		return
	}
	h.renderDone(w, r, done, origins)
}

// endByHint ends, without the browser's cookie, the session the hint's sid names: only with
// an unexpired hint whose audience took part in that session and whose sub is that
// session's user as the audience sees it. It returns the session it ended, or a truthful
// reason why nothing ended; false when it rendered an error itself.
func (h *Handler) endByHint(w http.ResponseWriter, r *http.Request, q *request) (storage.Session, bool, string) {
	ctx := r.Context()
	const nothing = "No Gatehouse session was signed out: "
	if !q.hintExpiry.IsZero() && !h.now().Before(q.hintExpiry) {
		return storage.Session{}, true, nothing + "the application's sign-out request carries an expired token. Sign out from the application again."
	}
	sess, live, err := h.Sessions.Live(ctx, q.hintSID)
	if err != nil {
		h.Pages.Internal(w, r, "load session of id_token_hint", err)
		return sess, false, ""
	}
	if !live {
		return storage.Session{}, true, nothing + "the session named by the application has already ended."
	}
	if q.hintSub != h.Subjects.SubjectFor(q.clientID, sess.Identity.Subject) {
		h.Logger.WarnContext(ctx, "logout by id_token_hint refused: its sub is not the session's user", "client_id", q.clientID)
		return storage.Session{}, true, nothing + "the application's token names another user than that session's."
	}
	ps, err := h.Ender.Participants(ctx, sess.ID)
	if err != nil {
		h.Pages.Internal(w, r, "list participants of session", err)
		return sess, false, ""
	}
	if !slices.ContainsFunc(ps, func(p storage.Participant) bool { return p.ClientID == q.clientID }) {
		h.Logger.WarnContext(ctx, "logout by id_token_hint refused: the client took no part in the session", "client_id", q.clientID)
		return storage.Session{}, true, nothing + "the application that asked took no part in that session."
	}
	if err := h.Ender.Ended(ctx, sess, ""); err != nil {
		h.Pages.Internal(w, r, "end session: revoke its grants", err)
		return sess, false, ""
	}
	err = h.SessionRecords.DeleteSession(ctx, sess.ID)
	h.Sessions.NoteEnded() // caches of sessions (forward auth) drop it; also on a failure: it may be gone
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.Pages.Internal(w, r, "end session", err)
		return sess, false, ""
	}
	h.Logger.InfoContext(ctx, "signed out by id_token_hint without the browser's cookie", "sub", sess.Identity.Subject, "client_id", q.clientID)
	return sess, true, ""
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// parse reads and checks the request: the hint, the client and its post-logout redirect
// URI. It renders the refusal itself when it reports false.
func (h *Handler) parse(w http.ResponseWriter, r *http.Request) (*request, bool) {
	if err := r.ParseForm(); err != nil {
		h.Pages.Error(w, r, http.StatusBadRequest, "Request refused", "The sign-out request could not be read.", "")
		return nil, false
	}
	form := r.Form
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	q := &request{form: form, clientID: form.Get("client_id"),
		postLogout: form.Get("post_logout_redirect_uri"), state: form.Get("state")}
	if hint := form.Get("id_token_hint"); hint != "" {
		ht, err := h.Hints.VerifyIDTokenHint(hint)
		if err != nil {
			h.Pages.Error(w, r, http.StatusBadRequest, "Sign-out request refused", "The application sent an invalid sign-out request (its id_token_hint is not valid).", "Close this window, or sign out from the application again.")
			return nil, false
		}
		if q.clientID != "" && q.clientID != ht.Audience {
			h.Pages.Error(w, r, http.StatusBadRequest, "Sign-out request refused", "The application sent an inconsistent sign-out request (client_id does not match id_token_hint).", "")
			return nil, false
		}
		q.clientID, q.hintSub, q.hintSID, q.hintExpiry = ht.Audience, ht.Subject, ht.SessionID, ht.Expiry
	}
	if q.clientID != "" {
		if q.client = h.Clients.Get(q.clientID); q.client == nil {
			h.Pages.Error(w, r, http.StatusBadRequest, "Sign-out request refused", "The sign-out request names an unknown application.", "")
			return nil, false
		}
	}
	if q.postLogout != "" && (q.client == nil || !slices.Contains(q.client.PostLogoutRedirectURIs, q.postLogout)) {
		h.Pages.Error(w, r, http.StatusBadRequest, "Sign-out request refused", "The application asked to return to an address that is not registered for it.", "This is a problem with the application's configuration; tell its administrator.")
		return nil, false
	}
	return q, true
}

// decide takes the answer of the confirmation form. It renders the page itself when it
// reports false (a wrong CSRF token, or the user stays signed in).
func (h *Handler) decide(w http.ResponseWriter, r *http.Request, q *request) bool {
	if !session.CheckCSRF(h.Sessions.FlowSecret(r), "logout", q.form.Get("csrf")) {
		h.Logger.WarnContext(r.Context(), "csrf token missing or wrong", "path", r.URL.Path)
		h.Pages.Error(w, r, http.StatusForbidden, "Request refused",
			"This form could not be verified (its security token is missing or wrong), so nothing was done.",
			"Go back to the application and start signing in again.")
		return false
	}
	if q.form.Get("decision") != "logout" {
		h.Pages.Error(w, r, http.StatusOK, "Still signed in", "You are still signed in to Gatehouse.", "You can close this window.")
		return false
	}
	q.confirmed = true
	return true
}

type confirmData struct {
	pages.Page
	ClientName, User, Action, CSRF string
	Hidden                         map[string]string
}

// confirm asks the signed-in user whether to sign out.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request, q *request, sess storage.Session) {
	flow, err := h.Sessions.Flow(w, r)
	if err != nil {
		h.Pages.Internal(w, r, "flow cookie", err)
		return
	}
	hidden := map[string]string{}
	for _, k := range []string{"client_id", "post_logout_redirect_uri", "state"} {
		if v := q.form.Get(k); v != "" {
			hidden[k] = v
		}
	}
	if q.clientID != "" {
		hidden["client_id"] = q.clientID
	}
	d := confirmData{Page: h.Pages.Page("Sign out"), User: sess.Identity.DisplayName(), Action: h.Pages.Rel("/logout"),
		CSRF: session.CSRFToken(flow, "logout"), Hidden: hidden}
	if q.client != nil {
		d.ClientName = q.client.Name
		if d.ClientName == "" {
			d.ClientName = q.client.ID
		}
	}
	h.Pages.Render(w, r, http.StatusOK, "logout.html", d)
}
