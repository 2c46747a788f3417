-- 0001: users, tokens, flows with versions, runs (the queue) and steps.
-- Mirrors the SQLite schema; JSON is kept as text so that it comes back
-- byte for byte as it was written.
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'maker')),
    created_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE tokens (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE flows (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    owner_id      bigint NOT NULL REFERENCES users (id),
    enabled       boolean NOT NULL DEFAULT true,
    version       integer NOT NULL,
    trigger_type  text NOT NULL,
    webhook_token text NOT NULL UNIQUE,
    next_fire_at  timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    UNIQUE (owner_id, name)
);
CREATE INDEX flows_schedule ON flows (next_fire_at) WHERE next_fire_at IS NOT NULL AND enabled;

CREATE TABLE flow_versions (
    flow_id    bigint NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    version    integer NOT NULL,
    definition text NOT NULL,
    source     text NOT NULL,
    created_by bigint NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (flow_id, version)
);

CREATE TABLE runs (
    id               bigserial PRIMARY KEY,
    flow_id          bigint NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    flow_version     integer NOT NULL,
    status           text NOT NULL,
    trigger_type     text NOT NULL,
    input            text NOT NULL,
    output           text,
    error            text NOT NULL DEFAULT '',
    current_step     text NOT NULL DEFAULT '',
    resubmitted_from bigint,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    next_attempt_at  timestamptz NOT NULL,
    lease_owner      text,
    lease_until      timestamptz
);
CREATE INDEX runs_due ON runs (next_attempt_at, id) WHERE status IN ('queued', 'waiting');
CREATE INDEX runs_lease ON runs (lease_until) WHERE status = 'running';
CREATE INDEX runs_flow ON runs (flow_id, id);
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_created ON runs (created_at);

CREATE TABLE steps (
    run_id          bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key             text NOT NULL,
    seq             bigint NOT NULL,
    action_id       text NOT NULL,
    type            text NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    started_at      timestamptz,
    finished_at     timestamptz,
    input           text,
    output          text,
    error           text,
    next_attempt_at timestamptz,
    PRIMARY KEY (run_id, key)
);
