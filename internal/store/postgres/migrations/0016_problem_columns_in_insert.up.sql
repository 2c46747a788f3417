-- 0016: on SQLite this migration drops the triggers of 0013, whose
-- statement journal cost a tenth of a webhook run's CPU there; SQLite's
-- writes of steps now set error_flow_id and error_run_created_at
-- themselves. PostgreSQL keeps its BEFORE trigger, which costs it no
-- journal, and takes the number so that both stores stay at one schema
-- version, as export and import require.
COMMENT ON FUNCTION sluice_step_error_flow() IS 'Sets error_flow_id and error_run_created_at of a step written with a diagnosis code (migrations 0013, 0016).';
