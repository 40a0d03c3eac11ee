package account

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// sessionRow is one active session of the user, in the sessions section.
type sessionRow struct {
	// ID is the session's ID (the sid its apps know), what "Sign out" names.
	ID                           string
	Created, LastSeen, Connector string
	// Device is the browser that signed in ("Firefox · Linux"), "" when unknown.
	Device string
	// Current: the session of this browser.
	Current bool
}

// sessionRows lists the user's live sessions, oldest first, with the connector each signed
// in with.
func (h *Handler) sessionRows(ctx context.Context, current storage.Session) ([]sessionRow, error) {
	list, err := h.Holdings.ListUserSessions(ctx, current.Identity.Subject)
	if err != nil {
		return nil, err
	}
	now := h.Now()
	rows := make([]sessionRow, 0, len(list))
	for _, s := range list {
		if !now.Before(s.IdleExpiry) || !now.Before(s.AbsoluteExpiry) {
			continue // expired, not yet collected
		}
		row := sessionRow{ID: s.ID, Created: s.CreatedAt.Format("2 Jan 2006 15:04 MST"), Connector: s.Auth.ConnectorID,
			Device: s.Auth.Device, Current: s.ID == current.ID}
		if s.LastUsed.After(s.CreatedAt) {
			row.LastSeen = s.LastUsed.Format("2 Jan 2006 15:04 MST")
		}
		if slot, ok := h.Connectors.Get(s.Auth.ConnectorID); ok && slot.Info.Name != "" {
			row.Connector = slot.Info.Name
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// signOutSession ends one session of the user as a logout ends it (its online grants
// revoked, its pending sign-ins deleted, its apps told through the back-channel queue,
// this process's session caches told), then deletes it. Ending this browser's session signs
// out here and goes on as /logout does (SignedOut: upstream logout, SAML service providers,
// OIDC front-channel iframes). A session that is not the user's (or has ended) changes nothing.
func (h *Handler) signOutSession(w http.ResponseWriter, r *http.Request, sess storage.Session, flow string) {
	ctx := r.Context()
	id := r.PostFormValue("session")
	target, err := h.Holdings.GetSession(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.Pages.Internal(w, r, "load session", err)
		return
	}
	if err != nil || id == "" || target.Identity.Subject != sess.Identity.Subject {
		h.Logger.WarnContext(ctx, "account: sign out refused: not a session of this user", "sub", sess.Identity.Subject)
		h.render(w, r, view{status: http.StatusNotFound, sess: sess, flow: flow, msg: "account.session_unknown"})
		return
	}
	if target.ID == sess.ID {
		if err := h.Ender.Ended(ctx, target, session.HashID(flow)); err != nil {
			h.Pages.Internal(w, r, "end session: revoke its grants", err)
			return
		}
		if _, _, err := h.Sessions.End(ctx, w, r); err != nil {
			h.Pages.Internal(w, r, "end session", err)
			return
		}
		h.Logger.InfoContext(ctx, "signed out on the account page", "sub", sess.Identity.Subject)
		if h.SignedOut != nil {
			h.SignedOut.SignedOut(w, r, sess, "")
			return
		}
		h.Pages.Error(w, r, http.StatusOK, "loggedout.heading", "logoutdone.signed_out_apps", "logoutdone.close")
		return
	}
	if err := h.endOther(ctx, target); err != nil {
		h.Pages.Internal(w, r, "end session", err)
		return
	}
	h.Logger.InfoContext(ctx, "another session signed out on the account page", "sub", sess.Identity.Subject)
	http.Redirect(w, r, h.Pages.Rel("/account?done=ended"), http.StatusSeeOther)
}

// endOther ends a session other than this browser's: what a logout takes away first, the
// session last, and this process's session caches (forward auth) told at once.
func (h *Handler) endOther(ctx context.Context, target storage.Session) error {
	if err := h.Ender.Ended(ctx, target, ""); err != nil {
		return err
	}
	err := h.Holdings.DeleteSession(ctx, target.ID)
	h.Sessions.NoteEnded() // also on a failure: it may be gone
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}
