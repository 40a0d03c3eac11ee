-- Single logout (storage.LogoutStore): the OIDC clients of each SSO session, and the durable
-- queue of back-channel logout deliveries. A delivery is held by a worker while claim is set
-- and claimed_until is in the future; the logout token is signed at each attempt.
CREATE TABLE session_participants (
    session_id TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expiry     BIGINT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX session_participants_expiry ON session_participants (expiry);

CREATE TABLE logout_deliveries (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    uri           TEXT NOT NULL,
    subject       TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    next_attempt  BIGINT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    claim         TEXT NOT NULL DEFAULT '',
    claimed_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt);
