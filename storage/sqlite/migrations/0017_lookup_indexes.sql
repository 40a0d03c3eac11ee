-- Indexes for lookups that scanned a whole table (storage/sqlite TestQueryPlans): a login
-- by email (local users, case-insensitive) and signing a user out everywhere (their live
-- sessions, by the identity's sub). Both were as slow as the table is long: at a million
-- users a login by email read every user. See docs/performance.md.
CREATE INDEX local_users_email_lower ON local_users (lower(email)) WHERE email <> '';
CREATE INDEX sessions_subject ON sessions (json_extract(identity, '$.sub'));
