DROP INDEX steps_flow_problems;
DROP TRIGGER steps_error_flow ON steps;
DROP FUNCTION sluice_step_error_flow();
ALTER TABLE steps DROP COLUMN error_flow_id, DROP COLUMN error_run_created_at;
DROP INDEX runs_flow_status;
