-- 0015: OAuth2 authorization-code sign-ins in progress. Mirrors the
-- SQLite schema: the state is kept only as its SHA-256 hash, the PKCE
-- verifier sealed; a row is claimed once by the callback.
CREATE TABLE oauth_states (
    id            bigserial PRIMARY KEY,
    state_hash    text NOT NULL UNIQUE,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connection_id bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    verifier      bytea NOT NULL,
    via           text NOT NULL,
    status        text NOT NULL,
    message       text NOT NULL DEFAULT '',
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
