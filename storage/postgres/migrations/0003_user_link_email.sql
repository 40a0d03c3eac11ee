-- The verified email of an upstream account, for linking accounts by verified email.
ALTER TABLE user_links ADD COLUMN email TEXT NOT NULL DEFAULT '';
CREATE INDEX user_links_email ON user_links (email) WHERE email <> '';
