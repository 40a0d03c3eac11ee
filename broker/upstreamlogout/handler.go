package upstreamlogout

import (
	"context"
	"log/slog"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Ender does what the end of an SSO session takes away (broker/logout.Ender implements it);
// it runs before the session is deleted.
type Ender interface {
	Ended(ctx context.Context, sess storage.Session, flowHash string) error
}

// SAMLNotifier tells the SAML service providers of an ended session without a browser
// (broker/samlidp.Handler implements it) and reports whether every one was told.
type SAMLNotifier interface {
	BackChannelLogout(ctx context.Context, sessionID string) bool
}

// Sessions is the storage an upstream logout needs: the sessions of an upstream session,
// session records, and single-use records (replayed logout tokens, pending redirects).
type Sessions interface {
	storage.UpstreamSessions
	GetSession(ctx context.Context, id string) (storage.Session, error)
	DeleteSession(ctx context.Context, id string) error
	storage.BlobStore
	storage.BlobTaker
}

// Handler serves upstream logout in both directions.
type Handler struct {
	Issuer     string
	Connectors *connset.Set
	Store      Sessions
	Ender      Ender
	// SAML tells SAML service providers of sessions an upstream ended; nil: none are told.
	SAML SAMLNotifier
	// NoteEnded tells this process's caches of sessions that sessions were deleted
	// (session.Manager.NoteEnded).
	NoteEnded func()
	Pages     *pages.Renderer
	Logger    *slog.Logger
	Now       func() time.Time
}

// Mount registers the back-channel logout receiver of every connector (a server-to-server
// POST from the upstream, plain: no browser, no cookie) and the page the upstream sends the
// browser back to after its own logout (GET for OIDC, POST for a SAML LogoutResponse in the
// POST binding: other sites may POST, so a page route).
func (h *Handler) Mount(m *route.Mux) {
	m.Plain("POST /connectors/{id}/backchannel-logout", h.backChannelHandler())
	m.Page("GET /logout/upstream", h.handleReturn)
	m.Page("POST /logout/upstream", h.handleReturn)
	// A SAML connector's single logout service: its IdP's LogoutResponses and LogoutRequests
	// (signed by the IdP; other sites may POST).
	m.Page("GET /saml/sp/{connector}/slo", h.handleSAMLSLO)
	m.Page("POST /saml/sp/{connector}/slo", h.handleSAMLSLO)
}

// slot returns the connector slot when it is configured for upstream logout.
func (h *Handler) slot(id string) (*connset.Slot, bool) {
	sl, ok := h.Connectors.Get(id)
	if !ok || !sl.UpstreamLogout {
		return nil, false
	}
	return sl, true
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}
