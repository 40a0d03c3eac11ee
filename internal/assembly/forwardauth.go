package assembly

import (
	"github.com/gatehouse-id/gatehouse/broker/account"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/forwardauth"
	"github.com/gatehouse-id/gatehouse/config"
)

// forwardAuth is the broker's forward-auth settings from protected_apps and forward_auth
// (nil without protected apps). secure: the issuer is https.
func forwardAuth(cfg *config.Config, secure bool) *forwardauth.Settings {
	if len(cfg.ProtectedApps) == 0 {
		return nil
	}
	s := &forwardauth.Settings{
		CookieDomain: cfg.ForwardAuth.CookieDomain, CookieName: cfg.ForwardAuth.CookieName, Secure: secure,
		AssertionLifetime: cfg.ForwardAuth.AssertionLifetime.D(), SessionRecheck: cfg.ForwardAuth.SessionRecheck.D(),
	}
	for _, a := range cfg.ProtectedApps {
		s.Apps = append(s.Apps, forwardauth.App{
			ID: a.ID, Hosts: a.Hosts, Bypass: a.Bypass, Assertion: a.Assertion,
			Headers: forwardauth.Headers{User: a.Headers.User, Email: a.Headers.Email, Groups: a.Headers.Groups,
				PreferredUsername: a.Headers.PreferredUsername},
		})
	}
	return s
}

// appClients are the protected apps' pseudo-clients for the client registry: trusted (no
// consent page: the app is the operator's own), no secret and no redirect URIs, so /authorize
// and /token refuse them; only /forward-auth/start begins their logins.
func appClients(cfg *config.Config) []clients.Client {
	var out []clients.Client
	for _, a := range cfg.ProtectedApps {
		name := a.Name
		if name == "" {
			name = a.ID
		}
		out = append(out, clients.New(clients.Client{
			ID: forwardauth.ClientID(a.ID), Name: name, Trusted: true, AllowedConnectors: a.AllowedConnectors,
		}, ""))
	}
	return out
}

// accountClient is the account page's pseudo-client (broker/account.ClientID): trusted (no
// consent page: the page is Gatehouse's own), no secret and no redirect URIs, so /authorize
// and /token refuse it; only GET /account begins its sign-ins.
func accountClient() clients.Client {
	return clients.New(clients.Client{ID: account.ClientID, Name: account.ClientName, Trusted: true}, "")
}
