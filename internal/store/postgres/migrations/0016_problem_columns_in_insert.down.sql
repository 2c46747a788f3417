COMMENT ON FUNCTION sluice_step_error_flow() IS NULL;
