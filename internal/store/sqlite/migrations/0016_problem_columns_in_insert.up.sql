-- 0016: the failed steps' flow and run creation time (error_flow_id,
-- error_run_created_at, migration 0013) are set by the statements that
-- write steps, not by triggers. A trigger on steps made SQLite keep a
-- statement journal for every write of a step, a tenth of the CPU of a
-- webhook run (docs/benchmarks.md). The columns already set stay as
-- they are.
DROP TRIGGER steps_error_flow_insert;
DROP TRIGGER steps_error_flow_update;
