-- 0011: the class, diagnosis code and connection of a failed step's error
-- as columns, written by the engine with the error, so that problems and
-- the runs a fixed connection can rescue are found with an index instead
-- of reading every failed step's JSON. Backfilled from the JSON of the
-- steps already recorded (an error that is not JSON leaves them NULL).
ALTER TABLE steps ADD COLUMN error_class TEXT;
ALTER TABLE steps ADD COLUMN error_code TEXT;
ALTER TABLE steps ADD COLUMN error_connection TEXT;

UPDATE steps SET
    error_class = NULLIF(COALESCE(json_extract(error, '$.class'), json_extract(error, '$.diagnosis.class')), ''),
    error_code = NULLIF(json_extract(error, '$.diagnosis.code'), ''),
    error_connection = NULLIF(json_extract(error, '$.connection'), '')
WHERE error IS NOT NULL AND json_valid(error) AND json_type(error) = 'object';

-- steps_problems replaces steps_failed, which ListProblems no longer uses.
DROP INDEX steps_failed;
-- ListProblems: the failed steps with a diagnosis, covering what it groups
-- and counts, in run order so that their runs are read in order.
CREATE INDEX steps_problems ON steps (run_id, action_id, error_code, status, finished_at, error_class) WHERE error_code IS NOT NULL AND status IN ('failed', 'timed_out');
-- RunFilter.FailedOnConnection: the steps that failed on a connection's
-- credentials.
CREATE INDEX steps_auth_connection ON steps (error_connection, run_id) WHERE error_class = 'auth' AND status IN ('failed', 'timed_out');
