-- DPoP key binding (RFC 9449): the thumbprint (RFC 7638, base64url) of the key an
-- authorization request's dpop_jkt names, carried to its code, and the key a grant's refresh
-- tokens are bound to. Empty: not bound. Rows written before this migration are unbound.
ALTER TABLE auth_requests ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
