package broker

import (
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/discovery"
	"github.com/gatehouse-id/gatehouse/broker/dpop"
	"github.com/gatehouse-id/gatehouse/broker/grants"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/broker/userinfo"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/web"
)

// mounter is a flow package's handler: it registers its own routes.
type mounter interface {
	Mount(m *route.Mux)
}

// buildAPIs builds the endpoints for programs from the dependencies: the token, revocation
// and introspection endpoints (broker/grants), userinfo (broker/userinfo) and the provider
// metadata and JWKS (broker/discovery).
func (s *Server) buildAPIs() ([]mounter, error) {
	access := userinfo.NewVerifier(s.Minter, s.Storage, s.Now)
	proofs := s.proofs
	tok := &grants.Handler{
		Issuer: s.Issuer, Codes: s.Storage, Grants: s.Storage, Sessions: s.Sessions, Assertions: s.assertions(), Devices: s.devices(),
		Minter: s.Minter, Access: access, Claims: s.Claims, Clients: s.Clients, Connectors: s.conns, DPoP: proofs,
		Lifetimes: grants.Lifetimes{
			IDToken: s.Lifetimes.IDToken, AccessToken: s.Lifetimes.AccessToken, RefreshAbsolute: s.Lifetimes.RefreshAbsolute,
			RefreshIdle: s.Lifetimes.RefreshIdle, ReuseGrace: s.Lifetimes.ReuseGrace,
		},
		Audit: s.Audit, Logger: s.Logger, Now: s.Now, StorageDown: s.pages.StorageDown,
	}
	ui := &userinfo.Handler{Access: access, Claims: s.Claims, Logger: s.Logger, StorageDown: s.pages.StorageDown,
		DPoP: proofs, URL: strings.TrimSuffix(s.Issuer, "/") + "/userinfo"}
	var acr []string
	if s.MFA != nil {
		acr = mfa.ACRValuesSupported(s.MFA.passkeys())
	}
	disc, err := discovery.New(discovery.Provider{
		Issuer: s.Issuer, SubjectTypes: s.Claims.SubjectTypes(), Scopes: s.Claims.SupportedScopes(),
		Claims: s.Claims.SupportedClaims(), SigningAlgorithms: s.Keys.Algorithms(), ACRValues: acr,
		DeviceAuthorization: s.device != nil,
		PushedAuthorization: s.par != nil,
		RequirePAR:          s.RequirePAR,
		ForwardAuth:         s.fwd != nil,
		DPoPAlgorithms:      dpop.Algorithms,
		Logout:              s.deliverer != nil,
		UILocales:           uiLocales(s.Templates.Languages()),
		Registration:        s.Registration != nil && s.Registration.Enabled,
	}, s.Keys)
	if err != nil {
		return nil, err
	}
	return []mounter{disc, tok, ui}, nil
}

// uiLocales are the tags of the pages' languages, for ui_locales_supported.
func uiLocales(langs []web.Language) []string {
	out := make([]string, len(langs))
	for i, l := range langs {
		out[i] = l.Tag
	}
	return out
}
