package account

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/storage"
)

// appRow is one app the user allowed, in the apps section.
type appRow struct {
	ClientID, Name, Granted string
	// Scopes are what the app may see, in plain words (catalog IDs or English texts).
	Scopes []string
}

// appRows lists the user's consents: the client's name, what it may see in the consent
// page's words, and when it was allowed.
func (h *Handler) appRows(ctx context.Context, subject string) ([]appRow, error) {
	consents, err := h.Holdings.ListUserConsents(ctx, subject)
	if err != nil {
		return nil, err
	}
	rows := make([]appRow, 0, len(consents))
	for _, c := range consents {
		row := appRow{ClientID: c.ClientID, Name: c.ClientID, Granted: c.CreatedAt.Format("2 Jan 2006")}
		cl, err := h.Apps.Lookup(ctx, c.ClientID)
		if err != nil {
			return nil, err
		}
		if cl != nil && cl.Name != "" {
			row.Name = cl.Name
		}
		for _, sc := range c.Scopes {
			if t := h.Scopes.ScopeDescription(sc); t != "" && !slices.Contains(row.Scopes, t) {
				row.Scopes = append(row.Scopes, t)
			}
		}
		for _, cl := range c.Claims {
			if t := h.Scopes.ClaimDescription(cl); t != "" && !slices.Contains(row.Scopes, t) {
				row.Scopes = append(row.Scopes, t)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// revokeApp withdraws the user's consent to one client: every grant of the client to the
// user is revoked first (offline ones too: its refresh tokens stop working), then the
// consent is deleted, so the next sign-in to the app asks again. A client the user has no
// consent for (another user's, or already revoked) changes nothing.
func (h *Handler) revokeApp(w http.ResponseWriter, r *http.Request, sess storage.Session, flow string) {
	ctx := r.Context()
	sub, clientID := sess.Identity.Subject, r.PostFormValue("client")
	consents, err := h.Holdings.ListUserConsents(ctx, sub)
	if err != nil {
		h.Pages.Internal(w, r, "list consents", err)
		return
	}
	if !slices.ContainsFunc(consents, func(c storage.Consent) bool { return c.ClientID == clientID }) {
		h.Logger.WarnContext(ctx, "account: revoke refused: no consent of this user for the client", "sub", sub)
		h.render(w, r, view{status: http.StatusNotFound, sess: sess, flow: flow, msg: "account.app_unknown"})
		return
	}
	grants, err := h.Holdings.ListGrants(ctx, sub)
	if err != nil {
		h.Pages.Internal(w, r, "list grants", err)
		return
	}
	now, n := h.Now().UTC(), 0
	for _, g := range grants {
		if g.ClientID != clientID || g.Revoked {
			continue
		}
		if err := h.Holdings.RevokeGrant(ctx, g.ID, now); err != nil {
			h.Pages.Internal(w, r, "revoke grant", err)
			return
		}
		n++
	}
	if err := h.Holdings.DeleteConsent(ctx, sub, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.Pages.Internal(w, r, "delete consent", err)
		return
	}
	h.Logger.InfoContext(ctx, "consent revoked by the user", "sub", sub, "client_id", clientID, "grants", n)
	h.Audit.Record(ctx, audit.Event{Type: audit.ConsentRevoked, Outcome: audit.OutcomeSuccess, User: sub, ClientID: clientID,
		Detail: map[string]string{"grants": strconv.Itoa(n)}})
	http.Redirect(w, r, h.Pages.Rel("/account?done=revoked"), http.StatusSeeOther)
}
