-- 0001: users, tokens, flows with versions, runs (the queue) and steps.
-- Times are Unix nanoseconds (UTC).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'maker')),
    created_at    INTEGER NOT NULL
);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE flows (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    owner_id      INTEGER NOT NULL REFERENCES users (id),
    enabled       INTEGER NOT NULL DEFAULT 1,
    version       INTEGER NOT NULL,
    trigger_type  TEXT NOT NULL,
    webhook_token TEXT NOT NULL UNIQUE,
    next_fire_at  INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);
CREATE INDEX flows_schedule ON flows (next_fire_at) WHERE next_fire_at IS NOT NULL AND enabled = 1;

CREATE TABLE flow_versions (
    flow_id    INTEGER NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    definition TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (flow_id, version)
);

CREATE TABLE runs (
    id               INTEGER PRIMARY KEY,
    flow_id          INTEGER NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    flow_version     INTEGER NOT NULL,
    status           TEXT NOT NULL,
    trigger_type     TEXT NOT NULL,
    input            TEXT NOT NULL,
    output           TEXT,
    error            TEXT NOT NULL DEFAULT '',
    current_step     TEXT NOT NULL DEFAULT '',
    resubmitted_from INTEGER,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_until      INTEGER
);
CREATE INDEX runs_due ON runs (next_attempt_at) WHERE status IN ('queued', 'waiting');
CREATE INDEX runs_lease ON runs (lease_until) WHERE status = 'running';
CREATE INDEX runs_flow ON runs (flow_id, id);
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_created ON runs (created_at);

CREATE TABLE steps (
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    action_id       TEXT NOT NULL,
    type            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    started_at      INTEGER,
    finished_at     INTEGER,
    input           TEXT,
    output          TEXT,
    error           TEXT,
    next_attempt_at INTEGER,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
