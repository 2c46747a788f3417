-- 0015: OAuth2 authorization-code sign-ins in progress. The state sent to
-- the provider is kept only as its SHA-256 hash; the PKCE verifier is
-- sealed like connection secrets. A row is claimed once by the callback,
-- then records how the sign-in ended for the CLI that waits on it.
CREATE TABLE oauth_states (
    id            INTEGER PRIMARY KEY,
    state_hash    TEXT NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connection_id INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    verifier      BLOB NOT NULL,
    via           TEXT NOT NULL,
    status        TEXT NOT NULL,
    message       TEXT NOT NULL DEFAULT '',
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
