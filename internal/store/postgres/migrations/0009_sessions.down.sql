DROP INDEX runs_flow_failed;
DROP TABLE sessions;
