package linking

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/storage"
)

// linkID is the opaque ID of a link in the section's forms: a hash of its connector and
// upstream subject. A form names a link only by it, and only the signed-in user's own links
// are searched, so another user's link can never be named.
func linkID(l storage.UserLink) string {
	sum := sha256.Sum256([]byte(l.ConnectorID + "\x00" + l.UpstreamSubject))
	return hex.EncodeToString(sum[:16])
}

// countable are the connector IDs whose links count as a way to sign in: the configured ones
// (a link to a removed connector signs no one in).
func (h *Handler) countable() []string {
	var ids []string
	for _, cn := range h.Connectors.All() {
		ids = append(ids, cn.Info.ID)
	}
	return ids
}

// handleUnlink removes one of the signed-in user's logins, unless it is the last one. The
// login of the current session may be removed while another remains: the session stays
// signed in until it ends, and the grants that login signed in are revoked.
func (h *Handler) handleUnlink(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.form(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	user := sess.Identity.Subject
	links, err := h.Links.ListUserLinks(ctx, user)
	if err != nil {
		h.Pages.Internal(w, r, "list user links", err)
		return
	}
	want := r.PostFormValue("link")
	var target *storage.UserLink
	for i := range links {
		if subtle.ConstantTimeCompare([]byte(linkID(links[i])), []byte(want)) == 1 {
			target = &links[i]
		}
	}
	if target == nil {
		h.Logger.WarnContext(ctx, "unlink refused: not one of the user's links", "sub", user)
		h.Pages.Error(w, r, http.StatusNotFound, "links.refused.heading", "links.not_yours", "links.back")
		return
	}
	current := sess.Auth.ConnectorID == target.ConnectorID && sess.Auth.UpstreamSubject == target.UpstreamSubject
	detail := map[string]string{"current_session": strconv.FormatBool(current)}
	err = h.Links.DeleteUserLink(ctx, user, target.ConnectorID, target.UpstreamSubject, h.countable())
	switch {
	case errors.Is(err, storage.ErrConflict):
		h.record(r, audit.AccountUnlink, audit.OutcomeLastLogin, user, target.ConnectorID, detail)
		h.Pages.Error(w, r, http.StatusConflict, "links.refused.heading", "links.last", "links.back")
		return
	case errors.Is(err, storage.ErrNotFound): // removed meanwhile (another tab)
		http.Redirect(w, r, h.accountPath("unlinked"), http.StatusSeeOther)
		return
	case err != nil:
		h.Pages.Internal(w, r, "delete user link", err)
		return
	}
	h.record(r, audit.AccountUnlink, audit.OutcomeSuccess, user, target.ConnectorID, detail)
	h.Logger.InfoContext(ctx, "login unlinked", "connector", target.ConnectorID, "sub", user, "current_session", current)
	if err := h.revokeGrantsOf(r, *target); err != nil {
		// The link is gone: a refresh through it is refused anyway (the grant's account no
		// longer resolves to this user); the grants' access tokens expire on their own.
		h.Logger.ErrorContext(ctx, "unlink: revoke the grants of the removed login", "connector", target.ConnectorID, "err", err)
	}
	http.Redirect(w, r, h.accountPath("unlinked"), http.StatusSeeOther)
}

// revokeGrantsOf revokes the user's grants that the removed login signed in.
func (h *Handler) revokeGrantsOf(r *http.Request, l storage.UserLink) error {
	grants, err := h.Grants.ListGrants(r.Context(), l.UserID)
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range grants {
		if g.Auth.ConnectorID == l.ConnectorID && g.Auth.UpstreamSubject == l.UpstreamSubject {
			errs = append(errs, h.Grants.RevokeGrant(r.Context(), g.ID, h.Now()))
		}
	}
	return errors.Join(errs...)
}
