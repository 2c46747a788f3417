ALTER TABLE runs DROP COLUMN expr_nanos;
ALTER TABLE runs DROP COLUMN expr_steps;
