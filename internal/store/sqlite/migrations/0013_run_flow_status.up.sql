-- 0013: indexes for the run history and problems at millions of runs.
--
-- RunFilter by flow (or by owner, through the owner's flows) and status:
-- each flow's runs of one status in id order, so that a page reads about
-- as many index entries as it shows instead of every run of that status.
CREATE INDEX runs_flow_status ON runs (flow_id, status, id);

-- ListProblems: the run's flow and creation time on its failed steps with
-- a diagnosis code, so that problems are grouped and bounded in time from
-- one index without looking up each failed step's run. A run never
-- changes flow or creation time; the triggers below set the columns
-- whenever a step is written with a code (every write path, import
-- included), and the backfill sets them on the steps already there.
ALTER TABLE steps ADD COLUMN error_flow_id INTEGER;
ALTER TABLE steps ADD COLUMN error_run_created_at INTEGER;

UPDATE steps SET (error_flow_id, error_run_created_at) = (SELECT r.flow_id, r.created_at FROM runs r WHERE r.id = steps.run_id)
WHERE error_code IS NOT NULL;

CREATE TRIGGER steps_error_flow_insert AFTER INSERT ON steps WHEN NEW.error_code IS NOT NULL
BEGIN
    UPDATE steps SET (error_flow_id, error_run_created_at) = (SELECT r.flow_id, r.created_at FROM runs r WHERE r.id = NEW.run_id)
    WHERE run_id = NEW.run_id AND key = NEW.key;
END;

CREATE TRIGGER steps_error_flow_update AFTER UPDATE OF error_code ON steps WHEN NEW.error_code IS NOT NULL AND NEW.error_flow_id IS NULL
BEGIN
    UPDATE steps SET (error_flow_id, error_run_created_at) = (SELECT r.flow_id, r.created_at FROM runs r WHERE r.id = NEW.run_id)
    WHERE run_id = NEW.run_id AND key = NEW.key;
END;

-- Covering (status too: SQLite reads it to check the partial index's
-- condition): a flow's problems are one range of it.
CREATE INDEX steps_flow_problems ON steps (error_flow_id, action_id, error_code, status, finished_at, error_run_created_at, error_class, run_id)
    WHERE error_code IS NOT NULL AND status IN ('failed', 'timed_out');
