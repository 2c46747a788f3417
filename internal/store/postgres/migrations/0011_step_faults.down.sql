DROP INDEX steps_auth_connection;
DROP INDEX steps_problems;
CREATE INDEX steps_failed ON steps (run_id) WHERE status IN ('failed', 'timed_out');
ALTER TABLE steps DROP COLUMN error_connection, DROP COLUMN error_code, DROP COLUMN error_class;
