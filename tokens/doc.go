// Package tokens owns Gatehouse's token-signing keys and the tokens signed with them.
//
// A KeyManager keeps the signing keys in a storage.KeyStore: it creates the first key,
// rotates on a schedule (exactly once across replicas, decided inside the store's exclusive
// UpdateSigningKeys transaction), publishes every key that may have signed a live token as a
// JWKS, and drops retired keys once every token they signed has expired. Key lifecycle:
//
//	created ──(published in JWKS)──► active (signs) ──► retired (still published) ──► expired (dropped)
//	CreatedAt                        ActiveFrom          RetiredAt                     ExpiresAt
//
// A new key is published a PublishDelay before it starts signing, so every replica (which
// reloads the key set on each Refresh) and every relying party that refetches the JWKS on an
// unknown kid knows it before tokens signed with it appear. The first key of an empty store
// is active at once.
//
// A Minter signs OpenID Connect ID tokens and RFC 9068 JWT access tokens with the current
// key and verifies access tokens and id_token_hint values against the published keys. The
// hot path (signing, verification, JWKS) reads an immutable snapshot behind an atomic
// pointer and never touches storage: jose.Signers, parsed public keys and the JWKS bytes are
// built once per key-set change.
package tokens
