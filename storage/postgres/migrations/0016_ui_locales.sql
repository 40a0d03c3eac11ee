-- ui_locales (OIDC Core 3.1.2.1): the languages the client asked the pages to be shown in,
-- space-separated BCP 47 tags as validated at the authorization request; '' when none.
ALTER TABLE auth_requests ADD COLUMN ui_locales TEXT NOT NULL DEFAULT '';
