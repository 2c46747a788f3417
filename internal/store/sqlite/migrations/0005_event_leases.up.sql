-- 0005: events are leased when claimed and removed when acknowledged, so
-- that a notifier that dies mid-way does not lose them.
ALTER TABLE events ADD COLUMN claimed_until INTEGER;
ALTER TABLE events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
