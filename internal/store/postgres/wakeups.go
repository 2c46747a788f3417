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

// Wake-ups cross nodes with LISTEN/NOTIFY: every transaction that queues a
// run, re-queues runs or parks one sends a NOTIFY on the schema's channel,
// which PostgreSQL delivers to every listener when (and only if) the
// transaction commits. Each Wakeups call listens on a connection of its
// own, outside the pool, and reconnects when that connection fails.

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

// notifyDue sends the schema's wake-up inside tx; it is delivered when tx
// commits.
func (s *Store) notifyDue(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, s.channel); err != nil {
		return fmt.Errorf("notify due run: %w", err)
	}
	return nil
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
	context.AfterFunc(s.done, cancel)
	go s.listen(lctx, func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
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
