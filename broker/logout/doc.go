// Package logout owns the end of an SSO session: RP-initiated logout (OpenID Connect
// RP-Initiated Logout 1.0) at /logout, and Ender, the work that follows the deletion of a
// session whoever ended it (revoking the session's online grants, deleting the auth requests
// it left pending), which the SAML single logout service shares.
//
// Service providers that must hear of a logout through the browser (SAML front-channel
// logout) are reached through FrontChannel, which broker/samlidp implements; this package
// imports no protocol package.
package logout
