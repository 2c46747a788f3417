-- 0012: the help center. help_index is the full-text index of the
-- articles and the diagnosis catalog (english stemming, ranked with
-- ts_rank, the title weighted A, the terms B, the body D); the server
-- rebuilds it at start. support_requests are makers' requests for help,
-- with the run they are about. Mirrors the SQLite schema.
CREATE TABLE help_index (
    key text PRIMARY KEY,
    doc tsvector NOT NULL
);
CREATE INDEX help_index_doc ON help_index USING gin (doc);

CREATE TABLE support_requests (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    problem_type text NOT NULL,
    category     text NOT NULL,
    description  text NOT NULL,
    run_id       bigint REFERENCES runs (id) ON DELETE SET NULL,
    status       text NOT NULL,
    answer       text NOT NULL DEFAULT '',
    answered_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    answered_at  timestamptz,
    closed_at    timestamptz,
    created_at   timestamptz NOT NULL
);
CREATE INDEX support_requests_user ON support_requests (user_id, id);
CREATE INDEX support_requests_status ON support_requests (status, id);
