-- 0002: connections, the stored credentials flows use. The secret fields
-- are sealed (AES-256-GCM) by the server before they reach the store.
CREATE TABLE connections (
    id           bigserial PRIMARY KEY,
    owner_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    type         text NOT NULL,
    config       text NOT NULL,
    secret       bytea NOT NULL,
    health       text NOT NULL DEFAULT 'unverified',
    health_error text NOT NULL DEFAULT '',
    health_at    timestamptz,
    broken_at    timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    UNIQUE (owner_id, name)
);
