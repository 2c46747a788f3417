DROP INDEX steps_auth_connection;
DROP INDEX steps_problems;
ALTER TABLE steps DROP COLUMN error_connection;
ALTER TABLE steps DROP COLUMN error_code;
ALTER TABLE steps DROP COLUMN error_class;
