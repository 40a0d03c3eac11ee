package broker

import (
	"github.com/gatehouse-id/gatehouse/broker/account"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// accountPages builds the self-service security page (broker/account) from the server's
// dependencies: its ceremony state needs storage that can both keep and take blobs.
func (s *Server) accountPages() *account.Handler {
	h := &account.Handler{
		Sessions: s.Sessions, Pages: s.pages, Connectors: s.conns,
		TrustedProxies: s.TrustedProxies, Audit: s.Audit, Logger: s.Logger, Now: s.Now,
	}
	if s.linking != nil {
		h.Logins = s.linking
	}
	if s.ender.Logouts != nil && s.ender.Sessions != nil {
		h.Everywhere = s.ender
	}
	if s.upstream != nil {
		h.Upstream = s.upstream
	}
	if s.MFA != nil {
		h.MFA = s.MFA.Service
		h.Policies = make(map[string]mfa.Policy, len(s.MFA.Connectors))
		for id, c := range s.MFA.Connectors {
			h.Policies[id] = c.Policy
		}
		h.Passkeys = s.MFA.passkeyConnectors()
	}
	_, isBlobStore := s.Storage.(storage.BlobStore)
	if cs, ok := s.Storage.(account.CeremonyStore); ok && isBlobStore {
		h.Ceremonies = cs
	}
	return h
}
