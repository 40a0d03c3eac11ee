package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Limits of a client's fields through the API (config clients are not limited: they are
// written by the operator).
const (
	maxNameLen   = 200
	maxListLen   = 32
	maxStringLen = 2048
	maxJWKSLen   = 16 << 10
)

// clientIDRe is the shape of a client ID created through the API: no colon (saml: and app:
// are reserved for service providers and protected apps), no space, at most 128 characters.
var clientIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$`)

// updatableFields are the Client fields UpdateClient may replace (its update_mask names).
var updatableFields = []string{
	"name", "trusted", "redirect_uris", "post_logout_redirect_uris", "allowed_connectors",
	"grant_types", "scopes", "audiences", "allowed_origins", "token_endpoint_auth_method", "jwks",
	"jwks_uri", "backchannel_logout_uri", "backchannel_logout_session_required", "frontchannel_logout_uri",
	"frontchannel_logout_session_required", "require_pushed_authorization_requests",
	"allow_unsigned_request_objects", "dpop_bound_access_tokens", "resources",
}

// clientService implements adminv1connect.ClientServiceHandler.
type clientService struct{ s *Server }

// CreateClient validates and stores a new client and returns its generated secret.
func (cs *clientService) CreateClient(ctx context.Context, req *connect.Request[adminv1.CreateClientRequest]) (*connect.Response[adminv1.CreateClientResponse], error) {
	in := req.Msg.GetClient()
	if in == nil {
		return nil, invalidArg("client", "is required")
	}
	if !clientIDRe.MatchString(in.GetId()) {
		return nil, invalidArg("client.id", "%q must be 1-128 letters, digits, '.', '_', '~' or '-', starting with a letter or digit", clip(in.GetId()))
	}
	sc := storedFromProto(in)
	if err := cs.validate(sc); err != nil {
		return nil, err
	}
	if cs.s.d.Clients.Configured(sc.ID) != nil {
		return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("client.id: %q is a client of the configuration", sc.ID))
	}
	secret := ""
	if !sc.Public && sc.JWKS == "" && sc.JWKSURI == "" {
		secret = newSecret()
		sc.SecretHash = clients.HashSecret(secret)
	}
	now := cs.s.d.Now().UTC().Truncate(time.Millisecond) // as stored
	sc.CreatedAt, sc.UpdatedAt = now, now
	sc.Version = 1
	err := cs.s.d.ClientStore.CreateClient(ctx, sc)
	cs.s.record(ctx, "client.create", sc.ID, err)
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("client.id: a client %q exists", sc.ID))
	}
	if err != nil {
		return nil, cs.s.internal(ctx, "create client", err)
	}
	return connect.NewResponse(&adminv1.CreateClientResponse{Client: storedToProto(sc), ClientSecret: secret}), nil
}

// GetClient returns a configured or stored client.
func (cs *clientService) GetClient(ctx context.Context, req *connect.Request[adminv1.GetClientRequest]) (*connect.Response[adminv1.GetClientResponse], error) {
	if c := cs.configured(req.Msg.GetId()); c != nil {
		return connect.NewResponse(&adminv1.GetClientResponse{Client: configToProto(c)}), nil
	}
	sc, err := cs.stored(ctx, "id", req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&adminv1.GetClientResponse{Client: storedToProto(sc)}), nil
}

// ListClients returns the configured clients, then the stored ones (each by ID).
func (cs *clientService) ListClients(ctx context.Context, _ *connect.Request[adminv1.ListClientsRequest]) (*connect.Response[adminv1.ListClientsResponse], error) {
	out := &adminv1.ListClientsResponse{}
	var cfg []*clients.Client
	for _, c := range cs.s.d.Clients.All() {
		if cs.configured(c.ID) != nil {
			cfg = append(cfg, c)
		}
	}
	slices.SortFunc(cfg, func(a, b *clients.Client) int { return strings.Compare(a.ID, b.ID) })
	for _, c := range cfg {
		out.Clients = append(out.Clients, configToProto(c))
	}
	stored, err := cs.s.d.ClientStore.ListClients(ctx)
	if err != nil {
		return nil, cs.s.internal(ctx, "list clients", err)
	}
	for _, sc := range stored {
		if cs.configured(sc.ID) == nil { // a configured client hides a stored one
			out.Clients = append(out.Clients, storedToProto(sc))
		}
	}
	return connect.NewResponse(out), nil
}

// UpdateClient replaces the masked fields of a stored client, validated as a whole.
func (cs *clientService) UpdateClient(ctx context.Context, req *connect.Request[adminv1.UpdateClientRequest]) (*connect.Response[adminv1.UpdateClientResponse], error) {
	in := req.Msg.GetClient()
	if in == nil {
		return nil, invalidArg("client", "is required")
	}
	mask := req.Msg.GetUpdateMask()
	for i, f := range mask {
		if !slices.Contains(updatableFields, f) {
			return nil, invalidArg(fmt.Sprintf("update_mask[%d]", i), "%q is not an updatable field (one of %s)", clip(f), strings.Join(updatableFields, ", "))
		}
	}
	if len(mask) == 0 {
		mask = updatableFields
	}
	if err := cs.readOnly(in.GetId()); err != nil {
		return nil, err
	}
	if in.GetVersion() <= 0 {
		return nil, invalidArg("client.version", "is required: the version GetClient returned")
	}
	sc, err := cs.stored(ctx, "client.id", in.GetId())
	if err != nil {
		return nil, err
	}
	if sc.Version != in.GetVersion() {
		return nil, staleVersion(sc.ID, in.GetVersion(), sc.Version)
	}
	applyMask(&sc, storedFromProto(in), mask)
	switch {
	case sc.JWKS != "" || sc.JWKSURI != "":
		sc.SecretHash = "" // a client that turns to private_key_jwt loses its secret
	case !sc.Public && sc.SecretHash == "":
		// One that leaves private_key_jwt has no secret yet: an unknown one until
		// RotateClientSecret gives it one it can use.
		sc.SecretHash = clients.HashSecret(newSecret())
	}
	if err := cs.validate(sc); err != nil {
		return nil, err
	}
	sc.UpdatedAt = cs.s.d.Now().UTC().Truncate(time.Millisecond)
	err = cs.s.d.ClientStore.UpdateClient(ctx, sc)
	cs.s.record(ctx, "client.update", sc.ID, err)
	if errors.Is(err, storage.ErrConflict) {
		return nil, staleVersion(sc.ID, sc.Version, sc.Version+1)
	}
	if err != nil {
		return nil, cs.s.storeErr(ctx, "client.id", "update client", err)
	}
	sc.Version++
	return connect.NewResponse(&adminv1.UpdateClientResponse{Client: storedToProto(sc)}), nil
}

// RotateClientSecret gives a stored confidential client a new secret; the old one stops
// working at once, on every replica.
func (cs *clientService) RotateClientSecret(ctx context.Context, req *connect.Request[adminv1.RotateClientSecretRequest]) (*connect.Response[adminv1.RotateClientSecretResponse], error) {
	if err := cs.readOnly(req.Msg.GetId()); err != nil {
		return nil, err
	}
	sc, err := cs.stored(ctx, "id", req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	if sc.Public || sc.JWKS != "" || sc.JWKSURI != "" {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("id: client %q has no secret (public or private_key_jwt)", sc.ID))
	}
	secret := newSecret()
	sc.SecretHash, sc.UpdatedAt = clients.HashSecret(secret), cs.s.d.Now().UTC().Truncate(time.Millisecond)
	err = cs.s.d.ClientStore.UpdateClient(ctx, sc)
	cs.s.record(ctx, "client.rotate_secret", sc.ID, err)
	if errors.Is(err, storage.ErrConflict) {
		return nil, staleVersion(sc.ID, sc.Version, sc.Version+1)
	}
	if err != nil {
		return nil, cs.s.storeErr(ctx, "id", "rotate client secret", err)
	}
	sc.Version++
	return connect.NewResponse(&adminv1.RotateClientSecretResponse{Client: storedToProto(sc), ClientSecret: secret}), nil
}

// DeleteClient deletes a stored client and revokes what was issued to it.
func (cs *clientService) DeleteClient(ctx context.Context, req *connect.Request[adminv1.DeleteClientRequest]) (*connect.Response[adminv1.DeleteClientResponse], error) {
	id := req.Msg.GetId()
	if err := cs.readOnly(id); err != nil {
		return nil, err
	}
	err := cs.s.d.ClientStore.DeleteClient(ctx, id, cs.s.d.Now().UTC())
	cs.s.record(ctx, "client.delete", id, err)
	if err != nil {
		return nil, cs.s.storeErr(ctx, "id", "delete client", err)
	}
	return connect.NewResponse(&adminv1.DeleteClientResponse{}), nil
}

// configured returns the configured client with the ID, leaving out the pseudo-clients of
// SAML service providers, protected apps and Gatehouse's own pages (gatehouse:: the account
// page's sign-ins and link flows).
func (cs *clientService) configured(id string) *clients.Client {
	if strings.HasPrefix(id, "saml:") || strings.HasPrefix(id, "app:") || strings.HasPrefix(id, "gatehouse:") {
		return nil
	}
	return cs.s.d.Clients.Configured(id)
}

// readOnly refuses a change to a client of the configuration (or a pseudo-client).
func (cs *clientService) readOnly(id string) error {
	if cs.s.d.Clients.Configured(id) != nil {
		return connect.NewError(connect.CodeFailedPrecondition,
			fmt.Errorf("client.source: client %q comes from the configuration (source: config) and is read-only; change it in the config file", clip(id)))
	}
	return nil
}

// stored reads a stored client; field names the request field carrying the ID.
func (cs *clientService) stored(ctx context.Context, field, id string) (storage.Client, error) {
	if id == "" {
		return storage.Client{}, invalidArg(field, "is required")
	}
	sc, err := cs.s.d.ClientStore.GetClient(ctx, id)
	if err != nil {
		return sc, cs.s.storeErr(ctx, field, "get client", err)
	}
	return sc, nil
}

// validate checks sizes, then the config rules (config.ValidateClient) on the client.
func (cs *clientService) validate(sc storage.Client) error {
	if len(sc.Name) > maxNameLen {
		return invalidArg("client.name", "is longer than %d bytes", maxNameLen)
	}
	if len(sc.JWKS) > maxJWKSLen {
		return invalidArg("client.jwks", "is longer than %d bytes", maxJWKSLen)
	}
	lists := []struct {
		field string
		vals  []string
	}{
		{"redirect_uris", sc.RedirectURIs}, {"post_logout_redirect_uris", sc.PostLogoutRedirectURIs},
		{"allowed_connectors", sc.AllowedConnectors}, {"grant_types", sc.GrantTypes},
		{"scopes", sc.Scopes}, {"audiences", sc.Audiences}, {"allowed_origins", sc.AllowedOrigins},
		{"resources", sc.Resources},
		{"jwks_uri", []string{sc.JWKSURI}}, {"backchannel_logout_uri", []string{sc.BackchannelLogoutURI}},
		{"frontchannel_logout_uri", []string{sc.FrontchannelLogoutURI}},
	}
	for _, l := range lists {
		if len(l.vals) > maxListLen {
			return invalidArg("client."+l.field, "has more than %d entries", maxListLen)
		}
		for i, v := range l.vals {
			if len(v) > maxStringLen {
				return invalidArg(fmt.Sprintf("client.%s[%d]", l.field, i), "is longer than %d bytes", maxStringLen)
			}
		}
	}
	if p := clients.Validate(sc, cs.s.d.ConnectorIDs); p != nil {
		return invalidArg("client."+p.Field, "%s", p.Message)
	}
	return nil
}

// applyMask copies the masked fields of in onto sc.
func applyMask(sc *storage.Client, in storage.Client, mask []string) {
	for _, f := range mask {
		switch f {
		case "name":
			sc.Name = in.Name
		case "trusted":
			sc.Trusted = in.Trusted
		case "redirect_uris":
			sc.RedirectURIs = in.RedirectURIs
		case "post_logout_redirect_uris":
			sc.PostLogoutRedirectURIs = in.PostLogoutRedirectURIs
		case "allowed_connectors":
			sc.AllowedConnectors = in.AllowedConnectors
		case "grant_types":
			sc.GrantTypes = in.GrantTypes
		case "scopes":
			sc.Scopes = in.Scopes
		case "audiences":
			sc.Audiences = in.Audiences
		case "allowed_origins":
			sc.AllowedOrigins = in.AllowedOrigins
		case "resources":
			sc.Resources = in.Resources
		default:
			applyMetadataMask(sc, in, f)
		}
	}
}

// applyMetadataMask copies one masked single-valued metadata field of in onto sc.
func applyMetadataMask(sc *storage.Client, in storage.Client, f string) {
	switch f {
	case "token_endpoint_auth_method":
		sc.TokenEndpointAuthMethod = in.TokenEndpointAuthMethod
	case "jwks":
		sc.JWKS = in.JWKS
	case "jwks_uri":
		sc.JWKSURI = in.JWKSURI
	case "backchannel_logout_uri":
		sc.BackchannelLogoutURI = in.BackchannelLogoutURI
	case "backchannel_logout_session_required":
		sc.BackchannelLogoutSessionRequired = in.BackchannelLogoutSessionRequired
	case "frontchannel_logout_uri":
		sc.FrontchannelLogoutURI = in.FrontchannelLogoutURI
	case "frontchannel_logout_session_required":
		sc.FrontchannelLogoutSessionRequired = in.FrontchannelLogoutSessionRequired
	case "require_pushed_authorization_requests":
		sc.RequirePushedAuthorizationRequests = in.RequirePushedAuthorizationRequests
	case "allow_unsigned_request_objects":
		sc.AllowUnsignedRequestObjects = in.AllowUnsignedRequestObjects
	case "dpop_bound_access_tokens":
		sc.DPoPBoundAccessTokens = in.DPoPBoundAccessTokens
	}
}

func storedFromProto(c *adminv1.Client) storage.Client {
	return storage.Client{
		ID: c.GetId(), Name: c.GetName(), Public: c.GetPublic(), Trusted: c.GetTrusted(),
		RedirectURIs: c.GetRedirectUris(), PostLogoutRedirectURIs: c.GetPostLogoutRedirectUris(),
		AllowedConnectors: c.GetAllowedConnectors(), GrantTypes: c.GetGrantTypes(),
		Scopes: c.GetScopes(), Audiences: c.GetAudiences(), AllowedOrigins: c.GetAllowedOrigins(),
		TokenEndpointAuthMethod: c.GetTokenEndpointAuthMethod(), JWKS: c.GetJwks(), JWKSURI: c.GetJwksUri(),
		BackchannelLogoutURI: c.GetBackchannelLogoutUri(), BackchannelLogoutSessionRequired: c.GetBackchannelLogoutSessionRequired(),
		FrontchannelLogoutURI: c.GetFrontchannelLogoutUri(), FrontchannelLogoutSessionRequired: c.GetFrontchannelLogoutSessionRequired(),
		RequirePushedAuthorizationRequests: c.GetRequirePushedAuthorizationRequests(),
		AllowUnsignedRequestObjects:        c.GetAllowUnsignedRequestObjects(),
		DPoPBoundAccessTokens:              c.GetDpopBoundAccessTokens(), Resources: c.GetResources(),
		Version: c.GetVersion(),
	}
}

func storedToProto(sc storage.Client) *adminv1.Client {
	return &adminv1.Client{
		Id: sc.ID, Name: sc.Name, Public: sc.Public, Trusted: sc.Trusted, RedirectUris: sc.RedirectURIs,
		PostLogoutRedirectUris: sc.PostLogoutRedirectURIs, AllowedConnectors: sc.AllowedConnectors,
		GrantTypes: sc.GrantTypes, Scopes: sc.Scopes, Audiences: sc.Audiences, Source: clients.SourceAPI,
		CreateTime: timestamppb.New(sc.CreatedAt), UpdateTime: timestamppb.New(sc.UpdatedAt),
		AllowedOrigins: sc.AllowedOrigins, TokenEndpointAuthMethod: sc.TokenEndpointAuthMethod,
		Jwks: sc.JWKS, JwksUri: sc.JWKSURI, BackchannelLogoutUri: sc.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: sc.BackchannelLogoutSessionRequired, FrontchannelLogoutUri: sc.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired:  sc.FrontchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: sc.RequirePushedAuthorizationRequests,
		AllowUnsignedRequestObjects:        sc.AllowUnsignedRequestObjects, DpopBoundAccessTokens: sc.DPoPBoundAccessTokens,
		Resources: sc.Resources, Version: sc.Version, Registered: sc.RegistrationTokenHash != "",
	}
}

func configToProto(c *clients.Client) *adminv1.Client {
	return &adminv1.Client{
		Id: c.ID, Name: c.Name, Public: c.Public, Trusted: c.Trusted, RedirectUris: c.RedirectURIs,
		PostLogoutRedirectUris: c.PostLogoutRedirectURIs, AllowedConnectors: c.AllowedConnectors,
		GrantTypes: c.GrantTypes, Scopes: c.Scopes, Audiences: c.Audiences, Source: clients.SourceConfig,
		AllowedOrigins: c.AllowedOrigins, BackchannelLogoutUri: c.BackchannelLogoutURI,
		FrontchannelLogoutUri: c.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: c.RequirePAR, AllowUnsignedRequestObjects: c.AllowUnsignedRequestObjects,
		DpopBoundAccessTokens: c.DPoPBound, Resources: c.Resources,
	}
}

// staleVersion is the error of an update from a version that is not the stored one.
func staleVersion(id string, got, stored int64) error {
	return connect.NewError(connect.CodeAborted,
		fmt.Errorf("client.version: %d is stale: client %q is at version %d; read it again and retry", got, clip(id), stored))
}

// newSecret returns a client secret: 256 random bits, base64url.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// invalidArg is an invalid_argument error naming the field.
func invalidArg(field, format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// clip shortens a caller's value for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// storeErr maps a storage error: not found names the field; anything else is internal.
func (s *Server) storeErr(ctx context.Context, field, what string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("%s: no such client", field))
	}
	return s.internal(ctx, what, err)
}

// internal logs err and returns an internal error that does not carry it.
func (s *Server) internal(ctx context.Context, what string, err error) error {
	s.d.Logger.ErrorContext(ctx, "admin API: "+what, "err", err)
	return connect.NewError(connect.CodeInternal, errors.New(what+" failed; see the server log"))
}

// record audits a change: Type admin.<what>, ClientID the calling client, Detail target the
// changed object; Outcome success or error.
func (s *Server) record(ctx context.Context, what, target string, err error) {
	outcome := audit.OutcomeSuccess
	if err != nil {
		outcome = "error"
	}
	s.d.Audit.Record(ctx, audit.Event{
		Type: "admin." + what, Outcome: outcome, ClientID: Actor(ctx),
		Detail: map[string]string{"target": target},
	})
}
