// Package grants owns the OAuth 2.0 token endpoint and the other client-authenticated token
// endpoints: one file per grant type (code.go: authorization_code, refresh.go: refresh_token),
// client authentication in one place (clientauth.go), minting (mint.go), revocation
// (revoke.go, RFC 7009) and introspection (introspect.go, RFC 7662). It answers JSON only:
// no templates, no pages.
package grants

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/dpop"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/broker/userinfo"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// Lifetimes are the lifetimes of what the token endpoint issues.
type Lifetimes struct {
	IDToken         time.Duration
	AccessToken     time.Duration
	RefreshAbsolute time.Duration
	RefreshIdle     time.Duration
	// ReuseGrace: a client whose refresh response was lost may retry with the previous
	// refresh token for this long after the rotation, while its successor is unused. 0 turns
	// the retry off (every reuse revokes the family).
	ReuseGrace time.Duration
}

// SessionChecker tells whether an SSO session is still live (not logged out or expired).
type SessionChecker interface {
	Live(ctx context.Context, id string) (storage.Session, bool, error)
}

// Handler serves the token, revocation and introspection endpoints.
type Handler struct {
	// Issuer is the iss of introspection answers.
	Issuer string
	// Codes redeems authorization codes (created by the OIDC responder; storage.AuthCode is
	// the contract).
	Codes storage.CodeStore
	// Grants keeps token families. When it also implements storage.RefreshReissuer and
	// storage.GrantUpdater, lost refresh responses can be retried and refreshed upstream
	// state is kept.
	Grants storage.GrantStore
	// Assertions authenticates private_key_jwt clients.
	Assertions *clients.AssertionVerifier
	// DPoP checks DPoP proofs (RFC 9449): a valid one binds the tokens issued to its key.
	DPoP *dpop.Validator
	// Devices keeps device codes (RFC 8628); nil: the device grant is refused.
	Devices storage.DeviceStore
	// Sessions tells whether the SSO session of a code is still live.
	Sessions   SessionChecker
	Minter     *tokens.Minter
	Access     *userinfo.Verifier // access-token check shared with userinfo (introspection)
	Claims     *claims.Normalizer
	Clients    *clients.Registry
	Connectors *connset.Set
	Lifetimes  Lifetimes
	// Audit records tokens issued, refreshed and revoked, and refresh reuse (required:
	// audit.Nop records nothing).
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
	// StorageDown reports whether storage is unreachable right now: a server_error then
	// becomes 503 temporarily_unavailable.
	StorageDown func(context.Context) bool
}

// tokenEvent is the audit event of an act on grant g's tokens (no token in it).
func tokenEvent(typ, grantType string, g storage.Grant) audit.Event {
	return audit.Event{Type: typ, Outcome: audit.OutcomeSuccess, User: g.Identity.Subject, ConnectorID: g.Auth.ConnectorID,
		ClientID: g.ClientID, Detail: map[string]string{"grant_type": grantType, "grant": g.ID}}
}

// Mount registers the token and revocation endpoints as API routes and introspection as a
// plain route (for resource servers, never browsers).
func (h *Handler) Mount(m *route.Mux) {
	m.API("POST /token", h.serveToken)
	m.API("POST /revoke", h.serveRevoke)
	m.Plain("POST /introspect", http.HandlerFunc(h.serveIntrospect))
}

// tokenResponse is RFC 6749 5.1 plus OIDC's id_token.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// IssuedTokenType is the type of access_token in a token exchange response (RFC 8693 2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// serveToken is the token endpoint (RFC 6749 3.2).
func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request) {
	arrived := h.Now().UTC() // before anything else: tells a concurrent refresh from a retry
	if err := parseForm(w, r); err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	c, err := h.authenticateClient(r)
	if err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	h.setNonce(w, r)
	var resp tokenResponse
	var jkt string
	gt := r.PostFormValue("grant_type")
	switch {
	case knownGrant(gt) && !c.AllowsGrant(gt):
		err = oauth2err.New(oauth2err.UnauthorizedClient, "the client may not use grant_type "+gt)
	case knownGrant(gt):
		jkt, err = h.tokenProof(r, c)
	}
	switch {
	case err != nil:
	case gt == clients.GrantAuthorizationCode:
		resp, err = h.codeGrant(r, c, jkt)
	case gt == clients.GrantRefreshToken:
		resp, err = h.refreshGrant(r, c, arrived, jkt)
	case gt == clients.GrantClientCredentials:
		resp, err = h.clientCredentialsGrant(r, c, jkt)
	case gt == clients.GrantDeviceCode:
		resp, err = h.deviceGrant(r, c, jkt)
	case gt == clients.GrantTokenExchange:
		resp, err = h.tokenExchangeGrant(r, c, jkt)
	case gt == "":
		err = oauth2err.New(oauth2err.InvalidRequest, "grant_type is missing")
	default:
		err = oauth2err.New(oauth2err.UnsupportedGrantType, "unsupported grant_type")
	}
	if err != nil {
		e := oauth2err.As(err)
		switch e.Code {
		case oauth2err.ServerError:
			h.Logger.ErrorContext(r.Context(), "token request failed", "client_id", c.ID, "err", e)
			e = oauth2err.As(oauth2err.Degrade(r.Context(), e, h.StorageDown))
		case oauth2err.AuthorizationPending, oauth2err.SlowDown:
			h.Logger.DebugContext(r.Context(), "device poll", "client_id", c.ID, "err", e)
		default:
			h.Logger.InfoContext(r.Context(), "token request refused", "client_id", c.ID, "err", e)
		}
		if e.Code == oauth2err.TemporarilyUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		oauth2err.WriteJSON(w, r, e)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(resp) //nolint:errcheck // the client went away; nothing to do
}

// knownGrant reports whether the token endpoint implements the grant type.
func knownGrant(gt string) bool {
	switch gt {
	case clients.GrantAuthorizationCode, clients.GrantRefreshToken, clients.GrantClientCredentials, clients.GrantDeviceCode,
		clients.GrantTokenExchange:
		return true
	}
	return false
}
