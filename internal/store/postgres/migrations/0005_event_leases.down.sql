ALTER TABLE events DROP COLUMN attempts;
ALTER TABLE events DROP COLUMN claimed_until;
