// Package samlidp is Gatehouse's SAML 2.0 identity provider: the building blocks the broker's
// SAML endpoints use, on top of github.com/crewjam/saml.
//
//   - A registry of service providers from the configuration: metadata fetched lazily from
//     metadata_url (cached, refreshed, the last good copy kept when a refresh fails), read
//     from metadata_file, or built from entity_id + acs_url (+ slo_url, cert).
//   - AuthnRequest parsing and validation for the HTTP-Redirect binding (deflate + base64,
//     with the query-string signature checked) and the HTTP-POST binding (enveloped
//     signature): known issuer, signature when the SP signs (or says it does), Destination,
//     freshness, and an assertion consumer service URL registered for the SP.
//   - Response and Assertion building: NameID (persistent, emailAddress, transient),
//     attributes, AuthnContext, SessionIndex, audience restriction, validity window,
//     InResponseTo, Destination; the assertion and/or the response signed (per SP) and the
//     assertion optionally encrypted to the SP's certificate.
//   - Single logout: LogoutRequests from SPs (validated, answered with a signed
//     LogoutResponse) and signed HTTP-Redirect LogoutRequests to SPs (front-channel logout).
//   - The IdP key: PEM files, or an RSA key and self-signed certificate generated once and
//     kept in a storage.BlobStore.
//
// It knows nothing of sessions, connectors or the login flow: the broker maps its users and
// sessions to the values here.
package samlidp
