-- 0012: the help center. help_index is the full-text index of the
-- articles and the diagnosis catalog (FTS5, porter stemming, ranked with
-- bm25); the server rebuilds it at start from what the binary embeds and
-- the admins' folder. support_requests are makers' requests for help,
-- with the run they are about.
CREATE VIRTUAL TABLE help_index USING fts5 (
    key UNINDEXED,
    title,
    terms,
    body,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TABLE support_requests (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    problem_type TEXT NOT NULL,
    category     TEXT NOT NULL,
    description  TEXT NOT NULL,
    run_id       INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    status       TEXT NOT NULL,
    answer       TEXT NOT NULL DEFAULT '',
    answered_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    answered_at  INTEGER,
    closed_at    INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX support_requests_user ON support_requests (user_id, id);
CREATE INDEX support_requests_status ON support_requests (status, id);
