-- 0004: what tells people about failures. Events are written in the
-- transaction of the change they report (a failed run, a broken
-- connection) and consumed by the notifier; mail waits in the outbox until
-- the SMTP server takes it; alerts count failures per flow and problem so
-- that repair-tip emails are throttled. Mirrors the SQLite schema.
CREATE TABLE events (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    run_id        bigint,
    connection_id bigint,
    created_at    timestamptz NOT NULL
);

CREATE TABLE notifications (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    title         text NOT NULL,
    body          text NOT NULL,
    flow_id       bigint,
    run_id        bigint,
    connection_id bigint,
    read_at       timestamptz,
    created_at    timestamptz NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    recipients      jsonb NOT NULL CHECK (jsonb_typeof(recipients) = 'array'),
    subject         text NOT NULL,
    text_body       text NOT NULL,
    html_body       text NOT NULL,
    kind            text NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    message_id      text NOT NULL DEFAULT '',
    next_attempt_at timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX outbox_status ON outbox (status, id);

CREATE TABLE alerts (
    flow_id         bigint NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    step            text NOT NULL,
    code            text NOT NULL,
    first_failed_at timestamptz NOT NULL,
    pending         integer NOT NULL DEFAULT 0,
    latest_run_id   bigint NOT NULL,
    last_sent_at    timestamptz,
    PRIMARY KEY (flow_id, step, code)
);

CREATE TABLE user_settings (
    user_id       bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    repair_emails text NOT NULL DEFAULT 'immediately'
);

ALTER TABLE flows ADD COLUMN repair_emails boolean NOT NULL DEFAULT true;

CREATE INDEX steps_failed ON steps (run_id) WHERE status IN ('failed', 'timed_out');

-- sluice_try_jsonb parses a step's error text as JSON, or returns NULL
-- when it is not JSON, so that one malformed error cannot make a query
-- over every failed step fail (a plain ::jsonb cast raises).
CREATE FUNCTION sluice_try_jsonb(t text) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE STRICT
AS $$
BEGIN
    RETURN t::jsonb;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END;
$$;
