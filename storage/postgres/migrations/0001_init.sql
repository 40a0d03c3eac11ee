-- Gatehouse schema for PostgreSQL, version 1.
-- Times are BIGINT unix milliseconds UTC; 0 means "zero time" (for expiries: never).
-- Slices and structs are JSON text. Secret-bearing keys arrive hashed.

CREATE TABLE auth_requests (
    id                    TEXT PRIMARY KEY,
    flow_hash             TEXT NOT NULL,
    client_id             TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    response_type         TEXT NOT NULL,
    response_mode         TEXT NOT NULL,
    scopes                TEXT NOT NULL,
    state                 TEXT NOT NULL,
    nonce                 TEXT NOT NULL,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    prompt                TEXT NOT NULL,
    max_age               INTEGER NOT NULL,
    login_hint            TEXT NOT NULL,
    connector_id          TEXT NOT NULL,
    acr_values            TEXT NOT NULL,
    connector_state       BYTEA,
    logged_in             BOOLEAN NOT NULL,
    identity              TEXT NOT NULL,
    auth                  TEXT NOT NULL,
    session_id            TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    expiry                BIGINT NOT NULL
);
CREATE INDEX auth_requests_expiry ON auth_requests (expiry) WHERE expiry <> 0;

CREATE TABLE auth_codes (
    hash                  TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    scopes                TEXT NOT NULL,
    nonce                 TEXT NOT NULL,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    identity              TEXT NOT NULL,
    auth                  TEXT NOT NULL,
    session_id            TEXT NOT NULL,
    grant_id              TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    expiry                BIGINT NOT NULL,
    consumed              INTEGER NOT NULL  -- number of ConsumeCode calls; > 0 means consumed
);
CREATE INDEX auth_codes_expiry ON auth_codes (expiry) WHERE expiry <> 0;

CREATE TABLE grants (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    subject         TEXT NOT NULL, -- identity.sub, for ListGrants
    identity        TEXT NOT NULL,
    auth            TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    absolute_expiry BIGINT NOT NULL,
    revoked         BOOLEAN NOT NULL,
    revoked_at      BIGINT NOT NULL
);
CREATE INDEX grants_subject ON grants (subject) WHERE NOT revoked;
CREATE INDEX grants_session ON grants (session_id) WHERE session_id <> '' AND NOT revoked;
CREATE INDEX grants_absolute_expiry ON grants (absolute_expiry) WHERE absolute_expiry > 0;

CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    idle_expiry BIGINT NOT NULL,
    used_at     BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_idle_expiry ON refresh_tokens (idle_expiry) WHERE idle_expiry > 0;

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    identity        TEXT NOT NULL,
    auth            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used       BIGINT NOT NULL,
    idle_expiry     BIGINT NOT NULL,
    absolute_expiry BIGINT NOT NULL
);
CREATE INDEX sessions_idle_expiry ON sessions (idle_expiry) WHERE idle_expiry > 0;
CREATE INDEX sessions_absolute_expiry ON sessions (absolute_expiry) WHERE absolute_expiry > 0;

CREATE TABLE consents (
    subject    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id)
);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_jwk BYTEA,
    public_jwk  BYTEA,
    created_at  BIGINT NOT NULL,
    active_from BIGINT NOT NULL,
    retired_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE local_users (
    username       TEXT PRIMARY KEY,
    email          TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL,
    name           TEXT NOT NULL,
    groups_json    TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE user_links (
    connector_id     TEXT NOT NULL,
    upstream_subject TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (connector_id, upstream_subject)
);
CREATE INDEX user_links_user ON user_links (user_id);
