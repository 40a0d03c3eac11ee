// Package upstreamlogout ends sessions across the upstream boundary, for connectors
// configured with logout: upstream (docs/logout.md):
//
//   - from the upstream: POST /connectors/{id}/backchannel-logout receives an OIDC
//     upstream's back-channel logout token (OpenID Connect Back-Channel Logout 1.0, Gatehouse
//     as the relying party) and ends every Gatehouse session of the upstream session or user
//     it names, as a logout does (Ender), telling the session's OIDC clients through the
//     back-channel queue and its SAML service providers as far as possible without a browser;
//   - towards the upstream: after a Gatehouse logout (broker/logout), Begin sends the browser
//     to the upstream's logout (OIDC RP-Initiated Logout to its end_session_endpoint) with a
//     single-use state bound to where the logout goes next, and GET /logout/upstream takes
//     the browser on when the upstream sends it back;
//   - a SAML connector's single logout service, /saml/sp/{id}/slo: the IdP's LogoutResponse
//     to the LogoutRequest Begin sent (the browser goes on as at /logout/upstream), and the
//     IdP's own LogoutRequests, which end the Gatehouse sessions of the NameID and
//     SessionIndex they name and are answered with a LogoutResponse.
//
// It imports no other flow package: the root broker package injects the logout work through
// the Ender and SAML interfaces.
package upstreamlogout
