-- Clients registered at runtime (storage.ClientStore, the admin API). The secret is stored
-- only as its SHA-256 (secret_hash, hex); every other field is JSON in data.
CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
