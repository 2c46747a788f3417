-- 0011: the class, diagnosis code and connection of a failed step's error
-- as columns, written by the engine with the error, so that problems and
-- the runs a fixed connection can rescue are found with an index instead
-- of reading every failed step's JSON. Backfilled from the JSON of the
-- steps already recorded (an error that is not JSON leaves them NULL).
ALTER TABLE steps ADD COLUMN error_class TEXT, ADD COLUMN error_code TEXT, ADD COLUMN error_connection TEXT;

UPDATE steps SET
    error_class = NULLIF(COALESCE(e ->> 'class', e -> 'diagnosis' ->> 'class'), ''),
    error_code = NULLIF(e -> 'diagnosis' ->> 'code', ''),
    error_connection = NULLIF(e ->> 'connection', '')
FROM (SELECT run_id AS id, key AS k, sluice_try_jsonb(error) AS e FROM steps WHERE error IS NOT NULL) j
WHERE steps.run_id = j.id AND steps.key = j.k AND jsonb_typeof(j.e) = 'object';

-- steps_problems replaces steps_failed, which ListProblems no longer uses.
DROP INDEX steps_failed;
-- ListProblems: the failed steps with a diagnosis, covering what it groups
-- and counts.
CREATE INDEX steps_problems ON steps (run_id) INCLUDE (action_id, error_code, error_class, finished_at) WHERE error_code IS NOT NULL AND status IN ('failed', 'timed_out');
-- RunFilter.FailedOnConnection: the steps that failed on a connection's
-- credentials.
CREATE INDEX steps_auth_connection ON steps (error_connection, run_id) WHERE error_class = 'auth' AND status IN ('failed', 'timed_out');
