-- Small named values (storage.BlobStore): the SAML IdP's generated key, SAML session
-- participants, logouts in progress. expires_at 0: never.
CREATE TABLE blobs (
    key        TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX blobs_expires_at ON blobs (expires_at) WHERE expires_at <> 0;
