// Package loadgen drives HTTP load against a running Gatehouse (or any OpenID Connect
// provider with a password login form) and reports throughput, latency percentiles and,
// given the server's process ID, the server's CPU time per request read from /proc.
//
// Scenarios: discovery, JWKS, userinfo, token introspection, refresh-token rotation (one
// rotation chain per worker), and the full browser code flow (authorize, login form, consent
// when shown, redirect capture, PKCE code exchange) with a fresh cookie jar per iteration.
//
// Load is bounded by a duration or a request count, and by default only loopback addresses
// are ever dialled: the check is on the issuer's host and again on every connection.
//
// It is internal: not part of any API, and free to change.
package loadgen
