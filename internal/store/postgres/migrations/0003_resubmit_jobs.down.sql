DROP TABLE jobs;
DROP INDEX runs_resubmitted_from;
