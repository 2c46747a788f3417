DROP INDEX notifications_unread;
DROP INDEX runs_flow_failed;
DROP TABLE sessions;
