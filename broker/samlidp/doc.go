// Package samlidp is Gatehouse's SAML 2.0 identity provider, on top of
// github.com/crewjam/saml: its HTTP endpoints and the protocol code under them.
//
// The HTTP side (Handler, Mount): the metadata, the single sign-on service (HTTP-Redirect and
// HTTP-POST bindings; a POST is parked until the browser comes back with a GET), IdP-initiated
// login links (/saml/idp/init/{sp}), and the single logout service (LogoutRequests from SPs,
// and the front-channel fan-out to the SPs of a session that RP-initiated logout ended). An
// AuthnRequest becomes a storage.AuthRequest with Protocol saml and its SAML side in
// AuthRequest.SAML, and enters the shared login flow through Starter; Handler is the flow's
// Responder for SAML: Finish posts the signed Response, Fail an error Response, Deny the
// access-denied page with a way back to the SP.
//
// The protocol side:
//   - A registry of service providers from the configuration: metadata fetched lazily from
//     metadata_url (cached, refreshed, the last good copy kept when a refresh fails), read
//     from metadata_file, or built from entity_id + acs_url (+ slo_url, cert); and over it,
//     with Options.Store, the SPs registered through the admin API, read from storage at each
//     request (stored.go: FromStored builds one, checked as the admin API checks it).
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
// The protocol side knows nothing of sessions, connectors or the login flow: Handler maps
// users and sessions to its values.
package samlidp
