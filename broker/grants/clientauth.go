package grants

import (
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
)

// maxForm bounds the body of a token-style request.
const maxForm = 64 << 10

// repeatable are the token-endpoint parameters that may be repeated: resource (RFC 8707 2)
// and audience (RFC 8693 2.1).
var repeatable = map[string]bool{"resource": true, "audience": true}

// parseForm reads an application/x-www-form-urlencoded POST body (bounded); a repeated
// parameter is refused (RFC 6749 3.2), except resource and audience.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return oauth2err.New(oauth2err.InvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return oauth2err.New(oauth2err.InvalidRequest, "malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && !repeatable[k] {
			return oauth2err.New(oauth2err.InvalidRequest, "parameter "+k+" is repeated")
		}
	}
	return nil
}

// authenticateClient authenticates the client of a token-style request whose form is parsed:
// client_secret_basic, client_secret_post, private_key_jwt (clients.AssertionVerifier), or none for
// public clients. Secrets are compared
// in constant time by the registry (clients.Client.CheckSecret), an unknown client included.
func (h *Handler) authenticateClient(r *http.Request) (*clients.Client, error) {
	cr, err := clients.ReadCredentials(r)
	if err != nil {
		return nil, oauth2err.New(oauth2err.InvalidRequest, err.Error())
	}
	if cr.Method == clients.AuthPrivateKeyJWT {
		c, err := h.Assertions.Verify(r.Context(), cr)
		if err != nil {
			h.Logger.InfoContext(r.Context(), "client authentication failed", "client_id", cr.ID, "method", cr.Method, "err", err)
			return nil, clients.AssertionError(err)
		}
		logctx.Add(r.Context(), "client_id", c.ID)
		return c, nil
	}
	c, err := h.Clients.AuthenticateContext(r.Context(), cr)
	if err != nil {
		return nil, oauth2err.Server(err)
	}
	if c == nil {
		h.Logger.InfoContext(r.Context(), "client authentication failed", "client_id", cr.ID, "method", cr.Method)
		return nil, oauth2err.New(oauth2err.InvalidClient, "client authentication failed")
	}
	logctx.Add(r.Context(), "client_id", c.ID)
	return c, nil
}
