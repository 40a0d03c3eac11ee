package registration

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
)

// errBadRegistrationToken is the answer to a management request whose client or token is
// wrong, the same for both (RFC 7592 2: 401, nothing said about which).
var errBadRegistrationToken = &oauth2err.Error{Code: oauth2err.InvalidToken, Description: "the registration access token is not valid for this client"}

// managed reads the client of a management request and checks its registration access
// token in constant time. A client the API created (no registration token) or a configured
// one is never reached here.
func (h *Handler) managed(w http.ResponseWriter, r *http.Request) (storage.Client, bool) {
	id := r.PathValue("client_id")
	tok := bearerToken(r)
	if tok == "" {
		oauth2err.WriteBearer(w, nil)
		return storage.Client{}, false
	}
	if h.Clients.Configured(id) != nil {
		h.fail(w, r, id, errBadRegistrationToken)
		return storage.Client{}, false
	}
	sc, err := h.Store.GetClient(r.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		sc = storage.Client{}
	case err != nil:
		h.fail(w, r, id, oauth2err.Server(err))
		return storage.Client{}, false
	}
	if !sameHash(tok, sc.RegistrationTokenHash) {
		h.fail(w, r, id, errBadRegistrationToken)
		return storage.Client{}, false
	}
	return sc, true
}

// read is GET /register/{client_id} (RFC 7592 2.1): the client's current metadata (the
// secret is stored hashed and cannot be read back).
func (h *Handler) read(w http.ResponseWriter, r *http.Request) {
	sc, ok := h.managed(w, r)
	if !ok {
		return
	}
	h.answer(w, http.StatusOK, sc, "", "")
}

// update is PUT /register/{client_id} (RFC 7592 2.2): the request replaces every metadata
// member (one left out is removed or takes its default), validated as a registration is;
// client_id must be the client's and a client_secret, when sent, its secret. The
// registration access token is rotated: the answer carries the new one and the old one
// stops working. A client that changes to a secret-based method gets a new secret.
func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	sc, ok := h.managed(w, r)
	if !ok {
		return
	}
	m, err := h.readMetadata(r)
	if err != nil {
		h.fail(w, r, sc.ID, err)
		return
	}
	if m.ClientID != sc.ID {
		h.fail(w, r, sc.ID, &oauth2err.Error{Code: oauth2err.InvalidRequest, Description: "client_id must be the client's ID"})
		return
	}
	if m.ClientSecret != "" && !sameHash(m.ClientSecret, sc.SecretHash) {
		h.fail(w, r, sc.ID, &oauth2err.Error{Code: oauth2err.InvalidRequest, Description: "client_secret is not the client's secret"})
		return
	}
	next, err := toClient(&h.Policy, m, sc.ID, h.ConnectorIDs)
	if err != nil {
		h.fail(w, r, sc.ID, err)
		return
	}
	secret, regToken := h.credentials(&next, sc.SecretHash)
	next.Version, next.CreatedAt, next.UpdatedAt = sc.Version, sc.CreatedAt, h.Now().UTC().Truncate(time.Millisecond)
	err = h.Store.UpdateClient(r.Context(), next)
	h.record(r.Context(), "registration.client.update", sc.ID, err)
	switch {
	case errors.Is(err, storage.ErrConflict):
		h.fail(w, r, sc.ID, &oauth2err.Error{Code: oauth2err.InvalidRequest, Status: http.StatusConflict,
			Description: "the client changed while it was being updated; read it again and retry"})
		return
	case errors.Is(err, storage.ErrNotFound):
		h.fail(w, r, sc.ID, errBadRegistrationToken)
		return
	case err != nil:
		h.fail(w, r, sc.ID, oauth2err.Server(err))
		return
	}
	next.Version++
	h.answer(w, http.StatusOK, next, secret, regToken)
}

// remove is DELETE /register/{client_id} (RFC 7592 2.3): the client is deleted and every
// grant issued to it revoked (its access and refresh tokens stop working) in one
// transaction; the registration access token goes with it.
func (h *Handler) remove(w http.ResponseWriter, r *http.Request) {
	sc, ok := h.managed(w, r)
	if !ok {
		return
	}
	err := h.Store.DeleteClient(r.Context(), sc.ID, h.Now().UTC())
	h.record(r.Context(), "registration.client.delete", sc.ID, err)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		h.fail(w, r, sc.ID, errBadRegistrationToken)
	case err != nil:
		h.fail(w, r, sc.ID, oauth2err.Server(err))
	default:
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	}
}
