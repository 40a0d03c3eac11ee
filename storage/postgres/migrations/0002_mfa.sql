-- Multi-factor authentication: enrolments, factors (TOTP secrets sealed by the caller, WebAuthn
-- credentials with their sign counters), used TOTP time steps, hashed recovery codes.

CREATE TABLE mfa_enrolments (
    user_id     TEXT PRIMARY KEY,
    username    TEXT NOT NULL,
    webauthn_id BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX mfa_enrolments_username ON mfa_enrolments (lower(username));

CREATE TABLE mfa_factors (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES mfa_enrolments (user_id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret        BYTEA NOT NULL,
    credential_id BYTEA,
    sign_count    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL
);
CREATE INDEX mfa_factors_user ON mfa_factors (user_id, created_at);
CREATE UNIQUE INDEX mfa_factors_credential ON mfa_factors (credential_id) WHERE credential_id IS NOT NULL;

CREATE TABLE mfa_totp_steps (
    factor_id TEXT NOT NULL REFERENCES mfa_factors (id) ON DELETE CASCADE,
    step      BIGINT NOT NULL,
    expiry    BIGINT NOT NULL,
    PRIMARY KEY (factor_id, step)
);
CREATE INDEX mfa_totp_steps_expiry ON mfa_totp_steps (expiry) WHERE expiry <> 0;

CREATE TABLE mfa_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES mfa_enrolments (user_id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, hash)
);
