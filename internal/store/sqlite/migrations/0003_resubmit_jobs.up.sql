-- 0003: resubmitted runs are found by their origin; bulk jobs (resubmit,
-- cancel) keep their filter, cursor and progress so that they survive a
-- restart.
CREATE INDEX runs_resubmitted_from ON runs (resubmitted_from) WHERE resubmitted_from IS NOT NULL;

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    owner_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    params      TEXT NOT NULL,
    status      TEXT NOT NULL,
    cursor      INTEGER NOT NULL DEFAULT 0,
    total       INTEGER NOT NULL DEFAULT 0,
    done        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    lease_owner TEXT,
    lease_until INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX jobs_pending ON jobs (status, id) WHERE status IN ('queued', 'running');
