package samlidp

import (
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/claims"
)

// ClientID is the pseudo-client ID of a service provider: its policy (allowed connectors,
// trust, requirements, MFA) is that client's, and the claims package knows it by the same
// name (claims.SAMLClientID).
func ClientID(spID string) string { return claims.SAMLClientID(spID) }

// Clients returns the pseudo-clients of the IdP's service providers, for the client
// registry: no secret and no redirect URIs, so /authorize and /token refuse them; only the
// SAML endpoints start flows for them.
func Clients(idp *IdP) []clients.Client {
	if idp == nil {
		return nil
	}
	var out []clients.Client
	for _, sp := range idp.ServiceProviders() {
		out = append(out, clients.New(clients.Client{
			ID: ClientID(sp.ID), Name: sp.DisplayName(), Trusted: sp.Trusted,
			AllowedConnectors: sp.AllowedConnectors,
		}, ""))
	}
	return out
}
