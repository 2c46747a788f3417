-- 0008: what a run has spent of its per-run expression work limit, so that
-- a run parked (delay, retry backoff, shutdown) and resumed keeps counting
-- from where it was instead of starting a fresh account on every resume.
ALTER TABLE runs ADD COLUMN expr_steps BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN expr_nanos BIGINT NOT NULL DEFAULT 0;
