-- SAML service providers registered at runtime (storage.ServiceProviderStore, the admin API).
-- entity_id is unique: one stored SP answers for one entity. version is checked and bumped by
-- every update (optimistic concurrency). Every other field is JSON in data.
CREATE TABLE service_providers (
    id          TEXT PRIMARY KEY,
    entity_id   TEXT NOT NULL UNIQUE,
    version     INTEGER NOT NULL,
    data        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
