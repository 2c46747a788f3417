-- 0009: the portal's sessions, an index for the flow list's failures in
-- the last 24 hours, and one for the bell's unread count on every page. A session is kept by the SHA-256 hash of its id
-- only; it ends at idle_until (moved on by use, never past expires_at).
CREATE TABLE sessions (
    hash       BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    idle_until INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_idle ON sessions (idle_until);

-- Failed runs of a flow since a time: a range of this index.
CREATE INDEX runs_flow_failed ON runs (flow_id, created_at) WHERE status = 'failed';

-- A user's unread notifications (the bell): a range of this index, not a
-- scan of the whole feed (PostgreSQL has had it since 0004).
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
