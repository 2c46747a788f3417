-- 0007: an index on a run's step order, so that the next seq of a step
-- (MAX(seq) of the run) is one index probe instead of a scan of every
-- step of the run: recording n steps was O(n^2).
CREATE INDEX steps_seq ON steps (run_id, seq);
