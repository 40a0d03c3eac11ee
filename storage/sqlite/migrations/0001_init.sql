-- Gatehouse schema, version 1.
-- Times are INTEGER unix milliseconds UTC; 0 means "zero time" (for expiries: never).
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
    connector_state       BLOB,
    logged_in             INTEGER NOT NULL,
    identity              TEXT NOT NULL,
    auth                  TEXT NOT NULL,
    session_id            TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    expiry                INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX auth_requests_expiry ON auth_requests (expiry);

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
    created_at            INTEGER NOT NULL,
    expiry                INTEGER NOT NULL,
    consumed              INTEGER NOT NULL  -- number of ConsumeCode calls; > 0 means consumed
) WITHOUT ROWID;
CREATE INDEX auth_codes_expiry ON auth_codes (expiry);

CREATE TABLE grants (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    subject         TEXT NOT NULL, -- identity.sub, for ListGrants
    identity        TEXT NOT NULL,
    auth            TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    absolute_expiry INTEGER NOT NULL,
    revoked         INTEGER NOT NULL,
    revoked_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX grants_subject ON grants (subject, revoked);
CREATE INDEX grants_session ON grants (session_id) WHERE session_id <> '';
CREATE INDEX grants_absolute_expiry ON grants (absolute_expiry) WHERE absolute_expiry > 0;

CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    idle_expiry INTEGER NOT NULL,
    used_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_idle_expiry ON refresh_tokens (idle_expiry) WHERE idle_expiry > 0;

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    identity        TEXT NOT NULL,
    auth            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used       INTEGER NOT NULL,
    idle_expiry     INTEGER NOT NULL,
    absolute_expiry INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_idle_expiry ON sessions (idle_expiry) WHERE idle_expiry > 0;
CREATE INDEX sessions_absolute_expiry ON sessions (absolute_expiry) WHERE absolute_expiry > 0;

CREATE TABLE consents (
    subject    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (subject, client_id)
) WITHOUT ROWID;

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_jwk BLOB,
    public_jwk  BLOB,
    created_at  INTEGER NOT NULL,
    active_from INTEGER NOT NULL,
    retired_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE local_users (
    username       TEXT PRIMARY KEY,
    email          TEXT NOT NULL,
    email_verified INTEGER NOT NULL,
    name           TEXT NOT NULL,
    groups_json    TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE user_links (
    connector_id     TEXT NOT NULL,
    upstream_subject TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (connector_id, upstream_subject)
) WITHOUT ROWID;
CREATE INDEX user_links_user ON user_links (user_id);
