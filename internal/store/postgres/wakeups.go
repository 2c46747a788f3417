package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Wake-ups cross nodes with LISTEN/NOTIFY: once a transaction that queues
// a run, re-queues runs or parks one has committed, the store sends a
// NOTIFY on the schema's channel, which PostgreSQL delivers to every
// listener. Each Wakeups call listens on a connection of its own, outside
// the pool, and reconnects when that connection fails.
//
// The NOTIFY is a statement of its own right after the commit, not part
// of the transaction: PostgreSQL serialises the commits of notifying
// transactions on one database-wide lock held through their WAL flush, so
// an in-transaction NOTIFY turns concurrent queued inserts into one fsync
// each, in turn (BenchmarkCreateRun: two to three times the time per
// queued run with 16 inserting at once). A NOTIFY alone writes nothing and flushes
// nothing. Only committed runs wake nodes either way; what the separate
// statement gives up is a wake-up lost when the process dies between the
// two, which the poller's 1 s fallback covers.

// wakeChannel returns the NOTIFY channel of the current schema: several
// Sluice installations (or tests) may share one database in separate
// schemas, and each must wake only its own nodes. A channel name is an
// identifier of at most 63 bytes, so a long schema name is hashed.
func wakeChannel(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", fmt.Errorf("open postgres: read the current schema: %w", err)
	}
	channel := "sluice_due." + schema
	if len(channel) > 63 {
		sum := sha256.Sum256([]byte(schema))
		channel = "sluice_due." + hex.EncodeToString(sum[:16])
	}
	return channel, nil
}

// notifyQuery sends the wake-up on the channel $1.
const notifyQuery = `SELECT pg_notify($1, '')`

// wakeNodesIf sends the schema's wake-up when made is true (a committed
// write made a run due). The write stands whatever happens here, so a
// failure is only logged: the nodes find the run by their fallback poll.
func (s *Store) wakeNodesIf(ctx context.Context, made bool) {
	if !made {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.pool.Exec(ctx, notifyQuery, s.channel); err != nil {
		s.log.Warn("wake the other nodes; they find the run within their fallback poll", "channel", s.channel, "err", err)
	}
}

// listenBackoff bounds the wait between reconnections of a listener.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// Wakeups returns a channel that receives a value once it listens and
// soon after any node sharing the schema commits a run made due, until
// ctx ends or the store closes. It listens on a dedicated connection;
// when that connection fails it reconnects (backing off up to
// listenBackoffMax) and sends one wake-up once it is back, for the
// notifications it may have missed.
func (s *Store) Wakeups(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	lctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(s.done, cancel)
	go func() {
		defer cancel()
		defer unhook()
		s.listen(lctx, func() {
			select {
			case ch <- struct{}{}:
			default:
			}
		})
	}()
	return ch
}

// listen keeps a LISTEN connection open until ctx ends, calling wake for
// every notification and after every reconnection.
func (s *Store) listen(ctx context.Context, wake func()) {
	backoff := listenBackoffMin
	for first := true; ctx.Err() == nil; first = false {
		err := s.listenOnce(ctx, func() {
			backoff = listenBackoffMin
			if !first {
				s.log.Info("wake-up listener reconnected", "channel", s.channel)
			}
			wake()
		}, wake)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("wake-up listener lost its connection; polling until it is back", "channel", s.channel, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// listenOnce connects, listens (calling ready once it does) and calls
// wake for each notification until the connection fails or ctx ends.
func (s *Store) listenOnce(ctx context.Context, ready, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen on %s: %w", s.channel, err)
	}
	ready()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		wake()
	}
}
