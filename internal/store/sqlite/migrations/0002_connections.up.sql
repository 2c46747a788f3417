-- 0002: connections, the stored credentials flows use. The secret fields
-- are sealed (AES-256-GCM) by the server before they reach the store.
CREATE TABLE connections (
    id           INTEGER PRIMARY KEY,
    owner_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    type         TEXT NOT NULL,
    config       TEXT NOT NULL,
    secret       BLOB NOT NULL,
    health       TEXT NOT NULL DEFAULT 'unverified',
    health_error TEXT NOT NULL DEFAULT '',
    health_at    INTEGER,
    broken_at    INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);
