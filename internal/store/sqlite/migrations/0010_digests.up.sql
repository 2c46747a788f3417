-- 0010: when each user was last sent a repair digest. It is kept here
-- rather than in each node's memory, so that the nodes sharing a store,
-- and a node after a restart, agree on it, and a digest is queued only by
-- the transaction that moves it, so that two nodes never both send one
-- for the same period. Seeded from the digests already in the outbox,
-- which the notifier used to read at start.
CREATE TABLE digests (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_sent_at INTEGER NOT NULL
);

INSERT INTO digests (user_id, last_sent_at)
SELECT u.id, MAX(o.created_at)
FROM outbox o, json_each(o.recipients) r
JOIN users u ON u.email = r.value
WHERE o.kind = 'repair_digest'
GROUP BY u.id;
