package samlidp

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/logout"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Starter begins the shared, protocol-neutral login for an auth request the SSO endpoint
// built (broker/authflow's Flow implements it): it decides SSO-session reuse, answers
// IsPassive without a usable session through the Responder, steps up MFA, stores the request
// and goes on to login or consent. It ends in one of Handler's Responder methods.
type Starter interface {
	Start(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, hintSubject string)
}

// ClaimsSource renders the claims a client may see of an identity (claims.Normalizer
// implements it); the SP's attributes come from them.
type ClaimsSource interface {
	Claims(clientID string, id storage.Identity, auth storage.Authentication, scopes []string) map[string]any
}

// Handler serves the IdP's HTTP endpoints (metadata, single sign-on, IdP-initiated login,
// single logout) and ends SAML logins (it is the flow's Responder for storage.ProtocolSAML).
type Handler struct {
	IdP  *IdP
	Flow Starter
	// AuthRequests keeps POST-binding requests parked until the browser comes back.
	AuthRequests storage.AuthRequestStore
	// SessionRecords finds and deletes the session a LogoutRequest names by SessionIndex.
	SessionRecords storage.SessionStore
	// Blobs keeps the single-logout bookkeeping; nil: single logout ends the Gatehouse
	// session but cannot notify the other SPs.
	Blobs    storage.BlobStore
	Sessions *session.Manager
	Claims   ClaimsSource
	// Ender does what follows the end of a session (shared with RP-initiated logout).
	Ender  *logout.Ender
	Pages  *pages.Renderer
	Logger *slog.Logger
	Now    func() time.Time
	// TrustedProxies name the client in X-Forwarded-For (SubjectConfirmationData Address).
	TrustedProxies []netip.Prefix
	// MFAAvailable: a second factor can be asked for, so an SP may request an MFA context.
	MFAAvailable bool
	// FrontChannelPage keeps the OIDC front-channel logout page of an ended session, which
	// goes on to continueURL, and returns its path ("" for none: logout.Handler.DonePage);
	// nil: a logout started at an SP tells OIDC clients through the back channel only.
	FrontChannelPage func(ctx context.Context, sessionID, continueURL string) string
}

// Mount registers the IdP endpoints under /saml/idp/. The SSO and SLO endpoints receive
// cross-site POSTs from SPs, so they are page routes (security headers only), like
// /authorize; the metadata is a plain document.
func (h *Handler) Mount(m *route.Mux) {
	m.Plain("GET /saml/idp/metadata", http.HandlerFunc(h.handleMetadata))
	m.Page("GET /saml/idp/sso", h.handleSSO)
	m.Page("POST /saml/idp/sso", h.handleSSO)
	m.Page("GET /saml/idp/slo", h.handleSLO)
	m.Page("POST /saml/idp/slo", h.handleSLO)
	m.Page("GET /saml/idp/init/{sp}", h.handleInit)
}

// handleMetadata serves the IdP metadata.
func (h *Handler) handleMetadata(w http.ResponseWriter, r *http.Request) {
	md, err := h.IdP.MetadataXML()
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "saml metadata", "err", err)
		http.Error(w, "metadata unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(md)
}
