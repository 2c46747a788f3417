-- 0004: what tells people about failures. Events are written in the
-- transaction of the change they report (a failed run, a broken
-- connection) and consumed by the notifier; mail waits in the outbox until
-- the SMTP server takes it; alerts count failures per flow and problem so
-- that repair-tip emails are throttled.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    run_id        INTEGER,
    connection_id INTEGER,
    created_at    INTEGER NOT NULL
);

CREATE TABLE notifications (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    flow_id       INTEGER,
    run_id        INTEGER,
    connection_id INTEGER,
    read_at       INTEGER,
    created_at    INTEGER NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, id);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL DEFAULT '',
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued';

CREATE TABLE alerts (
    flow_id         INTEGER NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    step            TEXT NOT NULL,
    code            TEXT NOT NULL,
    first_failed_at INTEGER NOT NULL,
    pending         INTEGER NOT NULL DEFAULT 0,
    latest_run_id   INTEGER NOT NULL,
    last_sent_at    INTEGER,
    PRIMARY KEY (flow_id, step, code)
);

CREATE TABLE user_settings (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    repair_emails TEXT NOT NULL DEFAULT 'immediately'
);

ALTER TABLE flows ADD COLUMN repair_emails INTEGER NOT NULL DEFAULT 1;

CREATE INDEX steps_failed ON steps (status) WHERE status IN ('failed', 'timed_out');
