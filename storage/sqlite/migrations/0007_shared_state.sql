-- Attempt budgets shared by replicas (storage.RateLimitStore): one row per reserved attempt
-- and key; a key's live rows are its spent budget.
CREATE TABLE rate_attempts (
    key        TEXT NOT NULL,
    id         TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key, id)
) WITHOUT ROWID;
CREATE INDEX rate_attempts_id ON rate_attempts (id);
CREATE INDEX rate_attempts_expires_at ON rate_attempts (expires_at);

-- Where a local user came from (storage.LocalUser.FromConfig). Every user stored before this
-- migration came from the configuration (users: or the default configuration's admin): no
-- other way to create one existed. Inserts always set the column.
ALTER TABLE local_users ADD COLUMN from_config INTEGER NOT NULL DEFAULT 1;
