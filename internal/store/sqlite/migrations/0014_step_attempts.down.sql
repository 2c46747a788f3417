ALTER TABLE steps DROP COLUMN attempt_log;
