-- 0005: each rotated refresh token remembers the token it was rotated to, so a client whose
-- token response was lost can retry with the previous token within the reuse grace
-- (storage.RefreshReissuer): the unused successor is revoked and a fresh one issued.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT NOT NULL DEFAULT '';
