package postgres

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/postgres/pgtest"
)

// wakeWithin waits for a wake-up on ch and fails the test after ten
// seconds: a bound on a signal that must come, not a speed measure.
func wakeWithin(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake-up after %s", what)
	}
}

// TestWakeupsAcrossNodes checks that a run queued through one store wakes
// the listener of another store on the same schema (two nodes), and that
// the listener reconnects, and wakes, after its connection is killed.
func TestWakeupsAcrossNodes(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	a, err := Open(t.Context(), dsn, quietLogger())
	if err != nil {
		t.Fatalf("Open node a: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := Open(t.Context(), dsn, quietLogger())
	if err != nil {
		t.Fatalf("Open node b: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	if a.channel != b.channel {
		t.Fatalf("two nodes on one schema listen on %q and %q", a.channel, b.channel)
	}
	other := openFresh(t)
	if other.channel == a.channel {
		t.Fatalf("two schemas share the channel %q", a.channel)
	}

	u, err := a.CreateUser(t.Context(), store.User{Email: "wake@example.com", Name: "w", Role: "maker"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	f, err := a.CreateFlow(t.Context(), store.NewFlow{Name: "wake", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "wh-wake",
		Definition: json.RawMessage(`{"name":"wake","trigger":{"type":"manual"}}`), Source: "name: wake\n"})
	if err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	queue := func() {
		t.Helper()
		if _, err := a.CreateRun(t.Context(), store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", Input: json.RawMessage(`{}`)}); err != nil {
			t.Fatalf("CreateRun: %v", err)
		}
	}

	ch := b.Wakeups(t.Context())
	wakeWithin(t, ch, "b started listening")
	queue()
	wakeWithin(t, ch, "a run was queued on node a")

	// Kill b's listening connection: it must come back, wake once for
	// what it may have missed, and wake again for the next queued run.
	tag, err := pgtest.Admin(t).Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`,
		`LISTEN "`+b.channel+`"`)
	if err != nil {
		t.Fatalf("terminate the listener: %v", err)
	}
	if tag.RowsAffected() != 1 {
		t.Fatalf("found %d listening connections of node b, want 1", tag.RowsAffected())
	}
	wakeWithin(t, ch, "the listener's connection was killed (reconnection)")
	queue()
	wakeWithin(t, ch, "a run was queued on node a after b reconnected")
}

// BenchmarkCreateRun measures what the wake-up adds to a queued run:
// "queued" is CreateRun of runs no node holds (a NOTIFY right after each
// commit, a node listening); "queued-notify-in-tx" sends the NOTIFY inside
// the inserting transaction instead (the design not taken: see
// wakeups.go); "leased" inserts runs already leased to their node, as a
// webhook with a free worker does (no NOTIFY). Each inserts from 16
// goroutines at once, as concurrent webhooks do.
func BenchmarkCreateRun(b *testing.B) {
	st := openFresh(b)
	u, err := st.CreateUser(b.Context(), store.User{Email: "bench@example.com", Name: "b", Role: "maker"})
	if err != nil {
		b.Fatal(err)
	}
	f, err := st.CreateFlow(b.Context(), store.NewFlow{Name: "bench", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "wh-bench",
		Definition: json.RawMessage(`{"name":"bench","trigger":{"type":"manual"}}`), Source: "name: bench\n"})
	if err != nil {
		b.Fatal(err)
	}
	// A listener, as every node has one, draining its wake-ups.
	wake := st.Wakeups(b.Context())
	go func() {
		for {
			select {
			case <-b.Context().Done():
				return
			case <-wake:
			}
		}
	}()
	nr := store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", Input: json.RawMessage(`{}`)}
	leased := nr
	leased.LeaseOwner, leased.LeaseUntil = "node", time.Now().Add(time.Hour)
	for _, bc := range []struct {
		name   string
		create func(ctx context.Context) error
	}{
		{"queued", func(ctx context.Context) error {
			_, err := st.CreateRun(ctx, nr)
			return err
		}},
		{"queued-notify-in-tx", func(ctx context.Context) error {
			return st.inTx(ctx, func(tx pgx.Tx) error {
				if _, err := st.insertRun(ctx, tx, nr); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, notifyQuery, st.channel)
				return err
			})
		}},
		{"leased", func(ctx context.Context) error {
			_, err := st.CreateRun(ctx, leased)
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := bc.create(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
