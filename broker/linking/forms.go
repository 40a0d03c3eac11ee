package linking

import (
	"net/http"

	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// csrfPurpose binds the section's forms to the session they were shown in.
func csrfPurpose(sess storage.Session) string { return "account-logins:" + sess.ID }

// form reads a section form's bounded body, finds the signed-in session, checks the CSRF
// token and that the account may be changed. It renders the refusal itself and returns
// ok == false on any failure.
func (h *Handler) form(w http.ResponseWriter, r *http.Request) (storage.Session, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.Pages.Error(w, r, http.StatusBadRequest, "Request refused", "The form could not be read.", "Go back and try again.")
		return storage.Session{}, false
	}
	sess, has, err := h.Sessions.Current(r.Context(), r)
	if err != nil {
		h.Pages.Internal(w, r, "load session", err)
		return sess, false
	}
	if !has {
		h.Pages.Error(w, r, http.StatusUnauthorized, "You are not signed in",
			"Your security settings are shown to signed-in users only.",
			"Sign in to one of your applications, then open this page again.")
		return sess, false
	}
	if !session.CheckCSRF(h.Sessions.FlowSecret(r), csrfPurpose(sess), r.PostFormValue("csrf")) {
		h.Logger.WarnContext(r.Context(), "csrf token missing or wrong", "path", r.URL.Path)
		h.Pages.Error(w, r, http.StatusForbidden, "Request refused",
			"This form could not be verified (its security token is missing or wrong), so nothing was changed.",
			"Open your security settings again and retry.")
		return sess, false
	}
	if h.Locked != nil {
		locked, err := h.Locked(r.Context(), sess)
		if err != nil {
			h.Pages.Internal(w, r, "account lock", err)
			return sess, false
		}
		if locked {
			h.Pages.Error(w, r, http.StatusForbidden, "links.locked.heading", "links.locked.message", "links.back")
			return sess, false
		}
	}
	return sess, true
}
