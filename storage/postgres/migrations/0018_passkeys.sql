-- Passkeys: WebAuthn factors that sign a user in alone (discoverable credentials), bound to
-- the password connector account they sign in to. The enrolment's WebAuthn user handle is
-- what a discoverable credential returns, so it is looked up (and must be unique).

CREATE TABLE mfa_passkeys (
    factor_id    TEXT PRIMARY KEY REFERENCES mfa_factors (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    subject      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX mfa_passkeys_user ON mfa_passkeys (user_id, created_at);
CREATE UNIQUE INDEX mfa_enrolments_webauthn_id ON mfa_enrolments (webauthn_id);
