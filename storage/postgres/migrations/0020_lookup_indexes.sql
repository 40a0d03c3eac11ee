-- Indexes for lookups that read a whole table (storage/sqlite TestQueryPlans), each as slow
-- as the table is long (docs/performance.md): a login by email (local users,
-- case-insensitive; at a million users it read every user), signing a user out everywhere
-- (their live sessions, by the identity's sub), and the users that came from the
-- configuration, read at every start to remove those it no longer lists (a partial index
-- of the few of them).
CREATE INDEX local_users_email_lower ON local_users (lower(email)) WHERE email <> '';
CREATE INDEX sessions_subject ON sessions (((identity::jsonb)->>'sub'));
CREATE INDEX local_users_from_config ON local_users (username) WHERE from_config;
