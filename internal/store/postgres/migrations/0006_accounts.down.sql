DROP TABLE sign_in_attempts;
ALTER TABLE tokens DROP COLUMN expires_at;
ALTER TABLE users DROP COLUMN disabled_at;
