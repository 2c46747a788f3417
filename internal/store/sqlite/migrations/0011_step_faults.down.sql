DROP INDEX steps_auth_connection;
DROP INDEX steps_problems;
CREATE INDEX steps_failed ON steps (status) WHERE status IN ('failed', 'timed_out');
ALTER TABLE steps DROP COLUMN error_connection;
ALTER TABLE steps DROP COLUMN error_code;
ALTER TABLE steps DROP COLUMN error_class;
