-- Device authorization codes (RFC 8628, storage.DeviceStore). Both codes are stored as
-- hashes. prev_status and prev_poll keep what the last poll saw, so that one UPDATE ...
-- RETURNING records a poll (and consumes an approved code) and tells what was there before.
CREATE TABLE device_codes (
    device_hash TEXT PRIMARY KEY,
    user_hash   TEXT NOT NULL UNIQUE,
    client_id   TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    status      TEXT NOT NULL,
    prev_status TEXT NOT NULL DEFAULT '',
    identity    TEXT NOT NULL DEFAULT '{}',
    auth        TEXT NOT NULL DEFAULT '{}',
    session_id  TEXT NOT NULL DEFAULT '',
    interval_ms BIGINT NOT NULL,
    last_poll   BIGINT NOT NULL DEFAULT 0,
    prev_poll   BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expiry      BIGINT NOT NULL
);
CREATE INDEX device_codes_expiry ON device_codes (expiry);
