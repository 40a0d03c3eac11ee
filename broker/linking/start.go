package linking

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/storage"
)

// binding is what a link flow is bound to: the SSO session it started in and its user.
type binding struct {
	SessionID string `json:"sid"`
	UserID    string `json:"sub"`
}

// bindingKey is the blob key of a link flow's binding.
func bindingKey(authRequestID string) string { return "account-link:" + authRequestID }

// handleLink starts linking a connector's account to the signed-in user: the connector's
// login, in an auth request of protocol link bound to this session and user.
func (h *Handler) handleLink(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.form(w, r)
	if !ok {
		return
	}
	connectorID := r.PostFormValue("connector")
	cn, known := h.Connectors.Get(connectorID)
	if !known || !cn.Up() {
		h.Pages.Error(w, r, http.StatusNotFound, "Unknown sign-in method",
			"This way of signing in does not exist or is not allowed for this application.", "links.back")
		return
	}
	links, err := h.Links.ListUserLinks(r.Context(), sess.Identity.Subject)
	if err != nil {
		h.Pages.Internal(w, r, "list user links", err)
		return
	}
	if slices.ContainsFunc(links, func(l storage.UserLink) bool { return l.ConnectorID == connectorID }) {
		h.Pages.Error(w, r, http.StatusConflict, "links.refused.heading", "links.have_one", "links.back")
		return
	}
	now := h.Now()
	ar := storage.AuthRequest{
		ID: opaque.ID(), Protocol: storage.ProtocolLink, ClientID: ClientID, ConnectorID: connectorID,
		Scopes: []string{"openid", "profile", "email"}, MaxAge: -1,
	}
	b, err := json.Marshal(binding{SessionID: sess.ID, UserID: sess.Identity.Subject})
	if err != nil {
		h.Pages.Internal(w, r, "encode link binding", err)
		return
	}
	// The binding lives as long as a flow may take; the flow's end takes it once.
	err = h.Bindings.PutBlob(r.Context(), storage.Blob{Key: bindingKey(ar.ID), Value: b, Expiry: now.Add(linkLifetime)})
	if err != nil {
		h.Pages.Internal(w, r, "store link binding", err)
		return
	}
	h.Logger.InfoContext(r.Context(), "link started", "connector", connectorID, "sub", sess.Identity.Subject)
	h.Flow.Start(w, r, ar, "")
}

// linkLifetime bounds a link flow's binding (the auth request has its own, usually shorter,
// lifetime: whichever ends first ends the flow).
const linkLifetime = 30 * time.Minute

// errBindingGone: the binding was taken before (a replayed flow end) or expired.
var errBindingGone = errors.New("link binding already taken or expired")

// takeBinding takes a link flow's binding, once.
func (h *Handler) takeBinding(r *http.Request, authRequestID string) (binding, error) {
	raw, err := h.Bindings.TakeBlob(r.Context(), bindingKey(authRequestID), h.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return binding{}, errBindingGone
	}
	if err != nil {
		return binding{}, err
	}
	var b binding
	if err := json.Unmarshal(raw, &b); err != nil {
		return binding{}, err
	}
	return b, nil
}

// record reports an account.link or account.unlink event: the user, the connector and the
// outcome, never the upstream account's secrets.
func (h *Handler) record(r *http.Request, typ, outcome, user, connectorID string, detail map[string]string) {
	h.Audit.Record(r.Context(), audit.Event{Type: typ, Outcome: outcome, User: user, ConnectorID: connectorID, Detail: detail})
}
