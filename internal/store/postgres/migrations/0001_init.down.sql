DROP TABLE steps;
DROP TABLE runs;
DROP TABLE flow_versions;
DROP TABLE flows;
DROP TABLE tokens;
DROP TABLE users;
