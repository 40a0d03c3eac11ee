package broker

import (
	"time"

	"github.com/gatehouse-id/gatehouse/broker/account"
	"github.com/gatehouse-id/gatehouse/internal/ratelimit"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// passwordWindow is how long a failed password attempt on the account page counts against
// the budgets it shares with the password login (the login window of broker/authflow).
const passwordWindow = 5 * time.Minute

// accountPages builds the account page (broker/account) from the server's dependencies and
// registers it as the responder of its own sign-ins (storage.ProtocolAccount): its ceremony
// state needs storage that can both keep and take blobs, its apps and sessions sections a
// backend that lists what a user holds.
func (s *Server) accountPages() *account.Handler {
	h := &account.Handler{
		Sessions: s.Sessions, Pages: s.pages, Connectors: s.conns, Apps: s.Clients, Scopes: s.Claims, Login: s.flow,
		Ender: s.ender, TrustedProxies: s.TrustedProxies, Audit: s.Audit, Logger: s.Logger, Now: s.Now,
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
	if s.logout != nil {
		h.SignedOut = s.logout
	}
	if hs, ok := s.Storage.(account.Holdings); ok {
		h.Holdings = hs
	}
	if rl, ok := s.Storage.(storage.RateLimitStore); ok {
		if lim, err := ratelimit.New(rl, s.Now, passwordWindow); err == nil {
			h.Passwords = lim
		}
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
	s.flow.SetResponder(storage.ProtocolAccount, h)
	return h
}
