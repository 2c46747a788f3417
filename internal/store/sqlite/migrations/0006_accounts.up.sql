-- 0006: accounts. A user can be disabled (their tokens are refused while
-- disabled_at is set), a token can expire, and sign-in attempts are
-- counted per key (an account, a retry link) so that every node sharing
-- the database throttles the same account together.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;

CREATE TABLE sign_in_attempts (
    key          TEXT PRIMARY KEY,
    count        INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    locked_until INTEGER,
    -- forget_at is when the row may be deleted: the key's window after
    -- its last attempt, and never before its lock ends.
    forget_at    INTEGER NOT NULL
);
CREATE INDEX sign_in_attempts_forget ON sign_in_attempts (forget_at);
