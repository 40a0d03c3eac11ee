-- Explicit protocol fields on auth requests (storage.AuthRequest.Protocol, .SAML, .MFA).
-- protocol is 'oidc' or 'saml'; saml_request and mfa_progress are JSON text, NULL when unset.
--
-- Requests in flight during the upgrade must expire cleanly, never be misread. Older versions
-- hid a SAML request in response_type 'saml' or 'saml-pending' (with response_mode
-- 'saml:<sp>:<id>') and MFA progress in connector_state behind the byte prefix
-- "gatehouse-mfa1:". The new code reads neither, so those rows are deleted: the user sees the
-- "sign-in link has expired" page and starts again. Plain OIDC requests in flight survive
-- (protocol defaults to 'oidc').
DELETE FROM auth_requests
WHERE response_type IN ('saml', 'saml-pending')
   OR left(response_mode, 5) = 'saml:'
   OR substring(connector_state FROM 1 FOR 15) = convert_to('gatehouse-mfa1:', 'UTF8');

ALTER TABLE auth_requests ADD COLUMN protocol TEXT NOT NULL DEFAULT 'oidc';
ALTER TABLE auth_requests ADD COLUMN saml_request TEXT;
ALTER TABLE auth_requests ADD COLUMN mfa_progress TEXT;
