// Package mfa is Gatehouse's second factor: TOTP authenticators (RFC 6238) enrolled by QR code,
// WebAuthn security keys and passkeys, and one-time recovery codes, on top of whatever
// connector authenticated the user. It also owns the policy that decides when a login needs a
// second factor, and the amr/acr values that say in tokens what happened.
//
// TOTP secrets are sealed at rest by the store when it seals (secrets.keys, the one rotatable
// mechanism for every secret; Options.StoreSeals), otherwise by this package with AES-256-GCM
// under a key derived from mfa.secrets_key; secrets it sealed that way earlier stay readable.
// Ceremony state is sealed under mfa.secrets_key; recovery codes are stored as keyed hashes only. TOTP codes are single-use
// (a code of a time step at or before the last accepted one is refused), WebAuthn assertions
// are checked for origin, RP ID and a growing signature counter, and failed attempts are
// rate-limited per user and per client IP.
//
// The package depends on storage only (storage.MFAStore); the broker drives the pages.
package mfa
