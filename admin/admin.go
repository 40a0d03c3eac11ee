// Package admin is Gatehouse's admin API (docs/admin-api.md): Connect RPC services (gRPC,
// gRPC-Web and JSON over HTTP from the protobufs in api/gatehouse/admin/v1) over storage,
// served on the admin listener only. Callers authenticate with a Gatehouse access token from
// the client_credentials grant that carries the gatehouse:admin scope and was issued to a
// client named in admin.clients; every change is an audit event naming that client.
package admin

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// MaxRequestBytes bounds every admin API request body.
const MaxRequestBytes = 64 << 10

// TokenVerifier checks a Gatehouse access token (broker/userinfo.Verifier).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (tokens.AccessToken, storage.Grant, error)
}

// Deps is what the admin API works with.
type Deps struct {
	// Clients is the client registry: the configured clients (read-only) and the store.
	Clients *clients.Registry
	// ClientStore keeps the clients created through the API.
	ClientStore storage.ClientStore
	// ConnectorIDs are the configured connectors (a client's allowed_connectors name them).
	ConnectorIDs []string
	// Verifier checks the callers' access tokens.
	Verifier TokenVerifier
	// AdminClients are the client IDs whose tokens may call the API (admin.clients).
	AdminClients []string
	// Store is the storage (local users, links, grants, sessions, consents).
	Store storage.Storage
	// Sessions lists and ends users' sessions and consents.
	Sessions storage.UserSessionStore
	// AuditStore is the audit trail ListAuditEvents reads (nil: none kept).
	AuditStore storage.AuditStore
	// LocalConnectorIDs are the connectors of type local (their links name local users).
	LocalConnectorIDs []string
	// PasswordCost is the bcrypt cost of passwords set through the API (0: the default).
	PasswordCost int
	// Keys lists and rotates the signing keys.
	Keys KeyRotator
	// Connectors are the configured connectors and whether they opened.
	Connectors []connset.Slot
	// SAML is the SAML IdP (its configured service providers are read-only); nil: off, and
	// the ServiceProviderService answers failed_precondition.
	SAML *samlidp.IdP
	// SPStore keeps the service providers created through the API.
	SPStore storage.ServiceProviderStore
	// HTTP fetches a service provider's metadata_url when it is created or updated (bounded).
	HTTP *http.Client
	// SessionsEnded, when set, is called after the API deleted sessions, so this process's
	// caches of sessions drop them at once (session.Manager.NoteEnded).
	SessionsEnded func()
	// Registrations keeps the initial access tokens of Dynamic Client Registration; nil
	// when registration is off (the token RPCs answer failed_precondition).
	Registrations storage.RegistrationStore
	// MaxClientsPerToken bounds an initial access token's max_uses
	// (registration.max_clients_per_token).
	MaxClientsPerToken int
	// Audit records every change.
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
}

// Server implements the admin API's services.
type Server struct {
	d Deps
}

// New returns the admin API over d.
func New(d Deps) *Server {
	if d.Audit == nil {
		d.Audit = audit.Nop{}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{Timeout: metadataFetchTime}
	}
	d.HTTP = httpx.BoundedClient(d.HTTP)
	return &Server{d: d}
}

// Handler serves every service under its Connect path (/gatehouse.admin.v1.ClientService/...),
// behind caller authentication and a request body bound.
func (s *Server) Handler() http.Handler {
	opts := []connect.HandlerOption{connect.WithReadMaxBytes(MaxRequestBytes)}
	mux := http.NewServeMux()
	mux.Handle(adminv1connect.NewClientServiceHandler(&clientService{s}, opts...))
	mux.Handle(adminv1connect.NewUserServiceHandler(&userService{s}, opts...))
	mux.Handle(adminv1connect.NewSessionServiceHandler(&sessionService{s}, opts...))
	mux.Handle(adminv1connect.NewConsentServiceHandler(&consentService{s}, opts...))
	mux.Handle(adminv1connect.NewKeyServiceHandler(&keyService{s}, opts...))
	mux.Handle(adminv1connect.NewConnectorServiceHandler(&connectorService{s}, opts...))
	mux.Handle(adminv1connect.NewAuditServiceHandler(&auditService{s}, opts...))
	mux.Handle(adminv1connect.NewServiceProviderServiceHandler(&spService{s}, opts...))
	return s.authenticate(mux)
}

// Paths are the URL path prefixes the handler serves (one per service), for mounting it
// next to other handlers.
func Paths() []string {
	var out []string
	for _, name := range []string{adminv1connect.ClientServiceName, adminv1connect.UserServiceName, adminv1connect.SessionServiceName,
		adminv1connect.ConsentServiceName, adminv1connect.KeyServiceName, adminv1connect.ConnectorServiceName, adminv1connect.AuditServiceName,
		adminv1connect.ServiceProviderServiceName} {
		out = append(out, "/"+name+"/")
	}
	return out
}

// sessionsEnded tells this process's caches of sessions that the API deleted some.
func (s *Server) sessionsEnded() {
	if s.d.SessionsEnded != nil {
		s.d.SessionsEnded()
	}
}
