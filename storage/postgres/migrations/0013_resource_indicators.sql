-- Resource indicators (RFC 8707): the resource values of an authorization request, carried to
-- its code and grant, as JSON string arrays ('null' when none). Rows written before keep
-- 'null': their tokens are for the client, as before.
ALTER TABLE auth_requests ADD COLUMN resources TEXT NOT NULL DEFAULT 'null';
ALTER TABLE auth_codes ADD COLUMN resources TEXT NOT NULL DEFAULT 'null';
ALTER TABLE grants ADD COLUMN resources TEXT NOT NULL DEFAULT 'null';
