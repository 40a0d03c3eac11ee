-- The audit trail (storage.AuditStore): one row per security-relevant act, deleted after the
-- configured retention. No column holds a secret.
CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY,
    at           INTEGER NOT NULL,
    type         TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    ip           TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    detail       TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user_at ON audit_events (user_id, at);
