-- Attempt budgets shared by replicas (storage.RateLimitStore): one row per reserved attempt
-- and key; a key's live rows are its spent budget.
CREATE TABLE rate_attempts (
    key        TEXT NOT NULL,
    id         TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key, id)
);
CREATE INDEX rate_attempts_id ON rate_attempts (id);
CREATE INDEX rate_attempts_expires_at ON rate_attempts (expires_at);
