DROP INDEX steps_flow_problems;
DROP TRIGGER steps_error_flow_update;
DROP TRIGGER steps_error_flow_insert;
ALTER TABLE steps DROP COLUMN error_run_created_at;
ALTER TABLE steps DROP COLUMN error_flow_id;
DROP INDEX runs_flow_status;
