-- Optimistic concurrency for stored clients (storage.Client.Version: UpdateClient checks it)
-- and the registration access token of clients registered through Dynamic Client
-- Registration (RFC 7592; its SHA-256, hex; '' for other clients).
ALTER TABLE clients ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT NOT NULL DEFAULT '';
-- Initial access tokens for Dynamic Client Registration (RFC 7591 3), issued through the
-- admin API; only the SHA-256 of the token is stored.
CREATE TABLE initial_access_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    max_uses    BIGINT NOT NULL,
    uses        BIGINT NOT NULL DEFAULT 0,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
