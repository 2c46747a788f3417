-- 0013: indexes for the run history and problems at millions of runs.
-- runs_flow_status is created with IF NOT EXISTS so that an operator can
-- build it beforehand with CREATE INDEX CONCURRENTLY (docs/deploy.md): the
-- migration runs in a transaction, where CONCURRENTLY is refused.
--
-- RunFilter by flow (or by owner, through the owner's flows) and status:
-- each flow's runs of one status in id order, so that a page reads about
-- as many index entries as it shows instead of every run of that status.
CREATE INDEX IF NOT EXISTS runs_flow_status ON runs (flow_id, status, id);

-- ListProblems: the run's flow and creation time on its failed steps with
-- a diagnosis code, so that problems are grouped and bounded in time from
-- one index without looking up each failed step's run. A run never
-- changes flow or creation time; the trigger below sets the columns
-- whenever a step is written with a code (every write path, import
-- included), and the backfill sets them on the steps already there.
ALTER TABLE steps ADD COLUMN error_flow_id bigint, ADD COLUMN error_run_created_at timestamptz;

UPDATE steps s SET error_flow_id = r.flow_id, error_run_created_at = r.created_at FROM runs r WHERE r.id = s.run_id AND s.error_code IS NOT NULL;

CREATE FUNCTION sluice_step_error_flow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.flow_id, r.created_at INTO NEW.error_flow_id, NEW.error_run_created_at FROM runs r WHERE r.id = NEW.run_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER steps_error_flow BEFORE INSERT OR UPDATE OF error_code, run_id ON steps
    FOR EACH ROW WHEN (NEW.error_code IS NOT NULL) EXECUTE FUNCTION sluice_step_error_flow();

-- Covering, in group order: a flow's problems are one range of it.
CREATE INDEX steps_flow_problems ON steps (error_flow_id, action_id, error_code) INCLUDE (finished_at, error_run_created_at, error_class, run_id)
    WHERE error_code IS NOT NULL AND status IN ('failed', 'timed_out');
