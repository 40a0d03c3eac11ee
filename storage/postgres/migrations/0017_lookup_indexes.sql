-- Indexes for lookups that scanned a whole table: a login by email (local users,
-- case-insensitive) and signing a user out everywhere (their live sessions, by the
-- identity's sub). See docs/performance.md.
CREATE INDEX local_users_email_lower ON local_users (lower(email)) WHERE email <> '';
CREATE INDEX sessions_subject ON sessions (((identity::jsonb)->>'sub'));
