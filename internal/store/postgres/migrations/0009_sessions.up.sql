-- 0009: the portal's sessions, and an index for the flow list's failures
-- in the last 24 hours. A session is kept by the SHA-256 hash of its id
-- only; it ends at idle_until (moved on by use, never past expires_at).
CREATE TABLE sessions (
    hash       bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    idle_until timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_idle ON sessions (idle_until);

-- Failed runs of a flow since a time: a range of this index.
CREATE INDEX runs_flow_failed ON runs (flow_id, created_at) WHERE status = 'failed';
