-- 0014: each step's last attempts (at most store.MaxAttemptsKept, each
-- answer cut to store.MaxAttemptAnswer bytes), as a JSON array written by
-- the engine with the step, in the same write fenced by the run's lease.
-- Steps recorded before have none: the run page shows their count only.
ALTER TABLE steps ADD COLUMN attempt_log TEXT;
