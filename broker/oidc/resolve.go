package oidc

import (
	"net/http"
	"net/url"

	"github.com/gatehouse-id/gatehouse/broker/authreq"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// resolve finds the authorization parameters of a request: those of a pushed request
// (request_uri from POST /par, taken once), of a request object (request), or the form
// itself. A pushed request or a request object replaces every other parameter (RFC 9101
// 5, RFC 9126 4); its client must be the client_id sent with it. pushed reports a request
// taken from the pushed authorization request endpoint. Errors are shown, never redirected:
// until the parameters are known no redirect URI is.
func (h *Handler) resolve(r *http.Request, form url.Values) (_ url.Values, pushed bool, _ error) {
	hasURI, hasObject := form.Has("request_uri"), form.Has("request")
	if !hasURI && !hasObject {
		return form, false, nil
	}
	refuse := func(code oauth2err.Code, desc string) error {
		return &oauth2err.Error{Code: code, Description: desc, NoRedirect: true}
	}
	for k, v := range form {
		if len(v) > 1 && !authreq.Repeatable(k) {
			return nil, false, refuse(oauth2err.InvalidRequest, "parameter "+k+" is repeated")
		}
	}
	clientID := form.Get("client_id")
	client := h.Clients.Get(clientID)
	switch {
	case hasURI && hasObject:
		return nil, false, refuse(oauth2err.InvalidRequest, "request and request_uri cannot be combined")
	case clientID == "":
		return nil, false, refuse(oauth2err.InvalidRequest, "client_id is missing")
	case client == nil:
		return nil, false, &oauth2err.Error{Code: oauth2err.InvalidClient, Description: "unknown client", NoRedirect: true, Status: 400}
	case hasURI && h.Pushed == nil:
		return nil, false, refuse(oauth2err.RequestURINotSupported, "request_uri is not supported")
	case hasObject && h.RequestObjects == nil:
		return nil, false, refuse(oauth2err.RequestNotSupported, "request objects are not supported")
	}
	var (
		params url.Values
		err    error
	)
	if hasURI {
		params, err = h.Pushed.Take(r.Context(), clientID, form.Get("request_uri"))
	} else {
		params, err = h.RequestObjects.Verify(r.Context(), client, form.Get("request"))
	}
	if err != nil {
		e := oauth2err.As(err)
		e.NoRedirect = true
		return nil, false, e
	}
	params.Set("client_id", clientID)
	return params, hasURI, nil
}
