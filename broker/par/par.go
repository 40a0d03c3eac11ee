// Package par owns the pushed authorization request endpoint (RFC 9126): POST /par, where a
// client authenticated as at the token endpoint pushes the parameters of an authorization
// request (or a request object carrying them, RFC 9101). They are validated with the same
// parsing as /authorize (broker/authreq), stored for authreq.PushedLifetime, and answered
// with a request_uri the client then sends to /authorize with its client_id alone; the
// authorization endpoint (broker/oidc) takes the stored request once.
package par

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/authreq"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/dpop"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
)

// maxForm bounds the body of a pushed request (the broker's middleware bounds it too).
const maxForm = 64 << 10

// Deps is what the endpoint needs.
type Deps struct {
	Clients *clients.Registry
	// Assertions authenticates private_key_jwt clients (as at the token endpoint).
	Assertions *clients.AssertionVerifier
	// KnownScope reports whether a scope may be requested.
	KnownScope func(string) bool
	// RequestObjects verifies a pushed request object.
	RequestObjects *authreq.RequestObjects
	// Pushed stores the validated requests.
	Pushed *authreq.Pushed
	// DPoP checks a proof pushed with the request (RFC 9449 10.1); nil refuses proofs.
	DPoP *dpop.Validator
	// Issuer is the issuer URL; a proof's htu must be its /par endpoint.
	Issuer string
	Logger *slog.Logger
	Now    func() time.Time
}

// Handler serves POST /par.
type Handler struct {
	Deps
}

// New builds the handler.
func New(d Deps) *Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Handler{Deps: d}
}

// Mount registers the endpoint as an API route (JSON answers, CORS for configured origins).
func (h *Handler) Mount(m *route.Mux) {
	m.API("POST /par", h.serve)
}

// response is RFC 9126 2.2.
type response struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
}

// serve is the pushed authorization request endpoint (RFC 9126 2): errors are JSON
// (RFC 9126 2.3), never redirects.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	c, params, err := h.pushedRequest(w, r)
	if err != nil {
		e := oauth2err.As(err)
		if e.Code == oauth2err.ServerError {
			h.Logger.ErrorContext(r.Context(), "pushed authorization request failed", "err", e)
		} else {
			h.Logger.InfoContext(r.Context(), "pushed authorization request refused", "err", e)
		}
		oauth2err.WriteJSON(w, r, e)
		return
	}
	uri, err := h.Pushed.Put(r.Context(), c.ID, params)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "store pushed authorization request", "err", err)
		oauth2err.WriteJSON(w, r, oauth2err.Server(err))
		return
	}
	h.Logger.InfoContext(r.Context(), "authorization request pushed", "client_id", c.ID)
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(response{RequestURI: uri, ExpiresIn: int64(authreq.PushedLifetime / time.Second)}) //nolint:errcheck // the client went away; nothing to do
}

// pushedRequest authenticates the client and validates the pushed parameters; it returns
// the client and the parameters to store (a request object's, when one was pushed).
func (h *Handler) pushedRequest(w http.ResponseWriter, r *http.Request) (*clients.Client, url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return nil, nil, oauth2err.New(oauth2err.InvalidRequest, "malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && !authreq.Repeatable(k) {
			return nil, nil, oauth2err.New(oauth2err.InvalidRequest, "parameter "+k+" is repeated")
		}
	}
	c, err := h.authenticate(r)
	if err != nil {
		return nil, nil, err
	}
	form := r.PostForm
	if id := form.Get("client_id"); id != "" && id != c.ID {
		return nil, nil, oauth2err.New(oauth2err.InvalidRequest, "client_id does not match the authenticated client")
	}
	if form.Has("request_uri") {
		return nil, nil, oauth2err.New(oauth2err.InvalidRequest, "request_uri may not be pushed (RFC 9126 2.1)")
	}
	params := make(url.Values, len(form))
	for k, v := range form {
		switch k {
		case "client_secret", "client_assertion", "client_assertion_type":
		default:
			params[k] = v
		}
	}
	if raw := form.Get("request"); raw != "" {
		if params, err = h.RequestObjects.Verify(r.Context(), c, raw); err != nil {
			return nil, nil, err
		}
	}
	params["client_id"] = []string{c.ID}
	if err := h.bindDPoP(r, params); err != nil {
		return nil, nil, err
	}
	if _, _, err := authreq.Parse(params, h.Clients, h.KnownScope); err != nil {
		e := oauth2err.As(err)
		e.NoRedirect = true
		return nil, nil, e
	}
	return c, params, nil
}

// authenticate authenticates the client as the token endpoint does: a secret (basic or
// post), a private_key_jwt assertion, or client_id alone for a public client.
func (h *Handler) authenticate(r *http.Request) (*clients.Client, error) {
	cr, err := clients.ReadCredentials(r)
	if err != nil {
		return nil, oauth2err.New(oauth2err.InvalidRequest, err.Error())
	}
	var c *clients.Client
	if cr.Method == clients.AuthPrivateKeyJWT {
		if c, err = h.Assertions.Verify(r.Context(), cr); err != nil {
			h.Logger.InfoContext(r.Context(), "client authentication failed", "client_id", cr.ID, "method", cr.Method, "err", err)
			return nil, clients.AssertionError(err)
		}
	} else if c = h.Clients.Authenticate(cr); c == nil {
		h.Logger.InfoContext(r.Context(), "client authentication failed", "client_id", cr.ID, "method", cr.Method)
		return nil, oauth2err.New(oauth2err.InvalidClient, "client authentication failed")
	}
	logctx.Add(r.Context(), "client_id", c.ID)
	return c, nil
}

// bindDPoP checks a DPoP proof sent with the push (RFC 9449 10.1): the authorization code
// will be bound to the proof's key (dpop_jkt), and a dpop_jkt pushed beside the proof must
// name the same key, else the push is refused. A push without a proof is left as it is.
func (h *Handler) bindDPoP(r *http.Request, params url.Values) error {
	raw, err := dpop.Header(r)
	if err != nil {
		return dpop.OAuthError(err)
	}
	if raw == "" {
		return nil
	}
	if h.DPoP == nil {
		return oauth2err.New(oauth2err.InvalidDPoPProof, "DPoP is not supported here")
	}
	p, err := h.DPoP.Check(r.Context(), raw, dpop.Request{Method: r.Method, URL: strings.TrimSuffix(h.Issuer, "/") + "/par"})
	if err != nil {
		return dpop.OAuthError(err)
	}
	if jkt := params.Get("dpop_jkt"); jkt != "" && !dpop.SameKey(p.JKT, jkt) {
		return oauth2err.New(oauth2err.InvalidDPoPProof, "dpop_jkt does not name the key of the DPoP proof")
	}
	params["dpop_jkt"] = []string{p.JKT}
	return nil
}
