-- 0006: accounts. A user can be disabled (their tokens are refused while
-- disabled_at is set), a token can expire, and sign-in attempts are
-- counted per key (an account, a retry link) so that every node sharing
-- the database throttles the same account together.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
ALTER TABLE tokens ADD COLUMN expires_at timestamptz;

CREATE TABLE sign_in_attempts (
    key          text PRIMARY KEY,
    count        integer NOT NULL,
    last_at      timestamptz NOT NULL,
    locked_until timestamptz,
    -- forget_at is when the row may be deleted: the key's window after
    -- its last attempt, and never before its lock ends.
    forget_at    timestamptz NOT NULL
);
CREATE INDEX sign_in_attempts_forget ON sign_in_attempts (forget_at);
