-- 0003: resubmitted runs are found by their origin; bulk jobs (resubmit,
-- cancel) keep their filter, cursor and progress so that they survive a
-- restart.
CREATE INDEX runs_resubmitted_from ON runs (resubmitted_from) WHERE resubmitted_from IS NOT NULL;

CREATE TABLE jobs (
    id          bigserial PRIMARY KEY,
    owner_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    params      text NOT NULL,
    status      text NOT NULL,
    cursor      bigint NOT NULL DEFAULT 0,
    total       integer NOT NULL DEFAULT 0,
    done        integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '',
    lease_owner text,
    lease_until timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX jobs_pending ON jobs (status, id) WHERE status IN ('queued', 'running');
