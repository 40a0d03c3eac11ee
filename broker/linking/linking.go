// Package linking owns the account page's sign-in methods: a signed-in user links another
// login to their account (e.g. GitHub beside an LDAP account) by completing that
// connector's login, sees the logins linked to them, and unlinks one while another remains.
//
// Linking runs the ordinary login flow (broker/authflow) with an auth request of its own
// protocol, storage.ProtocolLink, for the pseudo-client ClientID, bound to the connector
// chosen. The request's binding to the signed-in session and user is kept server-side in a
// single-use blob; the flow hands the upstream identity back (authflow.UpstreamTaker), and
// the link is recorded to the current user instead of resolving or creating one. Every
// link and unlink is an audit event (account.link, account.unlink).
package linking

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// ClientID is the pseudo-client of link flows in the client registry (internal/assembly adds
// it): trusted, every connector allowed, no secret and no redirect URIs, so /authorize and
// /token refuse it. The configuration cannot name a client so (NewRegistry refuses duplicates).
const ClientID = "gatehouse:account"

// Starter starts a login (authflow.Flow).
type Starter interface {
	Start(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, hintSubject string)
}

// Claims links an upstream account to an existing user (claims.Normalizer).
type Claims interface {
	LinkUpstream(ctx context.Context, connectorID string, up connectors.Upstream, userID string) (storage.Identity, error)
}

// Bindings keeps each link flow's binding to its session and user until the flow's end
// takes it, once (storage.BlobStore with storage.BlobTaker).
type Bindings interface {
	PutBlob(ctx context.Context, b storage.Blob) error
	TakeBlob(ctx context.Context, key string, now time.Time) ([]byte, error)
}

// Grants are the user's grants: unlinking a login revokes those it signed in.
type Grants interface {
	ListGrants(ctx context.Context, subject string) ([]storage.Grant, error)
	RevokeGrant(ctx context.Context, id string, now time.Time) error
}

// Deps is what the Handler needs.
type Deps struct {
	Sessions   *session.Manager
	Links      storage.LinkManager
	Bindings   Bindings
	Grants     Grants
	Claims     Claims
	Flow       Starter
	Connectors *connset.Set
	Pages      *pages.Renderer
	// Locked reports whether the session may not change the account (the user has second
	// factors and this session did not use one, as the account page's factors say); nil:
	// never locked.
	Locked func(ctx context.Context, sess storage.Session) (bool, error)
	// Audit records links and unlinks (nil: none).
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
}

// Handler serves the sign-in methods of the account page. Build it with New, register it as
// the responder of storage.ProtocolLink, give it to the account page as its section, and
// Mount it.
type Handler struct{ Deps }

// New builds a Handler.
func New(d Deps) (*Handler, error) {
	if d.Sessions == nil || d.Links == nil || d.Bindings == nil || d.Grants == nil || d.Claims == nil || d.Flow == nil ||
		d.Connectors == nil || d.Pages == nil || d.Logger == nil {
		return nil, errors.New("linking: missing dependency")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Audit == nil {
		d.Audit = audit.Nop{}
	}
	return &Handler{Deps: d}, nil
}

// Mount registers the link and unlink forms' routes (browser routes: CSRF-checked forms).
func (h *Handler) Mount(m *route.Mux) {
	m.Browser("POST /account/logins/link", h.handleLink)
	m.Browser("POST /account/logins/unlink", h.handleUnlink)
}

// accountPath is where every outcome returns the user, with a notice.
func (h *Handler) accountPath(notice string) string {
	return h.Pages.Rel("/account?logins=" + notice + "#logins")
}
