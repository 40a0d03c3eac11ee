-- The claims request parameter (OIDC Core 5.5): what an authorization request asked for
-- (claim names for the ID token and userinfo, and the sub it demands), as JSON; the
-- consented part of it carried to the code and the grant, so refreshed tokens keep it. ''
-- when none: rows written before this migration asked for nothing individually.
ALTER TABLE auth_requests ADD COLUMN claims_request TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN claims_request TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN claims_request TEXT NOT NULL DEFAULT '';
-- The claims a user consented to individually (beyond the scopes), a JSON string array.
ALTER TABLE consents ADD COLUMN claims TEXT NOT NULL DEFAULT 'null';
